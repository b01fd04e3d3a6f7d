/* Little-endian byte streams and the checkpoint file frame: the one way
 * descent serializes. Every module with state writes its own section
 * through a descent_writer and reads it back through a descent_reader;
 * fileio.c moves whole images to and from files. This module calls nothing
 * else in the library except descent_fail (src/common.c) for messages.
 *
 * A writer with buf == NULL only counts bytes (size a buffer with a first
 * pass, then write with a second), and never writes past cap. A reader sets
 * bad, and returns 0, on any read past its end; callers check bad once
 * after a run of reads. */
#ifndef DESCENT_BYTES_H
#define DESCENT_BYTES_H

#include "descent.h"

#include <stddef.h>
#include <stdint.h>

typedef struct descent_writer {
    unsigned char *buf;
    size_t cap, pos;
} descent_writer;

typedef struct descent_reader {
    const unsigned char *buf;
    size_t len, pos;
    int bad;
} descent_reader;

/* ---- writing ----------------------------------------------------------- */

/* The low `bytes` (1..8) bytes of v, least significant first. */
void descent_put_u(descent_writer *w, uint64_t v, int bytes);
void descent_put_bytes(descent_writer *w, const void *p, size_t n);
/* The IEEE-754 bits, little-endian. */
void descent_put_f64(descent_writer *w, double d);
void descent_put_f32(descent_writer *w, float f);
/* u16 length, then the bytes (no NUL); strings are names, below 64 KiB. */
void descent_put_str(descent_writer *w, const char *s);
/* n values of a state buffer: f64 for DESCENT_F64, f32 bits otherwise. */
void descent_put_array(descent_writer *w, const void *data, size_t n, descent_dtype dtype);
void descent_put_f64s(descent_writer *w, const double *d, size_t n);

/* ---- reading ----------------------------------------------------------- */

uint64_t descent_get_u(descent_reader *r, int bytes);
double descent_get_f64(descent_reader *r);
float descent_get_f32(descent_reader *r);
/* The next n bytes, in place (NULL and bad when fewer are left). */
const unsigned char *descent_get_view(descent_reader *r, size_t n);
/* A string written by descent_put_str: a pointer into the buffer (not
 * NUL-terminated) and its length; "" and bad when truncated. */
const char *descent_get_str(descent_reader *r, size_t *n);
void descent_get_array(descent_reader *r, void *out, size_t n, descent_dtype dtype);
void descent_get_f64s(descent_reader *r, double *d, size_t n);
/* Bytes left to read. */
size_t descent_reader_left(const descent_reader *r);
/* Skip n bytes (bad when fewer are left). */
void descent_reader_skip(descent_reader *r, size_t n);

/* ---- the file frame ------------------------------------------------------
 * Every checkpoint file: magic[8], u32 version, u32 flags, u64 payload
 * length, the payload, u32 CRC-32 of everything before it. */
#define DESCENT_FRAME_HEADER 24
#define DESCENT_FRAME_OVERHEAD 28 /* header and CRC */

/* Begin a frame: returns where the payload starts. */
size_t descent_frame_begin(descent_writer *w, const char magic[8], uint32_t version, uint32_t flags);
/* End it: patch the payload length and append the CRC (a counting writer,
 * or one whose buffer is too small, only counts). */
void descent_frame_end(descent_writer *w, size_t payload_start);

/* What a frame's header says. */
typedef struct descent_frame_info {
    uint32_t version, flags;
    uint64_t payload_len;
} descent_frame_info;

/* Check the first DESCENT_FRAME_HEADER bytes of a frame (len may be less:
 * then it is "too short"): the magic, a version among min_version..
 * max_version and no flag outside known_flags. Does not look at the length
 * or the CRC; what names the kind of file in messages. */
int descent_frame_header(const void *buf, size_t len, const char magic[8], uint32_t min_version,
                         uint32_t max_version, uint32_t known_flags, descent_frame_info *info, const char *what,
                         descent_error *err);
/* Check a whole frame (header as above, the length against len, the CRC)
 * and give a reader over its payload. info may be NULL. */
int descent_frame_open(descent_reader *payload, const void *buf, size_t len, const char magic[8],
                       uint32_t min_version, uint32_t max_version, uint32_t known_flags, descent_frame_info *info,
                       const char *what, descent_error *err);

/* CRC-32 (IEEE 802.3), continuing from crc (0 to start). */
uint32_t descent_crc32(uint32_t crc, const void *data, size_t len);

#endif
