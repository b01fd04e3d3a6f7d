/* Models and training: analytic gradients against central differences for
 * every model, the CBLAS and built-in matrix products, training on the
 * digits, bit-identical resume, reproducibility, and CSV / spec / CLI
 * errors. */
#include "descent.h"
#include "models/models.h"
#include "testutil.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *src_dir, *cli_path;
static char digits[1024];

static void fill_data(double *X, double *y, size_t rows, size_t inputs, size_t classes, uint64_t seed)
{
    descent_rng r;
    descent_rng_seed(&r, seed, 9);
    for (size_t i = 0; i < rows * inputs; i++)
        X[i] = 2 * descent_rng_uniform(&r) - 1;
    for (size_t i = 0; i < rows; i++)
        y[i] = classes ? (double)descent_rng_below(&r, classes) : 3 * descent_rng_uniform(&r) - 1;
}

/* d loss / d theta by central differences on every parameter (f64). */
static void gradient_check(const char *spec, size_t classes)
{
    enum { ROWS = 7, IN = 5 };
    double X[ROWS * IN], y[ROWS];
    fill_data(X, y, ROWS, IN, classes, 42);
    descent_model *m;
    descent_error err;
    int rc = descent_model_create(&m, spec, IN, classes, DESCENT_F64, 7, &err);
    CHECK(rc == 0, "%s: %s", spec, err.message);
    if (rc)
        return;
    double loss;
    CHECK(descent_model_loss_grad(m, X, y, ROWS, &loss) == 0, "%s: %s", spec, descent_model_errmsg(m));
    /* Copy the analytic gradient out: loss_grad overwrites it. */
    size_t total = descent_model_num_params(m), k = 0;
    double *analytic = malloc(total * sizeof *analytic);
    for (int t = 0; t < descent_model_num_tensors(m); t++) {
        void *g;
        size_t n;
        descent_model_tensor(m, t, NULL, &g, &n, NULL);
        memcpy(analytic + k, g, n * sizeof(double));
        k += n;
    }
    CHECK(k == total, "%s: tensor sizes add up to %zu, got %zu", spec, total, k);
    double worst = 0;
    k = 0;
    for (int t = 0; t < descent_model_num_tensors(m); t++) {
        void *p;
        size_t n;
        descent_model_tensor(m, t, &p, NULL, &n, NULL);
        double *w = p;
        for (size_t i = 0; i < n; i++, k++) {
            double keep = w[i], h = 1e-6, fp, fm;
            w[i] = keep + h;
            descent_model_loss_grad(m, X, y, ROWS, &fp);
            w[i] = keep - h;
            descent_model_loss_grad(m, X, y, ROWS, &fm);
            w[i] = keep;
            double fd = (fp - fm) / (2 * h), d = fabs(fd - analytic[k]) / (1e-4 + fabs(fd));
            worst = d > worst ? d : worst;
        }
    }
    CHECK(worst < 1e-6, "%s (%zu classes): worst relative gradient error %.3g", spec, classes, worst);
    free(analytic);
    descent_model_destroy(m);
}

static void test_gradients(void)
{
    gradient_check("linear()", 0);
    gradient_check("linear(l2=0.1)", 0);
    gradient_check("logistic()", 2);
    gradient_check("logistic(l2=0.3)", 2);
    gradient_check("softmax()", 4);
    gradient_check("softmax(l2=0.05)", 3);
    gradient_check("mlp(hidden=(6, 4), activation='relu')", 3);
    gradient_check("mlp(hidden=(6, 4), activation='tanh')", 3);
    gradient_check("mlp(hidden=(6, 4), activation='tanh', l2=0.2)", 5);
    gradient_check("mlp(hidden=8, activation='relu', l2=0.2)", 2);
    gradient_check("mlp(hidden=(6, 5, 4), activation='tanh')", 0);
    gradient_check("mlp(hidden=(6,), activation='relu', l2=0.01)", 0);
}

