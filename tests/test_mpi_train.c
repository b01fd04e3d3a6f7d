/* `mpirun -np R descent train ...` against `descent train ...`: every batch
 * split across R ranks (unevenly, and with ranks left without rows) gives
 * the single-process run up to the rounding of the weighted reduction, and
 * only rank 0 prints. Arguments: the tests directory, the descent binary,
 * mpirun. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static double json_field(const char *out, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *p = out ? strstr(out, pat) : NULL;
    return p ? atof(p + strlen(pat)) : NAN;
}

static int count(const char *s, const char *what)
{
    int n = 0;
    for (const char *p = s; p && (p = strstr(p, what)) != NULL; p += strlen(what))
        n++;
    return n;
}

static void compare(const char *dir, const char *cli, const char *mpirun, int np, const char *batch, const char *dtype,
                    double rtol)
{
    char args[1024], cmd[2048];
    snprintf(args, sizeof args,
             "train --data %s/../data/digits.csv --target label --model 'mlp(hidden=(16,))' "
             "--opt 'AdamW(lr=3e-3)' --sched 'CosineAnnealingLR(T_max=200)' --epochs 2 --batch-size %s --dtype %s "
             "--json",
             dir, batch, dtype);
    char *single = NULL, *multi = NULL;
    snprintf(cmd, sizeof cmd, "%s %s 2>&1", cli, args);
    int rc1 = t_run(cmd, &single);
    snprintf(cmd, sizeof cmd, "%s --allow-run-as-root --oversubscribe --mca btl self,vader -np %d %s %s 2>&1", mpirun,
             np, cli, args);
    int rc2 = t_run(cmd, &multi);
    CHECK(rc1 == 0 && rc2 == 0, "exit %d / %d:\n%s\n%s", rc1, rc2, single ? single : "", multi ? multi : "");
    const char *keys[] = {"train_loss", "val_loss", "val_accuracy"};
    for (int k = 0; k < 3; k++) {
        double a = json_field(single, keys[k]), b = json_field(multi, keys[k]);
        CHECK(t_close(a, b, rtol, 0), "np %d batch %s %s: %s %.12g single, %.12g distributed", np, batch, dtype,
              keys[k], a, b);
    }
    CHECK(count(multi, "\"train_loss\"") == 1, "np %d: %d JSON lines (rank 0 alone prints):\n%s", np,
          count(multi, "\"train_loss\""), multi ? multi : "");
    CHECK(count(multi, "epoch 2/2") == 1, "np %d: epoch lines printed %d times", np, count(multi, "epoch 2/2"));
    CHECK(strstr(multi ? multi : "", "data parallel over") != NULL || np == 1, "np %d: no data-parallel banner", np);
    free(single);
    free(multi);
}

/* --save under mpirun (rank 0 writes), --resume under mpirun (every rank
 * reads): 1 + 1 epochs on 2 ranks against 2 epochs in one process. */
static void save_resume(const char *dir, const char *cli, const char *mpirun)
{
    char ckpt[256], args[1024], cmd[2048];
    snprintf(ckpt, sizeof ckpt, "%s/descent_mpi_train_%d.ckpt", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
             (int)getpid());
    snprintf(args, sizeof args,
             "train --data %s/../data/digits.csv --target label --model 'softmax()' --opt 'Adam(lr=1e-2)' "
             "--batch-size 50 --dtype f64 --json",
             dir);
    char *single = NULL, *first = NULL, *second = NULL;
    snprintf(cmd, sizeof cmd, "%s %s --epochs 2 2>&1", cli, args);
    int rc0 = t_run(cmd, &single);
    snprintf(cmd, sizeof cmd, "%s --allow-run-as-root --oversubscribe --mca btl self,vader -np 2 %s %s --epochs 1 --save %s 2>&1",
             mpirun, cli, args, ckpt);
    int rc1 = t_run(cmd, &first);
    snprintf(cmd, sizeof cmd, "%s --allow-run-as-root --oversubscribe --mca btl self,vader -np 2 %s %s --epochs 2 --resume %s 2>&1",
             mpirun, cli, args, ckpt);
    int rc2 = t_run(cmd, &second);
    CHECK(rc0 == 0 && rc1 == 0 && rc2 == 0, "exit %d %d %d:\n%s\n%s", rc0, rc1, rc2, first ? first : "",
          second ? second : "");
    double a = json_field(single, "val_loss"), b = json_field(second, "val_loss");
    CHECK(t_close(a, b, 1e-9, 0), "resumed distributed run: val_loss %.12g, single process %.12g", b, a);
    remove(ckpt);
    free(single);
    free(first);
    free(second);
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: test_mpi_train TESTS_DIR DESCENT MPIRUN\n");
        return 2;
    }
    /* f64: the weighted mean of the ranks' means differs from the mean over
     * the batch by a few ulps; over 2 epochs the losses agree far tighter
     * than 1e-9. f32 the same at 1e-4. */
    compare(argv[1], argv[2], argv[3], 2, "33", "f64", 1e-9);
    compare(argv[1], argv[2], argv[3], 3, "32", "f64", 1e-9);
    compare(argv[1], argv[2], argv[3], 4, "3", "f64", 1e-9); /* one rank without rows in every batch */
    compare(argv[1], argv[2], argv[3], 2, "full", "f32", 1e-4);
    save_resume(argv[1], argv[2], argv[3]);
    return t_done();
}
