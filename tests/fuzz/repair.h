/* For the checkpoint fuzz targets: the CRC stops random mutations at the
 * door, so each input is also tried with its frame repaired (payload length
 * and CRC-32 recomputed) to reach the parser behind it. Returns a malloc'd
 * copy, or NULL when the input is shorter than a frame. */
#ifndef DESCENT_FUZZ_REPAIR_H
#define DESCENT_FUZZ_REPAIR_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static inline uint8_t *repaired_frame(const uint8_t *data, size_t size)
{
    if (size < 28)
        return NULL;
    uint8_t *fixed = malloc(size);
    memcpy(fixed, data, size);
    uint64_t payload = size - 28;
    for (int i = 0; i < 8; i++)
        fixed[16 + i] = (uint8_t)(payload >> (8 * i));
    uint32_t c = 0xFFFFFFFFu;
    for (size_t k = 0; k < size - 4; k++) {
        c ^= fixed[k];
        for (int b = 0; b < 8; b++)
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    c = ~c;
    for (int i = 0; i < 4; i++)
        fixed[size - 4 + (size_t)i] = (uint8_t)(c >> (8 * i));
    return fixed;
}

#endif