/* The built-in kernel against a naive triple loop, every transpose case. */
static void test_gemm(void)
{
    enum { M = 37, N = 300, K = 70 };
    double *A = malloc(M * K * sizeof *A), *B = malloc(K * N * sizeof *B), *C = malloc(M * N * sizeof *C),
           *R = malloc(M * N * sizeof *R);
    descent_rng r;
    descent_rng_seed(&r, 3, 0);
    for (int i = 0; i < M * K; i++)
        A[i] = descent_rng_uniform(&r) - 0.5;
    for (int i = 0; i < K * N; i++)
        B[i] = descent_rng_uniform(&r) - 0.5;
    for (int use_blas = 0; use_blas <= descent_blas_available(); use_blas++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                /* Stored as given: A is M x K (or K x M), B is K x N (or N x K). */
                for (int i = 0; i < M; i++)
                    for (int j = 0; j < N; j++) {
                        double s = 0.5 * (i - j);
                        for (int k = 0; k < K; k++)
                            s += (ta ? A[k * M + i] : A[i * K + k]) * (tb ? B[j * K + k] : B[k * N + j]);
                        R[i * N + j] = s;
                        C[i * N + j] = i - j;
                    }
                descent_gemm_f64(use_blas, ta, tb, M, N, K, A, ta ? M : K, B, tb ? K : N, 0.5, C, N);
                double worst = 0;
                for (int i = 0; i < M * N; i++)
                    worst = fmax(worst, fabs(C[i] - R[i]));
                CHECK(worst < 1e-12, "gemm blas=%d ta=%d tb=%d: worst error %.3g", use_blas, ta, tb, worst);
            }
    free(A);
    free(B);
    free(C);
    free(R);
}

/* Same model, same data: CBLAS and the built-in kernel agree. */
static void test_blas_agrees(void)
{
    if (!descent_blas_available()) {
        printf("no CBLAS in this build: BLAS comparison skipped\n");
        return;
    }
    enum { ROWS = 50, IN = 64 };
    double X[ROWS * IN], y[ROWS];
    fill_data(X, y, ROWS, IN, 10, 5);
    for (int dt = 0; dt < 2; dt++) {
        descent_dtype dtype = dt ? DESCENT_F64 : DESCENT_F32;
        descent_model *a, *b;
        descent_error err;
        descent_model_create(&a, "mlp(hidden=(64, 32))", IN, 10, dtype, 1, &err);
        descent_model_create(&b, "mlp(hidden=(64, 32))", IN, 10, dtype, 1, &err);
        CHECK(descent_model_set_blas(a, 0) == 0 && descent_model_set_blas(b, 1) == 0 && descent_model_get_blas(b) == 1,
              "set_blas");
        double la, lb;
        descent_model_loss_grad(a, X, y, ROWS, &la);
        descent_model_loss_grad(b, X, y, ROWS, &lb);
        double tol = dt ? 1e-12 : 1e-5;
        CHECK(t_close(la, lb, tol, 0), "dtype %d: loss own %.17g, blas %.17g", dt, la, lb);
        double worst = 0;
        for (int t = 0; t < descent_model_num_tensors(a); t++) {
            void *ga, *gb;
            size_t n;
            descent_model_tensor(a, t, NULL, &ga, &n, NULL);
            descent_model_tensor(b, t, NULL, &gb, NULL, NULL);
            for (size_t i = 0; i < n; i++) {
                double u = dt ? ((double *)ga)[i] : ((float *)ga)[i], v = dt ? ((double *)gb)[i] : ((float *)gb)[i];
                worst = fmax(worst, fabs(u - v) / (1e-3 + fabs(u)));
            }
        }
        CHECK(worst < tol * 10, "dtype %d: gradients own vs blas differ by %.3g", dt, worst);
        descent_model_destroy(a);
        descent_model_destroy(b);
    }
}

