/* Byte streams and checkpoint files (checkpoint.c, fileio.c): the
 * little-endian writer and reader, the file frame, atomic file writes. Not installed. */
#ifndef DESCENT_FORMATS_H
#define DESCENT_FORMATS_H

#include "common.h"

/* ---- binary formats ----------------------------------------------------- */

/* The byte writer/reader and the file frame live in bytes.h. */
#include "bytes.h"

#include <stdio.h>

void descent_utils_save(const descent_optimizer *opt, descent_writer *w);
int descent_utils_load(descent_optimizer *opt, descent_reader *r, int present, int apply, descent_error *err);

/* ---- checkpoint files (fileio.c) ---------------------------------------- */

/* Write buf to path atomically and durably: a new file of a unique name in
 * path's directory (O_EXCL | O_NOFOLLOW), fsync, rename over path, fsync
 * of the directory. A path that is a symbolic link is written through to
 * the file it names. On any error the temporary file is removed and path
 * keeps its old contents. Windows: CREATE_NEW, FlushFileBuffers and
 * MoveFileExW(MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH); a link
 * at path is replaced, not written through. */
int descent_file_write_atomic(const descent_mem *mem, const char *path, const void *buf, size_t len,
                              descent_error *err);
/* fopen with a UTF-8 path on every system (Windows: _wfopen of its UTF-16
 * form; the narrow fopen there reads the ANSI code page). */
FILE *descent_fopen(const char *path, const char *mode);
/* Read a regular file whole into *out (from mem; the caller frees it). */
int descent_file_read(const descent_mem *mem, const char *path, void **out, size_t *len, descent_error *err);
/* Read a regular file whose first head bytes (fewer when the file is
 * shorter) check(ctx, bytes, n, file_size, err) accepts, before the whole
 * file is allocated and read into *out. */
typedef int (*descent_file_check)(void *ctx, const unsigned char *head, size_t n, size_t file_size,
                                  descent_error *err);
int descent_file_read_checked(const descent_mem *mem, const char *path, size_t head, descent_file_check check,
                              void *ctx, void **out, size_t *len, descent_error *err);
/* Read a framed checkpoint file (bytes.h): refuses a file that is not
 * regular, then reads and checks the header (descent_frame_header) and
 * that its payload length matches the file's size, all before allocating;
 * then reads the whole file into *out (the caller frees it). The CRC is
 * left to descent_frame_open. */
int descent_file_read_framed(const descent_mem *mem, const char *path, const char magic[8], uint32_t min_version,
                             uint32_t max_version, uint32_t known_flags, const char *what, void **out, size_t *len,
                             descent_error *err);

#endif
