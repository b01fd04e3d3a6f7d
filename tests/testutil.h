/* A tiny test harness: CHECK records a failure and goes on; the last line
 * printed is "N passed, N failed". */
#ifndef DESCENT_TESTUTIL_H
#define DESCENT_TESTUTIL_H

#include <stddef.h>
#include <stdio.h>

extern int t_passed, t_failed;

#define CHECK(cond, ...)                                                         \
    do {                                                                         \
        if (cond)                                                                \
            t_passed++;                                                          \
        else {                                                                   \
            t_failed++;                                                          \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                        \
            fputc('\n', stderr);                                                 \
        }                                                                        \
    } while (0)

/* Print the summary and return the exit status: 1 when a check failed or
 * when no check was made at all. */
int t_done(void);

/* A test that cannot run here (a missing CPU feature): say why and return
 * 77, which its CTest entry declares as SKIP_RETURN_CODE, so the run shows
 * it as skipped, never as passed. */
int t_skip(const char *why);

/* Print which kernel instruction sets a test compared (0 portable, 1 AVX2,
 * 2 AVX-512, up to best = descent_isa_detect()) and which this CPU lacks,
 * so a run on a CPU without AVX-512 says what it did not cover. */
void t_isa_covered(int best);

/* |a - b| <= rtol * max(|a|, |b|) + atol, treating two NaNs as equal. */
int t_close(double a, double b, double rtol, double atol);

/* Read a whole file (NUL-terminated); NULL on failure. */
char *t_read_file(const char *path, size_t *len);

/* The next line of a golden file at *cursor that is neither blank nor a
 * '#' comment, copied into line (truncated to cap - 1); advances *cursor.
 * Returns 0 at the end of the text. */
int t_next_line(char **cursor, char *line, size_t cap);

/* t_next_line split at its first space: line holds the key, *value the
 * rest ("" when none). Returns 0 at the end of the text. The golden files
 * are cases of "key value" lines ended by "end". */
int t_next_field(char **cursor, char *line, size_t cap, const char **value);

/* Split s on sep into at most max doubles; returns the count or -1. */
int t_parse_csv(const char *s, double *out, int max);

/* Set (DESCENT_VALGRIND in the environment) when the tests run under
 * valgrind (`make valgrind`): a test that starts the descent command for
 * each of hundreds of golden cases then starts it for every
 * T_VALGRIND_EVERY-th case only (each start costs seconds under valgrind);
 * the library side of every case still runs. */
int t_valgrind(void);
/* DESCENT_EMULATED (cross builds under qemu in CI: .ci/run) scales the same
 * tests down the same way. */
#define T_VALGRIND_EVERY 16

#ifdef _WIN32
/* Windows has no mkdtemp(): the same from _mktemp and _mkdir. */
char *t_mkdtemp(char *tmpl);
#define mkdtemp t_mkdtemp
#endif

/* Run a shell command, capture stdout into a malloc'd string; returns the exit status. */
int t_run(const char *cmd, char **out);

/* Elements of an f32 or f64 array (dtype a descent_dtype; anything but
 * DESCENT_F64 is f32): the size, element i as a double, element i set
 * (rounded to f32). */
size_t t_dsize(int dtype);
double t_get_elem(const void *a, int dtype, size_t i);
void t_set_elem(void *a, int dtype, size_t i, double v);

/* An optimizer made from a spec with one group of its defaults (NULL and a
 * failed check when the spec is refused). */
struct descent_optimizer *t_make_opt(const char *spec);
/* The optimizer's checkpoint in a malloc'd buffer of *len bytes. */
unsigned char *t_checkpoint(const struct descent_optimizer *opt, size_t *len);
/* A check that the spec is refused with a message containing needle. */
void t_expect_spec_error(const char *spec, const char *needle);

#endif