static void test_model_errors(void)
{
    descent_model *m;
    descent_error err;
    int task = -1;
    CHECK(descent_model_task("mlp()", &task, &err) == 0 && task == DESCENT_TASK_AUTO, "mlp task");
    CHECK(descent_model_task("softmax", &task, &err) == 0 && task == DESCENT_TASK_CLASSIFICATION, "softmax task");
    CHECK(descent_model_task("linear(l2=1)", &task, &err) == 0 && task == DESCENT_TASK_REGRESSION, "linear task");
    struct {
        const char *spec, *needle;
        size_t classes;
    } bad[] = {
        {"perceptron()", "unknown model 'perceptron'", 2},
        {"mlp(hidden=(64, 0))", "hidden size must be in [1,", 2},
        {"mlp(activation='sigmoid')", "activation must be one of 'relu', 'tanh'", 2},
        {"mlp(hidden='big')", "hidden must be a tuple", 2},
        {"linear(l2=-1)", "l2 must be >= 0", 0},
        {"linear(alpha=1)", "linear has no argument 'alpha'", 0},
        {"logistic()", "logistic() needs two classes", 3},
        {"softmax()", "needs class labels", 0},
        {"linear()", "regression model", 3},
        {"mlp(task='regression')", "regression model", 3},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = descent_model_create(&m, bad[i].spec, 4, bad[i].classes, DESCENT_F32, 0, &err);
        CHECK(rc < 0 && m == NULL && strstr(err.message, bad[i].needle), "%s: '%s' lacks '%s'", bad[i].spec,
              err.message, bad[i].needle);
    }
    descent_model_create(&m, "softmax()", 2, 3, DESCENT_F32, 0, &err);
    double X[4] = {0, 0, 1, 1}, y[2] = {0, 3}, loss;
    CHECK(descent_model_loss_grad(m, X, y, 2, &loss) == DESCENT_ERR_INVALID &&
              strstr(descent_model_errmsg(m), "label of row 1 is 3"),
          "label out of range: %s", descent_model_errmsg(m));
    descent_model_destroy(m);
}

static descent_train_config digits_config(void)
{
    descent_train_config c;
    descent_train_default_config(&c);
    c.data = digits;
    c.target = "label";
    c.model = "mlp(hidden=(64, 32), activation='relu')";
    c.optimizer = "AdamW(lr=3e-3, weight_decay=1e-4)";
    c.batch_size = 32;
    c.seed = 1;
    return c;
}

static void test_digits(void)
{
    descent_train_config c = digits_config();
    descent_trainer *t;
    descent_error err;
    int rc = descent_trainer_create(&t, &c, &err);
    CHECK(rc == 0, "digits: %s", err.message);
    if (rc)
        return;
    size_t ntrain, nval, features, classes, batches;
    descent_trainer_info(t, &ntrain, &nval, &features, &classes, &batches);
    CHECK(ntrain == 1438 && nval == 359 && features == 64 && classes == 10 && batches == 45,
          "digits shapes %zu %zu %zu %zu %zu", ntrain, nval, features, classes, batches);
    descent_epoch_result r = {0, NAN, NAN, NAN, NAN, 0};
    for (int e = 0; e < 6; e++)
        CHECK(descent_trainer_epoch(t, NULL, NULL, &r) == 0, "epoch: %s", descent_trainer_errmsg(t));
    CHECK(r.epoch == 6 && descent_trainer_epochs_done(t) == 6, "epochs");
    CHECK(r.val_accuracy >= 0.95, "digits after 6 epochs: val accuracy %.4f (want >= 0.95), val loss %.4f",
          r.val_accuracy, r.val_loss);
    printf("digits: 6 epochs, val accuracy %.4f, %.4f s per epoch\n", r.val_accuracy, r.seconds);
    descent_trainer_destroy(t);
}

static int cancel_after(void *ctx, const descent_train_progress *p)
{
    int *n = ctx;
    (*n)++;
    return p->batch == 3;
}

