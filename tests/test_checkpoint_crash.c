/* A writer killed at any moment leaves a loadable checkpoint: descent_save
 * writes PATH.tmp, flushes it and renames it over PATH, so PATH always holds
 * the old image or the new one, never a torn one. A child saves in a loop
 * while the parent kills it with SIGKILL at many points, then loads. */
#include "descent.h"
#include "testutil.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define N (1u << 16)
#define KILLS 40

static float *param, *grad;

static descent_optimizer *make(void)
{
    descent_optimizer *opt;
    descent_error err;
    if (descent_create_from_spec(&opt, "Adam(lr=1e-3, amsgrad=True)", NULL, &err) < 0)
        return NULL;
    descent_add_tensor(opt, descent_add_group(opt, NULL), param, grad, N, DESCENT_F32);
    return opt;
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    param = calloc(N, sizeof *param);
    grad = calloc(N, sizeof *grad);
    for (unsigned i = 0; i < N; i++)
        grad[i] = (float)((int)(i % 17) - 8) * 1e-3f;
    char path[64];
    snprintf(path, sizeof path, "/tmp/descent-crash-%d.ckpt", (int)getpid());
    descent_optimizer *opt = make();
    CHECK(opt && descent_save(opt, path) == 0, "first save failed");
    unsigned seed = 12345;
    int loaded = 0, newer = 0;
    for (int k = 0; k < KILLS; k++) {
        pid_t child = fork();
        if (child == 0) {
            /* Save forever, a different image each time. */
            for (;;) {
                descent_step(opt);
                if (descent_save(opt, path) < 0)
                    _exit(3);
            }
        }
        seed = seed * 1103515245u + 12345u;
        struct timespec ts = {0, (long)(1 + (seed >> 8) % 100) * 1000000L};
        nanosleep(&ts, NULL);
        kill(child, SIGKILL);
        int st;
        waitpid(child, &st, 0);
        CHECK(WIFSIGNALED(st), "round %d: the writer exited by itself (status %d)", k, st);
        descent_optimizer *reader = make();
        int rc = descent_load(reader, path);
        CHECK(rc == 0, "round %d: checkpoint not loadable after a kill: %s", k, descent_errmsg(reader));
        if (rc == 0) {
            loaded++;
            newer += descent_step_count(reader) > 0;
        }
        descent_destroy(reader);
    }
    printf("%d of %d kills left a loadable checkpoint (%d of them newer than the first)\n", loaded, KILLS, newer);
    CHECK(newer > 0, "the writer never completed a save before being killed; the test proved nothing");
    char tmp[80];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    unlink(tmp);
    unlink(path);
    descent_destroy(opt);
    free(param);
    free(grad);
    return t_done();
}
