/* libFuzzer target: the population checkpoint loader, then ask and tell.
 * Each input is tried as is and with its length and CRC repaired (so
 * mutations reach the parser behind the checksum), on the four methods.
 * A rejected image must leave the population exactly as it was; after an
 * accepted one, the pending candidates are told and a few more generations
 * run (a crash, leak or undefined behaviour is a finding). */
#include "descent.h"
#include "repair.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define N 3

static unsigned char *image(descent_population *p, size_t *len)
{
    descent_population_save_mem(p, NULL, 0, len);
    unsigned char *b = malloc(*len ? *len : 1);
    descent_population_save_mem(p, b, *len, len);
    return b;
}

static double f_of(const double *x)
{
    double s = 0;
    for (int i = 0; i < N; i++)
        s += x[i] * x[i];
    return s;
}

static void generations(descent_population *p, int count)
{
    for (int g = 0; g < count; g++) {
        size_t lambda = 0;
        if (descent_population_pending(p, NULL, &lambda) < 0)
            abort();
        if (lambda == 0 && descent_population_ask(p, NULL, &lambda) < 0)
            return;
        if (lambda == 0 || lambda > 100000)
            abort();
        double *cand = malloc(sizeof *cand * lambda * N), *f = malloc(sizeof *f * lambda);
        size_t pending = 0;
        descent_population_pending(p, NULL, &pending);
        if (pending)
            descent_population_pending(p, cand, &pending);
        else
            descent_population_ask(p, cand, &lambda);
        for (size_t i = 0; i < lambda; i++)
            f[i] = f_of(cand + i * N);
        descent_population_tell(p, f);
        free(cand);
        free(f);
    }
}

static void check(const uint8_t *data, size_t size, const char *spec)
{
    descent_population *p;
    descent_error err;
    if (descent_population_create(&p, spec, N, &err) < 0)
        abort();
    double x0[N] = {1, -1, 0.5};
    descent_population_set_x0(p, x0);
    generations(p, 1);
    size_t before_len, after_len;
    unsigned char *before = image(p, &before_len);
    if (descent_population_load_mem(p, data, size) < 0) {
        unsigned char *after = image(p, &after_len);
        if (after_len != before_len || memcmp(before, after, before_len) != 0)
            abort(); /* a rejected checkpoint changed the population */
        free(after);
    } else {
        generations(p, 3);
    }
    free(before);
    descent_population_destroy(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const specs[] = {"CMAES(sigma0=0.5, seed=1)", "DE(popsize=6, seed=2)", "PSO(popsize=6, seed=3)",
                                        "GA(popsize=6, seed=4)"};
    for (int m = 0; m < 4; m++) {
        check(data, size, specs[m]);
        uint8_t *fixed = repaired_frame(data, size);
        if (fixed) {
            check(fixed, size, specs[m]);
            free(fixed);
        }
    }
    return 0;
}
