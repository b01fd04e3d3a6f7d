/* The state arena (src/arena.c): many small tensors, whose state shares
 * slabs, mixed with large ones, whose state is allocated alone, step exactly
 * as one tensor holding all their elements (the kernels are elementwise), and
 * checkpoints and reset see each tensor's own state. */
#include "descent.h"
#include "internal.h"
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void run(const char *spec)
{
    enum { K = 400 };
    size_t sizes[K], n = 0;
    for (int k = 0; k < K; k++) {
        /* 1 .. 3000 elements, and every 50th tensor large (> DESCENT_ARENA_MAX of state). */
        sizes[k] = k % 50 == 7 ? 20000 + (size_t)k : 1 + (size_t)(k * 7919) % 3000;
        n += sizes[k];
    }
    float *p = malloc(n * sizeof *p), *p1 = malloc(n * sizeof *p), *g = malloc(n * sizeof *g);
    for (size_t i = 0; i < n; i++) {
        p[i] = p1[i] = (float)sin(0.01 * (double)i);
        g[i] = (float)cos(0.37 * (double)i) * 1e-2f;
    }
    descent_optimizer *many = NULL, *one = NULL;
    descent_error err;
    CHECK(descent_create_from_spec(&many, spec, NULL, &err) == 0, "%s", err.message);
    CHECK(descent_create_from_spec(&one, spec, NULL, &err) == 0, "%s", err.message);
    descent_add_group(many, NULL);
    descent_add_group(one, NULL);
    size_t off = 0;
    for (int k = 0; k < K; k++) {
        CHECK(descent_add_tensor(many, 0, p + off, g + off, sizes[k], DESCENT_F32) == k, "add %d", k);
        off += sizes[k];
    }
    descent_add_tensor(one, 0, p1, g, n, DESCENT_F32);
    CHECK(descent_state_bytes(many) == descent_state_bytes(one), "%s: state bytes %zu vs %zu", spec,
          descent_state_bytes(many), descent_state_bytes(one));
    for (int s = 0; s < 4; s++) {
        for (size_t i = 0; i < n; i++)
            g[i] = (float)cos(0.37 * (double)i + s) * 1e-2f;
        descent_step(many);
        descent_step(one);
    }
    CHECK(memcmp(p, p1, n * sizeof *p) == 0, "%s: many small tensors step differently from one tensor", spec);
    /* reset, then the same steps again: the same parameters as a fresh start. */
    size_t len0, len1;
    descent_save_mem(many, NULL, 0, &len0);
    unsigned char *before = malloc(len0);
    descent_save_mem(many, before, len0, &len0);
    descent_reset(many);
    descent_load_mem(many, before, len0);
    descent_save_mem(many, NULL, 0, &len1);
    unsigned char *after = malloc(len1);
    descent_save_mem(many, after, len1, &len1);
    CHECK(len0 == len1 && memcmp(before, after, len0) == 0, "%s: reset + load does not restore the state", spec);
    free(before);
    free(after);
    descent_destroy(many);
    descent_destroy(one);
    free(p);
    free(p1);
    free(g);
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    run("AdamW(lr=1e-2)");
    run("Adam(lr=1e-2, amsgrad=True)");
    run("SGD(lr=1e-2, momentum=0.9)");
    run("Adagrad(lr=1e-2)");
    return t_done();
}
