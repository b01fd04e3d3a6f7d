/* What every file of the library uses: messages, memory, the callers' sized
 * structs, norms and checksums (common.c, clip.c). Not installed. */
#ifndef DESCENT_COMMON_H
#define DESCENT_COMMON_H

#include "descent.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define DESCENT_ALIGN 64

/* ---- messages ---------------------------------------------------------- */

int descent_fail(descent_error *err, int status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
void descent_vformat(char *buf, size_t cap, const char *fmt, va_list ap);

/* ---- memory ------------------------------------------------------------ */

typedef struct descent_mem {
    descent_allocator a; /* never has NULL members */
} descent_mem;

void descent_mem_init(descent_mem *m, const descent_allocator *a);
void *descent_mem_alloc(const descent_mem *m, size_t size);           /* 64-byte aligned, zeroed */
void descent_mem_free(const descent_mem *m, void *ptr);

/* ---- Structs the caller passes in (descent.h: struct_size) --------------
 * The smallest struct_size accepted is the size of each struct when
 * struct_size was introduced (the release that added struct_size): its last field then. */
#define DESCENT_END_OF(type, field) (offsetof(type, field) + sizeof(((type *)0)->field))
#define DESCENT_HPARAMS_MIN_SIZE DESCENT_END_OF(descent_hparams, t0)
#define DESCENT_SETTINGS_MIN_SIZE DESCENT_END_OF(descent_minimize_settings, progress_ctx)
#define DESCENT_TRAIN_CONFIG_MIN_SIZE DESCENT_END_OF(descent_train_config, reduce_ctx)

/* Whether a caller's struct_size is one this library can read or fill;
 * the message names the struct and how to fill it. */
int descent_struct_size_check(size_t size, size_t min_size, size_t full_size, const char *type, const char *init,
                              descent_error *err);
/* Copy the caller's struct (its struct_size bytes, already checked) over
 * *full, which holds the defaults; full->struct_size becomes full_size. */
void descent_struct_in(void *full, size_t full_size, const void *user);
/* Copy the first size bytes of *full out to the caller's struct, whose
 * struct_size becomes size. */
void descent_struct_out(void *user, size_t size, const void *full);
/* A default-filling call (descent_*_default_*): the defaults in *full out
 * to the caller's struct of size bytes; a size beyond full_size is kept as
 * struct_size so that using the struct is refused later with a message. */
void descent_struct_defaults_out(void *user, size_t size, const void *full, size_t full_size);
/* ---- norms (clip.c) ------------------------------------------------------ */

/* Add |x|^p (p finite) into *acc, or take the max of |x| (p = INFINITY; a
 * NaN sticks): the accumulation of descent_clip_grad_norm, shared with the
 * sharded MPI norm. */
void descent_norm_accumulate(double *acc, double x, double p);
/* The p-norm from its accumulation: acc^(1/p) (acc itself for p = 1, inf). */
double descent_norm_finish(double acc, double p);
/* sums[k] = the sum of |g|^p (p finite) or the largest |g| (p = INFINITY;
 * a NaN: NaN) of tensor k's gradient as registered, for every tensor of
 * opt (f32 and f64), in the fixed order of descent_clip_grad_norm (passes.c):
 * the same bits for any thread count and instruction set. For the sharded
 * MPI norm. 0, or DESCENT_ERR_INVALID for another dtype. */
int descent_grad_norm_sums(const descent_optimizer *opt, double p, double *sums);

/* ---- checksums --------------------------------------------------------- */
uint32_t descent_crc32(uint32_t crc, const void *data, size_t len);

/* descent_table_read_csv, except that a field of the column named
 * words_column that is not a number goes to word(), which gives its value
 * (0) or refuses it (-1: the usual error). */
int descent_table_read_csv_words(descent_table *t, const char *path, int header, const char *words_column,
                                 int (*word)(void *ctx, const char *text, double *value), void *ctx,
                                 descent_error *err);

#endif