/* Batch GD, SGD and regression; cancellation; a linear model learns a plane. */
static void test_batching_and_regression(void)
{
    FILE *f = fopen("tm_plane.csv", "w");
    fprintf(f, "a,b,c,y\n");
    descent_rng r;
    descent_rng_seed(&r, 11, 0);
    for (int i = 0; i < 200; i++) {
        double a = descent_rng_uniform(&r), b = descent_rng_uniform(&r), c = descent_rng_uniform(&r);
        fprintf(f, "%.17g,%.17g,%.17g,%.17g\n", a, b, c, 2 * a - 3 * b + 0.5 * c + 1);
    }
    fclose(f);
    descent_train_config c;
    descent_train_default_config(&c);
    c.data = "tm_plane.csv";
    c.target = "y";
    c.model = "linear()";
    c.optimizer = "SGD(lr=0.1)";
    c.batch_size = 0;
    c.dtype = DESCENT_F64;
    descent_trainer *t;
    descent_error err;
    CHECK(descent_trainer_create(&t, &c, &err) == 0, "plane: %s", err.message);
    size_t batches, classes;
    descent_trainer_info(t, NULL, NULL, NULL, &classes, &batches);
    CHECK(batches == 1 && classes == 0, "full batch: %zu batches, %zu classes", batches, classes);
    descent_epoch_result res;
    for (int e = 0; e < 300; e++)
        descent_trainer_epoch(t, NULL, NULL, &res);
    CHECK(res.val_loss < 1e-6 && isnan(res.val_accuracy), "batch GD on a plane: val loss %.3g", res.val_loss);
    descent_trainer_destroy(t);

    c.batch_size = 1;
    c.optimizer = "SGD(lr=0.01)";
    CHECK(descent_trainer_create(&t, &c, &err) == 0, "plane SGD: %s", err.message);
    descent_trainer_info(t, NULL, NULL, NULL, NULL, &batches);
    CHECK(batches == 160, "SGD: %zu batches", batches);
    for (int e = 0; e < 30; e++)
        descent_trainer_epoch(t, NULL, NULL, &res);
    CHECK(res.val_loss < 1e-6, "SGD on a plane: val loss %.3g", res.val_loss);
    int calls = 0;
    CHECK(descent_trainer_epoch(t, cancel_after, &calls, &res) == DESCENT_STOP_CANCELLED && calls == 3 &&
              descent_trainer_epochs_done(t) == 30,
          "cancel: %d calls", calls);
    descent_trainer_destroy(t);

    c.model = "softmax()";
    CHECK(descent_trainer_create(&t, &c, &err) < 0 && strstr(err.message, "does not hold class labels"),
          "softmax on a continuous target: %s", err.message);
    remove("tm_plane.csv");
}

static void expect_csv_error(const char *content, const char *needle)
{
    FILE *f = fopen("tm_bad.csv", "w");
    fputs(content, f);
    fclose(f);
    descent_train_config c = digits_config();
    c.data = "tm_bad.csv";
    c.target = "y";
    descent_trainer *t;
    descent_error err;
    int rc = descent_trainer_create(&t, &c, &err);
    CHECK(rc < 0 && strstr(err.message, needle), "bad CSV: '%s' lacks '%s'", err.message, needle);
    if (rc == 0)
        descent_trainer_destroy(t);
    remove("tm_bad.csv");
}

static void test_bad_input(void)
{
    expect_csv_error("a,b,y\n1,2,0\n3,4\n", "tm_bad.csv:3:");
    expect_csv_error("a,b,y\n1,2,0\n3,4\n", "ragged row");
    expect_csv_error("a,b,y\n1,2,0\n3,x4,1\n", "tm_bad.csv:3:3: not a number");
    expect_csv_error("a,b,y\n1,2,0\n3,,1\n", "tm_bad.csv:3:3: missing value");
    expect_csv_error("a,b,z\n1,2,0\n3,4,1\n", "no column named 'y'");
    expect_csv_error("a,b,y\n1,2,0\n3,inf,1\n", "data row 2, column 'b': inf is not a finite number");
    descent_train_config c = digits_config();
    descent_trainer *t;
    descent_error err;
    c.data = "tm_does_not_exist.csv";
    CHECK(descent_trainer_create(&t, &c, &err) == DESCENT_ERR_IO && strstr(err.message, "tm_does_not_exist.csv"),
          "missing file: %s", err.message);
    c = digits_config();
    c.model = "mlp(hidden=(64, 32), activation='sigmoid')";
    CHECK(descent_trainer_create(&t, &c, &err) < 0 && strstr(err.message, "activation must be one of") &&
              strstr(err.message, "^"),
          "bad model spec: %s", err.message);
    c = digits_config();
    c.optimizer = "AdamW(lr=-1)";
    CHECK(descent_trainer_create(&t, &c, &err) < 0 && strstr(err.message, "lr"), "bad optimizer: %s", err.message);
    c = digits_config();
    c.val_fraction = 1;
    CHECK(descent_trainer_create(&t, &c, &err) == DESCENT_ERR_INVALID, "val_fraction 1");
}

