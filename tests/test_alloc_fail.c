/* Allocation failure at every allocation point a scenario reaches: the
 * failing call returns DESCENT_ERR_NOMEM, nothing leaks, and the object stays
 * usable — retrying the call once memory is back gives exactly the result of
 * a run that never failed (SQLite's malloc-failure testing, in small). */
#include "descent.h"
#include "testutil.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct failing {
    long calls, fail_at, live;
    int failed;
} failing;

static void *f_alloc(void *ctx, size_t size)
{
    failing *f = ctx;
    if (++f->calls == f->fail_at) {
        f->failed = 1;
        return NULL;
    }
    void *p = malloc(size);
    if (p)
        f->live++;
    return p;
}

static void f_free(void *ctx, void *ptr)
{
    failing *f = ctx;
    f->live--;
    free(ptr);
}

#define N1 1000
#define N2 300

typedef struct run {
    float p1[N1], g1[N1];
    double p2[N2], g2[N2];
    float p3[10], g3[10];   /* registered while the training utilities are on */
    int nomem_seen, other_error;
} run;

/* Perform one call; on NOMEM, check the status and retry with memory back. */
#define OP(f, r, call)                                                 \
    do {                                                               \
        int rc_ = (call);                                              \
        if (rc_ == DESCENT_ERR_NOMEM && (f)->failed) {                 \
            (r)->nomem_seen++;                                         \
            long saved_ = (f)->fail_at;                                \
            (f)->fail_at = -1;                                         \
            rc_ = (call);                                              \
            (f)->fail_at = saved_;                                     \
        }                                                              \
        if (rc_ < 0)                                                   \
            (r)->other_error++;                                        \
    } while (0)

static void scenario(failing *f, run *r, const char *ckpt)
{
    descent_allocator a = {f_alloc, f_free, f};
    descent_error err;
    descent_optimizer *opt = NULL;
    for (int i = 0; i < N1; i++) {
        r->p1[i] = (float)(i % 7) - 3.0f;
        r->g1[i] = (float)(i % 5) * 0.1f - 0.2f;
    }
    for (int i = 0; i < N2; i++) {
        r->p2[i] = (i % 3) - 1.0;
        r->g2[i] = (i % 11) * 0.01 - 0.05;
    }
    for (int i = 0; i < 10; i++) {
        r->p3[i] = 0.1f * (float)i;
        r->g3[i] = 0.05f * (float)(i % 4) - 0.1f;
    }
    int rc = descent_create_from_spec(&opt, "AdamW(lr=0.01, betas=(0.8, 0.99), amsgrad=True)", &a, &err);
    if (rc == DESCENT_ERR_NOMEM) {
        r->nomem_seen++;
        long saved = f->fail_at;
        f->fail_at = -1;
        rc = descent_create_from_spec(&opt, "AdamW(lr=0.01, betas=(0.8, 0.99), amsgrad=True)", &a, &err);
        f->fail_at = saved;
    }
    if (rc < 0) {
        r->other_error++;
        return;
    }
    OP(f, r, descent_add_group(opt, NULL));
    OP(f, r, descent_add_group_spec(opt, "lr=0.05, weight_decay=0.0"));
    OP(f, r, descent_add_tensor(opt, 0, r->p1, r->g1, N1, DESCENT_F32));
    OP(f, r, descent_add_tensor(opt, 1, r->p2, r->g2, N2, DESCENT_F64));
    OP(f, r, descent_set(opt, -1, "eps", 1e-6));
    /* The training utilities allocate their buffers here, not in step. */
    OP(f, r, descent_set_accumulation(opt, 2));
    OP(f, r, descent_set_ema(opt, 0.9));
    OP(f, r, descent_set_swa(opt, 1));
    OP(f, r, descent_set_lookahead(opt, 3, 0.5));
    OP(f, r, descent_add_tensor(opt, 1, r->p3, r->g3, 10, DESCENT_F32));
    for (int s = 0; s < 3; s++)
        OP(f, r, descent_step(opt));
    OP(f, r, descent_swa_update(opt));
    OP(f, r, descent_save(opt, ckpt));
    for (int s = 0; s < 2; s++)
        OP(f, r, descent_step(opt));
    OP(f, r, descent_load(opt, ckpt));
    for (int s = 0; s < 2; s++)
        OP(f, r, descent_step(opt));
    descent_destroy(opt);
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    char ckpt[64];
    snprintf(ckpt, sizeof ckpt, "/tmp/descent-allocfail-%d.ckpt", (int)getpid());
    failing ref_f = {0, -1, 0, 0};
    run *ref = calloc(1, sizeof *ref);
    scenario(&ref_f, ref, ckpt);
    CHECK(ref->other_error == 0 && ref->nomem_seen == 0, "reference run failed");
    CHECK(ref_f.live == 0, "reference run leaks %ld blocks", ref_f.live);
    long total = ref_f.calls;
    CHECK(total > 10, "scenario makes only %ld allocations", total);
    int points = 0;
    for (long k = 1; k <= total; k++) {
        failing f = {0, k, 0, 0};
        run *r = calloc(1, sizeof *r);
        scenario(&f, r, ckpt);
        CHECK(f.failed, "allocation %ld was never reached", k);
        CHECK(r->nomem_seen == 1, "allocation %ld: failure not reported as DESCENT_ERR_NOMEM (%d seen)", k, r->nomem_seen);
        CHECK(r->other_error == 0, "allocation %ld: a retried call still failed", k);
        CHECK(f.live == 0, "allocation %ld: %ld blocks leaked", k, f.live);
        CHECK(memcmp(r->p1, ref->p1, sizeof r->p1) == 0 && memcmp(r->p2, ref->p2, sizeof r->p2) == 0 &&
                  memcmp(r->p3, ref->p3, sizeof r->p3) == 0,
              "allocation %ld: parameters differ from the run that never failed", k);
        points++;
        free(r);
    }
    printf("%d allocation points failed one at a time\n", points);
    unlink(ckpt);
    free(ref);
    return t_done();
}
