/* Whole-file reads and crash-safe writes for checkpoint files. */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#ifdef __unix__
#include <sys/stat.h>
#include <unistd.h>
#endif

int descent_file_write_atomic(const descent_mem *mem, const char *path, const void *buf, size_t len,
                              descent_error *err)
{
    /* Write to path.tmp, flush to disk, then rename over path: readers see
     * the old file or the new one, never a torn one. */
    size_t plen = strlen(path);
    char *tmp = descent_mem_alloc(mem, plen + 5);
    if (!tmp)
        return descent_fail(err, DESCENT_ERR_NOMEM, "out of memory");
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    int rc = 0;
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        rc = descent_fail(err, DESCENT_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
    } else {
        int ok = fwrite(buf, 1, len, f) == len && fflush(f) == 0;
#ifdef __unix__
        ok = ok && fsync(fileno(f)) == 0;
#endif
        ok = (fclose(f) == 0) && ok;
        if (!ok || rename(tmp, path) != 0) {
            rc = descent_fail(err, DESCENT_ERR_IO, "cannot write %s: %s", path, strerror(errno));
            remove(tmp);
        }
    }
    descent_mem_free(mem, tmp);
    return rc;
}

int descent_file_read(const descent_mem *mem, const char *path, void **out, size_t *len, descent_error *err)
{
    *out = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return descent_fail(err, DESCENT_ERR_IO, "cannot open %s: %s", path, strerror(errno));
#ifdef __unix__
    /* fopen succeeds on a directory and ftell then reports LONG_MAX: only
     * read regular files, so a bad path cannot ask for 2^63 bytes. */
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return descent_fail(err, DESCENT_ERR_IO, "cannot read %s: not a regular file", path);
    }
#endif
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0)
        size = ftell(f);
    if (size < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return descent_fail(err, DESCENT_ERR_IO, "cannot read %s", path);
    }
    void *buf = descent_mem_alloc(mem, (size_t)size + 1);
    if (!buf) {
        fclose(f);
        return descent_fail(err, DESCENT_ERR_NOMEM, "out of memory reading %s (%ld bytes)", path, size);
    }
    int rc = 0;
    if (fread(buf, 1, (size_t)size, f) != (size_t)size) {
        rc = descent_fail(err, DESCENT_ERR_IO, "cannot read %s", path);
        descent_mem_free(mem, buf);
        buf = NULL;
    }
    fclose(f);
    *out = buf;
    *len = buf ? (size_t)size : 0;
    return rc;
}

/* The frame every checkpoint file shares: 8 magic bytes, u32 version,
 * u32 flags (0), u64 payload length, the payload, u32 CRC-32 of all that
 * precedes it. */
size_t descent_frame_begin(descent_writer *w, const char magic[8], uint32_t version)
{
    for (int i = 0; i < 8; i++)
        descent_put_u(w, (unsigned char)magic[i], 1);
    descent_put_u(w, version, 4);
    descent_put_u(w, 0, 4);
    descent_put_u(w, 0, 8); /* payload length, patched by descent_frame_end */
    return w->pos;
}

void descent_frame_end(descent_writer *w, size_t payload_start)
{
    size_t end = w->pos;
    if (w->buf && end <= w->cap) {
        descent_writer at = {w->buf, w->cap, payload_start - 8};
        descent_put_u(&at, end - payload_start, 8);
    }
    uint32_t crc = w->buf && end <= w->cap ? descent_crc32(0, w->buf, end) : 0;
    descent_put_u(w, crc, 4);
}

int descent_frame_open(descent_reader *payload, const void *buf, size_t len, const char magic[8], uint32_t version,
                       const char *what, descent_error *err)
{
    const unsigned char *b = buf;
    if (!buf)
        return descent_fail(err, DESCENT_ERR_INVALID, "%s buffer is NULL", what);
    if (len < 8 || memcmp(b, magic, 8) != 0)
        return descent_fail(err, DESCENT_ERR_CHECKPOINT, "not a %s (bad magic)", what);
    if (len < 24 + 4)
        return descent_fail(err, DESCENT_ERR_CHECKPOINT, "not a %s (too short)", what);
    descent_reader h = {b, len, 8, 0};
    uint64_t v = descent_get_u(&h, 4), flags = descent_get_u(&h, 4), payload_len = descent_get_u(&h, 8);
    if (v != version)
        return descent_fail(err, DESCENT_ERR_CHECKPOINT, "%s format version %llu, this library reads %u", what,
                            (unsigned long long)v, version);
    if (flags != 0)
        return descent_fail(err, DESCENT_ERR_CHECKPOINT, "%s has unknown flags 0x%llx", what,
                            (unsigned long long)flags);
    if (payload_len != len - 24 - 4)
        return descent_fail(err, DESCENT_ERR_CHECKPOINT, "%s is truncated or padded: %zu bytes, header says %llu", what,
                            len, (unsigned long long)(payload_len + 24 + 4));
    uint32_t stored = (uint32_t)b[len - 4] | (uint32_t)b[len - 3] << 8 | (uint32_t)b[len - 2] << 16 |
                      (uint32_t)b[len - 1] << 24;
    if (descent_crc32(0, b, len - 4) != stored)
        return descent_fail(err, DESCENT_ERR_CHECKPOINT, "%s checksum mismatch: the file is corrupt", what);
    descent_reader r = {b, len - 4, 24, 0};
    *payload = r;
    return 0;
}