static char *run_cli(const char *args, int *status)
{
    char cmd[4096], *out = NULL;
    snprintf(cmd, sizeof cmd, "%s train --data '%s' --target label --model 'mlp(hidden=(32, 16))' "
             "--opt 'AdamW(lr=3e-3)' --batch-size 64 --seed 5 %s", cli_path, digits, args);
    *status = t_run(cmd, &out);
    return out;
}

static const char *last_line(const char *s)
{
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == '\n')
        n--;
    while (n > 0 && s[n - 1] != '\n')
        n--;
    return s + n;
}

static void test_resume_and_cli(void)
{
    int st;
    char *a = run_cli("--epochs 4 --save tm_a.ckpt --json --log tm_a.log", &st);
    CHECK(st == 0, "4 epochs straight: exit %d", st);
    char *b = run_cli("--epochs 2 --save tm_b.ckpt", &st);
    CHECK(st == 0, "2 epochs: exit %d", st);
    char *c = run_cli("--epochs 4 --resume tm_b.ckpt --save tm_c.ckpt --json", &st);
    CHECK(st == 0, "resume to 4: exit %d", st);
    char *d = run_cli("--epochs 4 --save tm_d.ckpt --json", &st);
    /* With a schedule, whose state travels in the optimizer image. */
    const char *sched = "--sched 'LinearWarmup(warmup_period=20, schedule=CosineAnnealingLR(T_max=92))'";
    char args[512];
    snprintf(args, sizeof args, "%s --epochs 4 --save tm_e.ckpt", sched);
    free(run_cli(args, &st));
    CHECK(st == 0, "4 epochs with a schedule: exit %d", st);
    snprintf(args, sizeof args, "%s --epochs 1 --save tm_f.ckpt", sched);
    free(run_cli(args, &st));
    snprintf(args, sizeof args, "%s --epochs 4 --resume tm_f.ckpt --save tm_f.ckpt", sched);
    free(run_cli(args, &st));
    CHECK(st == 0, "resume with a schedule: exit %d", st);
    size_t le, lf;
    char *ce = t_read_file("tm_e.ckpt", &le), *cf = t_read_file("tm_f.ckpt", &lf);
    CHECK(ce && cf && le == lf && memcmp(ce, cf, le) == 0, "resumed run with a schedule differs");
    free(ce);
    free(cf);
    remove("tm_e.ckpt");
    remove("tm_f.ckpt");
    size_t la, lc, ld;
    char *ca = t_read_file("tm_a.ckpt", &la), *cc = t_read_file("tm_c.ckpt", &lc), *cd = t_read_file("tm_d.ckpt", &ld);
    CHECK(ca && cc && la == lc && memcmp(ca, cc, la) == 0, "resumed checkpoint differs from the uninterrupted one");
    CHECK(ca && cd && la == ld && memcmp(ca, cd, la) == 0, "same seed, different checkpoint");
    if (a && c) {
        const char *ja = last_line(a), *jc = last_line(c);
        CHECK(ja[0] == '{' && strstr(ja, "\"train_loss\": ") && strstr(ja, "\"val_loss\": ") &&
                  strstr(ja, "\"val_accuracy\": ") && strstr(ja, "\"epochs\": 4") && strstr(ja, "\"seconds\": "),
              "JSON line: %s", ja);
        /* Same losses and accuracy, to the last printed digit. */
        char ka[200], kc[200];
        const char *p = strstr(ja, "\"train_loss\""), *q = strstr(jc, "\"train_loss\"");
        const char *pe = p ? strstr(p, "\"epochs\"") : NULL, *qe = q ? strstr(q, "\"epochs\"") : NULL;
        if (p && q && pe && qe && pe - p < 200 && qe - q < 200) {
            snprintf(ka, sizeof ka, "%.*s", (int)(pe - p), p);
            snprintf(kc, sizeof kc, "%.*s", (int)(qe - q), q);
            CHECK(strcmp(ka, kc) == 0, "resumed figures %s vs %s", kc, ka);
        } else {
            CHECK(0, "JSON lines: %s / %s", ja, jc);
        }
    }
    size_t loglen;
    char *log = t_read_file("tm_a.log", &loglen);
    CHECK(log && strncmp(log, "epoch,train_loss,val_loss,val_accuracy,lr,seconds\n1,", 52) == 0, "log header");
    int rows = 0;
    for (size_t i = 0; log && i < loglen; i++)
        rows += log[i] == '\n';
    CHECK(rows == 5, "log rows %d", rows);
    free(log);
    free(a);
    free(b);
    free(c);
    free(d);
    free(ca);
    free(cc);
    free(cd);

    /* Resume refuses a checkpoint of another model, and a corrupt one. */
    char cmd[4096], *out;
    snprintf(cmd, sizeof cmd, "%s train --data '%s' --target label --model 'mlp(hidden=(8,))' --opt 'AdamW' "
             "--epochs 3 --resume tm_b.ckpt 2>&1", cli_path, digits);
    st = t_run(cmd, &out);
    CHECK(st == 2 && out && strstr(out, "different run"), "mismatched resume: %d %s", st, out ? out : "");
    free(out);
    FILE *f = fopen("tm_b.ckpt", "r+b");
    if (f) {
        fseek(f, 100, SEEK_SET);
        fputc(0x5a, f);
        fclose(f);
    }
    out = run_cli("--epochs 3 --resume tm_b.ckpt 2>&1", &st);
    CHECK(st == 2 && out && strstr(out, "checksum"), "corrupt resume: %d %s", st, out ? out : "");
    free(out);
    remove("tm_a.ckpt");
    remove("tm_b.ckpt");
    remove("tm_c.ckpt");
    remove("tm_d.ckpt");
    remove("tm_a.log");

    const char *bad[] = {
        "--epochs 0",
        "--epochs 2 --batch-size 0",
        "--epochs 2 --batch-size many",
        "--epochs 2 --val 1.5",
        "--epochs 2 --dtype f16",
        "--epochs 2 --blas maybe",
        "--epochs 2 --seed -1",
        "--epochs 2 --frobnicate",
        "--epochs",
        "--epochs 2 --resume tm_nonexistent.ckpt",
        "--epochs 2 --log /nonexistent/dir/x.csv",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(args, sizeof args, "%s 2>/dev/null", bad[i]);
        out = run_cli(args, &st);
        CHECK(st == 2, "train %s: exit %d, want 2", bad[i], st);
        free(out);
    }
    snprintf(cmd, sizeof cmd, "%s train --data tm_nonexistent.csv --target y --model 'linear()' --opt SGD "
             "--epochs 1 2>&1", cli_path);
    st = t_run(cmd, &out);
    CHECK(st == 2 && out && strstr(out, "tm_nonexistent.csv"), "missing data: %d", st);
    free(out);
    snprintf(cmd, sizeof cmd, "%s train --data '%s' --target label --model 'mlp(hidden=(64, 32)' --opt SGD "
             "--epochs 1 2>&1", cli_path, digits);
    st = t_run(cmd, &out);
    CHECK(st == 2 && out && strstr(out, "unclosed bracket"), "bad model spec: %d %s", st, out ? out : "");
    free(out);
}

int main(int argc, char **argv)
{
    src_dir = argc > 1 ? argv[1] : "tests";
    cli_path = argc > 2 ? argv[2] : "descent";
    snprintf(digits, sizeof digits, "%s/../data/digits.csv", src_dir);
    test_gradients();
    test_gemm();
    test_blas_agrees();
    test_model_errors();
    test_digits();
    test_batching_and_regression();
    test_bad_input();
    test_resume_and_cli();
    return t_done();
}
