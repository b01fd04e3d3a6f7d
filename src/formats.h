/* Byte streams and checkpoint files (checkpoint.c, fileio.c): the
 * little-endian writer and reader, the file frame, atomic file writes. Not installed. */
#ifndef DESCENT_FORMATS_H
#define DESCENT_FORMATS_H

#include "common.h"

/* ---- binary formats ----------------------------------------------------- */

/* Little-endian byte streams for checkpoints. A writer with buf == NULL
 * only counts bytes (and never writes past cap); a reader sets bad, and
 * returns 0, on any read past its end. */
typedef struct descent_writer {
    unsigned char *buf;
    size_t cap, pos;
} descent_writer;

typedef struct descent_reader {
    const unsigned char *buf;
    size_t len, pos;
    int bad;
} descent_reader;

void descent_put_u(descent_writer *w, uint64_t v, int bytes);
uint64_t descent_get_u(descent_reader *r, int bytes);
/* n values of a state buffer (f64, or f32 for other dtypes), raw LE bits. */
void descent_put_array(descent_writer *w, const void *data, size_t n, descent_dtype dtype);
void descent_get_array(descent_reader *r, void *out, size_t n, descent_dtype dtype);
void descent_utils_save(const descent_optimizer *opt, descent_writer *w);
int descent_utils_load(descent_optimizer *opt, descent_reader *r, int present, int apply, descent_error *err);

/* ---- checkpoint files (fileio.c) ---------------------------------------- */

/* Write buf to path.tmp, fsync, rename over path. */
int descent_file_write_atomic(const descent_mem *mem, const char *path, const void *buf, size_t len,
                              descent_error *err);
/* Read a regular file whole into *out (from mem; the caller frees it). */
int descent_file_read(const descent_mem *mem, const char *path, void **out, size_t *len, descent_error *err);
/* The frame of a checkpoint file: magic[8], u32 version, u32 flags = 0,
 * u64 payload length, payload, u32 CRC-32 of the rest. begin returns where
 * the payload starts; end patches the length and appends the CRC (a
 * counting writer only counts). open checks all of it and gives a reader
 * over the payload; what names the kind of file in messages. */
size_t descent_frame_begin(descent_writer *w, const char magic[8], uint32_t version);
void descent_frame_end(descent_writer *w, size_t payload_start);
int descent_frame_open(descent_reader *payload, const void *buf, size_t len, const char magic[8], uint32_t version,
                       const char *what, descent_error *err);

#endif
