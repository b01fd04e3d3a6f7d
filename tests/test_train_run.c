/* Training runs you can trust: a resume refuses any change of what the
 * checkpoint recorded (and names it); interrupts, SIGTERM and kill -9 at
 * several points resume to the uninterrupted run's final figures bit for
 * bit; a cancelled epoch saved mid-way resumes exactly; early stopping;
 * schedules fitted to the run; forged and hostile checkpoint files. */
#include "descent.h"
#include "testutil.h"

#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *src_dir, *cli_path;
static char digits[1024];

static char *run(const char *args, int *status)
{
    char cmd[8192], *out = NULL;
    snprintf(cmd, sizeof cmd, "%s train %s 2>&1", cli_path, args);
    *status = t_run(cmd, &out);
    return out ? out : calloc(1, 1);
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

/* The JSON line without its timing fields ("seconds", "seconds_per_epoch"). */
static void figures(const char *out, char *buf, size_t cap)
{
    const char *j = last_line(out);
    size_t k = 0;
    while (*j && *j != '\n' && k + 1 < cap) {
        if (strncmp(j, "\"seconds", 8) == 0) {
            while (*j && *j != ',' && *j != '}')
                j++;
            if (*j == ',')
                j++;
            while (*j == ' ')
                j++;
            continue;
        }
        buf[k++] = *j++;
    }
    buf[k] = '\0';
}

/* ---- interrupts ---------------------------------------------------------- */

/* Start the command, wait for its stdout to print a line starting with
 * `line`, send sig, wait; returns the exit status (128 + signal when it
 * was killed). */
static int run_and_signal(const char *args, const char *line, int sig)
{
    int fd[2];
    if (pipe(fd) != 0)
        return -1;
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "exec %s train %s 2>/dev/null", cli_path, args);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        close(fd[1]);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    FILE *f = fdopen(fd[0], "r");
    char buf[4096];
    int sent = 0;
    while (f && fgets(buf, sizeof buf, f))
        if (!sent && strncmp(buf, line, strlen(line)) == 0) {
            kill(pid, sig);
            sent = 1;
        }
    if (f)
        fclose(f);
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK(sent, "never saw '%s'", line);
    return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st);
}

static void test_interrupts(void)
{
    char base[2048], args[4096], want[1024], got[1024];
    snprintf(base, sizeof base, "--data '%s' --target label --model 'mlp(hidden=(16,))' --opt 'Adam(lr=1e-3)' "
             "--sched 'OneCycleLR(max_lr=0.01)' --batch-size 2 --seed 4 --epochs 8 --json", digits);
    int st;
    char *ref = run(base, &st);
    CHECK(st == 0, "uninterrupted run: exit %d: %s", st, ref);
    figures(ref, want, sizeof want);
    CHECK(strstr(want, "\"epochs\": 8"), "reference JSON: %s", want);
    free(ref);
    struct {
        int sig, status;
        const char *after;
    } cases[] = {
        {SIGINT, 130, "epoch 1/"},
        {SIGTERM, 143, "epoch 3/"},
        {SIGINT, 130, "train "}, /* in the first epoch */
        {SIGKILL, 137, "epoch 5/"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        remove("ttr_int.ckpt");
        snprintf(args, sizeof args, "%s --save ttr_int.ckpt --save-every 2", base);
        st = run_and_signal(args, cases[i].after, cases[i].sig);
        /* A run may end before the signal lands: then it has saved too. */
        CHECK(st == cases[i].status || st == 0, "signal %d after '%s': exit %d, want %d", cases[i].sig,
              cases[i].after, st, cases[i].status);
        snprintf(args, sizeof args, "%s --save ttr_int.ckpt --resume ttr_int.ckpt", base);
        char *out = run(args, &st);
        CHECK(st == 0, "resume after signal %d: exit %d: %s", cases[i].sig, st, out);
        figures(out, got, sizeof got);
        CHECK(strcmp(got, want) == 0, "signal %d after '%s', resumed:\n  %s\nuninterrupted:\n  %s", cases[i].sig,
              cases[i].after, got, want);
        free(out);
    }
    remove("ttr_int.ckpt");
}

/* A cancelled epoch saved half-way and loaded into a new trainer continues
 * exactly: the same parameters as a run never stopped. */
/* A run on the digits. */
static descent_train_config digits_run(const char *model, const char *opt)
{
    descent_train_config c;
    descent_train_default_config(&c);
    c.data = digits;
    c.target = "label";
    c.model = model;
    c.optimizer = opt;
    return c;
}

static int cancel_at(void *ctx, const descent_train_progress *p)
{
    const int *at = ctx;
    return p->epoch == at[0] && (int)p->batch == at[1];
}

static void test_mid_epoch(void)
{
    descent_train_config c = digits_run("mlp(hidden=(8,))", "SGD(lr=0.05, momentum=0.9)");
    c.batch_size = 50;
    c.seed = 9;
    descent_error err;
    descent_trainer *a, *b, *d;
    CHECK(descent_trainer_create(&a, &c, &err) == 0, "%s", err.message);
    CHECK(descent_trainer_create(&b, &c, &err) == 0, "%s", err.message);
    CHECK(descent_trainer_create(&d, &c, &err) == 0, "%s", err.message);
    for (int e = 0; e < 3; e++)
        descent_trainer_epoch(a, NULL, NULL, NULL);
    int at[2] = {2, 7};
    descent_trainer_epoch(b, NULL, NULL, NULL);
    CHECK(descent_trainer_epoch(b, cancel_at, at, NULL) == DESCENT_STOP_CANCELLED, "cancel");
    CHECK(descent_trainer_epochs_done(b) == 1, "cancelled epoch counted");
    CHECK(descent_trainer_save(b, "ttr_mid.ckpt") == 0, "%s", descent_trainer_errmsg(b));
    CHECK(descent_trainer_load(d, "ttr_mid.ckpt") == 0, "%s", descent_trainer_errmsg(d));
    while (descent_trainer_epochs_done(d) < 3)
        CHECK(descent_trainer_epoch(d, NULL, NULL, NULL) == 0, "%s", descent_trainer_errmsg(d));
    /* b continues its own cancelled epoch too. */
    while (descent_trainer_epochs_done(b) < 3)
        CHECK(descent_trainer_epoch(b, NULL, NULL, NULL) == 0, "%s", descent_trainer_errmsg(b));
    descent_model *ma = descent_trainer_model(a);
    int same = 1;
    for (int i = 0; i < descent_model_num_tensors(ma); i++) {
        void *pa, *pb, *pd;
        size_t n;
        descent_model_tensor(ma, i, &pa, NULL, &n, NULL);
        descent_model_tensor(descent_trainer_model(b), i, &pb, NULL, NULL, NULL);
        descent_model_tensor(descent_trainer_model(d), i, &pd, NULL, NULL, NULL);
        same &= memcmp(pa, pb, n * sizeof(float)) == 0 && memcmp(pa, pd, n * sizeof(float)) == 0;
    }
    CHECK(same, "mid-epoch save and load: parameters differ from the uninterrupted run");
    size_t nh;
    const descent_epoch_result *h = descent_trainer_history(d, &nh);
    CHECK(nh == 3 && h[0].epoch == 1 && h[2].epoch == 3, "history rows %zu", nh);
    descent_trainer_destroy(a);
    descent_trainer_destroy(b);
    descent_trainer_destroy(d);
    remove("ttr_mid.ckpt");
}

/* ---- resume refuses a different run -------------------------------------- */

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void test_resume_refusals(void)
{
    /* Two features, two labels columns; a copy with one value changed. */
    char csv[8192] = "a,b,y,z\n";
    for (int i = 0; i < 60; i++) {
        char row[64];
        snprintf(row, sizeof row, "%d.5,%d,%d,%d\n", i % 7, (i * 3) % 11, i % 2, (i / 2) % 2);
        strcat(csv, row);
    }
    write_file("ttr_a.csv", csv);
    csv[8] = '6';
    write_file("ttr_b.csv", csv);
    const char *base = "--data ttr_a.csv --target y --model 'mlp(hidden=(4,))' --opt 'SGD(lr=0.1, momentum=0.9)' "
                       "--sched 'StepLR(step_size=5)' --seed 1 --val 0.25 --batch-size 8 --dtype f32 --clip-norm 5";
    char args[4096];
    int st;
    snprintf(args, sizeof args, "%s --epochs 2 --save ttr_r.ckpt", base);
    free(run(args, &st));
    CHECK(st == 0, "base run: exit %d", st);
    struct {
        const char *flag, *from, *to;
    } fields[] = {
        {"data", "--data ttr_a.csv", "--data ttr_b.csv"},
        {"target", "--target y", "--target z"},
        {"model", "--model 'mlp(hidden=(4,))'", "--model 'mlp(hidden=(4,), l2=0.01)'"},
        {"opt", "--opt 'SGD(lr=0.1, momentum=0.9)'", "--opt 'SGD(lr=0.2, momentum=0.9)'"},
        {"sched", "--sched 'StepLR(step_size=5)'", "--sched 'StepLR(step_size=6)'"},
        {"seed", "--seed 1", "--seed 2"},
        {"val", "--val 0.25", "--val 0.3"},
        {"batch-size", "--batch-size 8", "--batch-size 9"},
        {"dtype", "--dtype f32", "--dtype f64"},
        {"clip-norm", "--clip-norm 5", "--clip-norm 6"},
        {"clip-value", "--clip-norm 5", "--clip-norm 5 --clip-value 1"},
        {"accumulate", "--clip-norm 5", "--clip-norm 5 --accumulate 2"},
        {"no-decay-1d", "--clip-norm 5", "--clip-norm 5 --no-decay-1d"},
        {"ema", "--clip-norm 5", "--clip-norm 5 --ema 0.9"},
        {"swa-start", "--clip-norm 5", "--clip-norm 5 --swa-start 2"},
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        const char *at = strstr(base, fields[i].from);
        CHECK(at != NULL, "%s", fields[i].from);
        if (!at)
            continue;
        snprintf(args, sizeof args, "%.*s%s%s --epochs 3 --resume ttr_r.ckpt --save ttr_r2.ckpt", (int)(at - base),
                 base, fields[i].to, at + strlen(fields[i].from));
        char *out = run(args, &st);
        char want[64];
        snprintf(want, sizeof want, "--%s: saved", fields[i].flag);
        CHECK(st == 2 && strstr(out, want) && !strstr(out, "epoch 3/"), "--%s changed: exit %d: %s", fields[i].flag,
              st, out);
        free(out);
    }
    /* Two at once: both named. */
    snprintf(args, sizeof args, "%s --seed 7 --epochs 3 --resume ttr_r.ckpt", base);
    char *out = run(args, &st);
    CHECK(st == 2 && strstr(out, "--seed: saved '1', now '7'"), "seed twice: %s", out);
    free(out);
    /* --epochs and the output paths may change; --allow-change opt takes a
     * new lr and says so. */
    snprintf(args, sizeof args, "%s --epochs 4 --resume ttr_r.ckpt --save ttr_r2.ckpt --log ttr_r.log", base);
    out = run(args, &st);
    CHECK(st == 0 && strstr(out, "epoch 4/4"), "epochs and paths may change: %d %s", st, out);
    free(out);
    const char *lr = strstr(base, "lr=0.1");
    snprintf(args, sizeof args, "%.*slr=0.05%s --epochs 3 --resume ttr_r.ckpt --allow-change opt", (int)(lr - base),
             base, lr + 6);
    out = run(args, &st);
    CHECK(st == 0 && strstr(out, "changed on purpose: --opt 'SGD(lr=0.1, momentum=0.9)' -> 'SGD(lr=0.05, momentum=0.9)'"),
          "allowed change: %d %s", st, out);
    free(out);
    snprintf(args, sizeof args, "%s --epochs 3 --resume ttr_r.ckpt --allow-change model", base);
    out = run(args, &st);
    CHECK(st == 2 && strstr(out, "not one of"), "unknown allowed field: %d %s", st, out);
    free(out);
    remove("ttr_r.ckpt");
    remove("ttr_r2.ckpt");
    remove("ttr_r.log");
}

/* ---- forged and hostile checkpoints ------------------------------------- */

static uint32_t crc32_of(const unsigned char *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
    }
    return ~c;
}

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void test_forged(void)
{
    char args[4096];
    int st;
    snprintf(args, sizeof args, "--data '%s' --target label --model 'softmax()' --opt SGD --epochs 1 --save ttr_f.ckpt",
             digits);
    free(run(args, &st));
    size_t n;
    unsigned char *b = (unsigned char *)t_read_file("ttr_f.ckpt", &n);
    CHECK(b && n > 64 && memcmp(b, "DSCTRAIN", 8) == 0 && b[8] == 2, "version-2 file");
    if (!b)
        return;
    /* Epochs done (payload offset 4) forged to 0x80000000, CRC repaired. */
    put32(b + 24 + 4, 0x80000000u);
    put32(b + n - 4, crc32_of(b, n - 4));
    FILE *f = fopen("ttr_f2.ckpt", "wb");
    if (f) {
        fwrite(b, 1, n, f);
        fclose(f);
    }
    snprintf(args, sizeof args, "--data '%s' --target label --model 'softmax()' --opt SGD --epochs 3 "
             "--resume ttr_f2.ckpt", digits);
    char *out = run(args, &st);
    CHECK(st == 2 && strstr(out, "epochs done") && !strstr(out, "epoch -"), "forged epoch: %d %s", st, out);
    free(out);
    free(b);
    /* Not a regular file, and a file longer than its header says. */
    snprintf(args, sizeof args, "--data '%s' --target label --model 'softmax()' --opt SGD --epochs 3 "
             "--resume /dev/zero", digits);
    out = run(args, &st);
    CHECK(st == 2 && strstr(out, "not a regular file"), "/dev/zero: %d %s", st, out);
    free(out);
    f = fopen("ttr_f.ckpt", "ab");
    if (f) {
        fputs("padding", f);
        fclose(f);
    }
    snprintf(args, sizeof args, "--data '%s' --target label --model 'softmax()' --opt SGD --epochs 3 "
             "--resume ttr_f.ckpt", digits);
    out = run(args, &st);
    CHECK(st == 2 && strstr(out, "not the length its header gives"), "padded: %d %s", st, out);
    free(out);
    remove("ttr_f.ckpt");
    remove("ttr_f2.ckpt");
}

/* A version-1 checkpoint (0.1.0: native order, no frame) still resumes:
 * built here by its layout from a trainer after one epoch. */
static void test_version1(void)
{
    descent_train_config c = digits_run("softmax()", "Adam(lr=0.01)");
    descent_error err;
    descent_trainer *a, *b;
    if (descent_trainer_create(&a, &c, &err) < 0 || descent_trainer_create(&b, &c, &err) < 0) {
        CHECK(0, "%s", err.message);
        return;
    }
    descent_trainer_epoch(a, NULL, NULL, NULL);
    /* The v2 file of a gives its generator state (payload offset 36). */
    descent_trainer_save(a, "ttr_v2.ckpt");
    size_t n2;
    unsigned char *v2 = (unsigned char *)t_read_file("ttr_v2.ckpt", &n2);
    unsigned char *v1 = malloc(1 << 20);
    size_t at = 0;
    /* Version 1 was written in the host's byte order by 0.1.0, which only
     * ran on little-endian x86-64: every v1 file is little-endian, and the
     * test writes one so on every host. */
    memcpy(v1, "DSCTRAIN", 8);
    at = 8;
    uint32_t h32[4] = {1, (uint32_t)DESCENT_F32, 1, (uint32_t)descent_model_num_tensors(descent_trainer_model(a))};
    for (int k = 0; k < 4; k++, at += 4)
        put32(v1 + at, h32[k]);
    size_t features, classes, ntrain;
    descent_trainer_info(a, &ntrain, NULL, &features, &classes, NULL);
    uint64_t h64[3] = {features, classes, ntrain};
    for (int k = 0; k < 3; k++, at += 8)
        put64(v1 + at, h64[k]);
    memcpy(v1 + at, v2 + 24 + 36, 32); /* the generator state, already little-endian */
    at += 32;
    for (int i = 0; i < descent_model_num_tensors(descent_trainer_model(a)); i++) {
        void *p;
        size_t cnt;
        descent_model_tensor(descent_trainer_model(a), i, &p, NULL, &cnt, NULL);
        put64(v1 + at, cnt);
        at += 8;
        for (size_t j = 0; j < cnt; j++, at += 4) {
            uint32_t bits;
            memcpy(&bits, (const float *)p + j, 4);
            put32(v1 + at, bits);
        }
    }
    size_t len = 0;
    descent_save_mem(descent_trainer_optimizer(a), NULL, 0, &len);
    put64(v1 + at, len);
    descent_save_mem(descent_trainer_optimizer(a), v1 + at + 8, len, &len);
    at += 8 + len;
    put32(v1 + at, crc32_of(v1, at));
    at += 4;
    FILE *f = fopen("ttr_v1.ckpt", "wb");
    if (f) {
        fwrite(v1, 1, at, f);
        fclose(f);
    }
    CHECK(descent_trainer_load(b, "ttr_v1.ckpt") == 0, "version 1: %s", descent_trainer_errmsg(b));
    descent_epoch_result ra, rb;
    descent_trainer_epoch(a, NULL, NULL, &ra);
    descent_trainer_epoch(b, NULL, NULL, &rb);
    CHECK(ra.epoch == 2 && rb.epoch == 2 && ra.val_loss == rb.val_loss && ra.train_loss == rb.train_loss,
          "version-1 resume: epoch %d/%d, %.9g vs %.9g", ra.epoch, rb.epoch, ra.val_loss, rb.val_loss);
    free(v1);
    free(v2);
    descent_trainer_destroy(a);
    descent_trainer_destroy(b);
    remove("ttr_v1.ckpt");
    remove("ttr_v2.ckpt");
}

/* ---- early stopping, schedules fitted to the run, scaled data ------------ */

/* The rows of a --log file: epoch and val_loss. */
static int read_log(const char *path, double *val, int max)
{
    size_t n;
    char *text = t_read_file(path, &n);
    int rows = 0;
    for (char *line = text ? strchr(text, '\n') : NULL; line && line[1] && rows < max; line = strchr(line + 1, '\n')) {
        int e;
        double tl, vl;
        if (sscanf(line + 1, "%d,%lf,%lf", &e, &tl, &vl) == 3 && e == rows + 1)
            val[rows++] = vl;
    }
    free(text);
    return rows;
}

static void test_patience(void)
{
    /* A large lr on a small split: the validation loss soon stops falling. */
    char args[4096];
    int st;
    snprintf(args, sizeof args, "--data '%s' --target label --model 'mlp(hidden=(64,))' --opt 'Adam(lr=0.02)' "
             "--batch-size 16 --seed 2 --val 0.5 --epochs 60 --patience 3 --log ttr_p.log --save ttr_p.ckpt --json",
             digits);
    char *out = run(args, &st);
    CHECK(st == 0, "patience run: %d %s", st, out);
    double val[64];
    int rows = read_log("ttr_p.log", val, 64);
    int best = 0;
    for (int i = 0; i < rows; i++)
        if (best == 0 || val[i] < val[best - 1])
            best = i + 1;
    char want[128];
    snprintf(want, sizeof want, "\"epochs\": %d, \"best_epoch\": %d, \"stopped_early\": true", best + 3, best);
    CHECK(rows == best + 3 && rows < 60 && strstr(last_line(out), want), "rows %d best %d: %s", rows, best,
          last_line(out));
    snprintf(want, sizeof want, "\"val_loss\": %.9g", val[best - 1]);
    CHECK(strstr(last_line(out), want) != NULL, "the kept parameters' figures, %s: %s", want, last_line(out));
    free(out);
    /* The saved parameters are the best epoch's: evaluating them gives its loss. */
    descent_train_config c = digits_run("mlp(hidden=(64,))", "Adam(lr=0.02)");
    c.batch_size = 16;
    c.seed = 2;
    c.val_fraction = 0.5;
    c.epochs = 60;
    c.patience = 3;
    descent_error err;
    descent_trainer *t;
    if (descent_trainer_create(&t, &c, &err) == 0) {
        CHECK(descent_trainer_load(t, "ttr_p.ckpt") == 0, "%s", descent_trainer_errmsg(t));
        int be = 0;
        CHECK(descent_trainer_stopped(t, &be) == 1 && be == best, "loaded: stopped, best %d", be);
        CHECK(descent_trainer_epoch(t, NULL, NULL, NULL) == DESCENT_ERR_STATE, "an epoch after early stopping");
        descent_trainer_destroy(t);
    } else {
        CHECK(0, "%s", err.message);
    }
    remove("ttr_p.log");
    remove("ttr_p.ckpt");
}

static void test_fitted_schedules(void)
{
    char args[4096];
    int st;
    /* 1437 training rows in batches of 64: 23 updates per epoch, 69 in 3. */
    const char *fmt = "--data '%s' --target label --model 'softmax()' --opt 'SGD(lr=0.1, momentum=0.9)' "
                      "--batch-size 64 --seed 0 --epochs 3 --sched '%s' --log ttr_s.log";
    struct {
        const char *sched, *fitted;
    } ok[] = {
        {"OneCycleLR(max_lr=0.1)", "OneCycleLR(max_lr=0.1, total_steps=69)"},
        {"OneCycleLR(max_lr=0.1, epochs=3)", "OneCycleLR(max_lr=0.1, epochs=3, steps_per_epoch=23)"},
        {"OneCycleLR(0.1, steps_per_epoch=23)", "OneCycleLR(0.1, steps_per_epoch=23, epochs=3)"},
        {"CosineAnnealingLR()", "CosineAnnealingLR(T_max=69)"},
        {"CosineAnnealingLR(eta_min=0.01)", "CosineAnnealingLR(eta_min=0.01, T_max=69)"},
        {"LinearWarmup(warmup_period=10, schedule=CosineAnnealingLR())",
         "LinearWarmup(warmup_period=10, schedule=CosineAnnealingLR(T_max=69))"},
        {"LinearWithWarmup(num_warmup_steps=5)", "LinearWithWarmup(num_warmup_steps=5, num_training_steps=69)"},
        {"CosineWithWarmup(5, num_cycles=0.5)", "CosineWithWarmup(5, num_cycles=0.5, num_training_steps=69)"},
        {"CosineWithHardRestartsWithWarmup(5)", "CosineWithHardRestartsWithWarmup(5, num_training_steps=69)"},
        {"PolynomialDecayWithWarmup(5, power=2)", "PolynomialDecayWithWarmup(5, power=2, num_training_steps=69)"},
        {"WarmupStableDecay(5, num_decay_steps=20)",
         "WarmupStableDecay(5, num_decay_steps=20, num_training_steps=69)"},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        snprintf(args, sizeof args, fmt, digits, ok[i].sched);
        char *out = run(args, &st);
        char want[256];
        snprintf(want, sizeof want, "schedule fitted to the run: %s\n", ok[i].fitted);
        CHECK(st == 0 && strstr(out, want), "%s: exit %d: %s", ok[i].sched, st, out);
        free(out);
    }
    /* OneCycleLR ends at max_lr / div_factor / final_div_factor. */
    snprintf(args, sizeof args, fmt, digits, "OneCycleLR(max_lr=0.1)");
    free(run(args, &st));
    size_t n;
    char *log = t_read_file("ttr_s.log", &n);
    const char *row3 = log ? strstr(log, "\n3,") : NULL;
    double lr = NAN;
    if (row3) {
        const char *p = row3 + 1;
        for (int commas = 0; *p && commas < 4; p++)
            commas += *p == ',';
        lr = strtod(p, NULL);
    }
    /* torch's OneCycleLR after total_steps = 69 steps (its last allowed):
     * the cos phase from step pct T - 1 to T - 1, evaluated at T. */
    double T = 69, lo = 0.1 / 25 / 1e4, a = 0.3 * T - 1, pct = (T - a) / (T - 1 - a);
    double want = lo + (0.1 - lo) / 2 * (1 + cos(3.14159265358979323846 * pct));
    CHECK(t_close(lr, want, 1e-6, 0), "OneCycleLR fitted: last lr %.9g, torch's %.9g", lr, want);
    free(log);
    /* Too short: refused before the first step. */
    const char *short_ones[] = {"OneCycleLR(max_lr=0.1, total_steps=50)",
                                "OneCycleLR(max_lr=0.1, epochs=2, steps_per_epoch=23)"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(args, sizeof args, fmt, digits, short_ones[i]);
        char *out = run(args, &st);
        CHECK(st == 2 && strstr(out, "ends before the run") && !strstr(out, "epoch 1/"), "%s: %d %s", short_ones[i],
              st, out);
        free(out);
    }
    /* A resumed run keeps the schedule fitted to its first --epochs: one
     * that cannot last the longer run is refused. */
    snprintf(args, sizeof args, fmt, digits, "OneCycleLR(max_lr=0.1)");
    strcat(args, " --save ttr_s.ckpt");
    free(run(args, &st));
    snprintf(args, sizeof args, fmt, digits, "OneCycleLR(max_lr=0.1)");
    char *p3 = strstr(args, "--epochs 3");
    if (p3)
        p3[9] = '5';
    strcat(args, " --resume ttr_s.ckpt");
    char *longer = run(args, &st);
    CHECK(st == 2 && strstr(longer, "OneCycleLR(max_lr=0.1, total_steps=69)") && strstr(longer, "ends before"),
          "resume past a fitted OneCycleLR: %d %s", st, longer);
    free(longer);
    remove("ttr_s.ckpt");
    /* A given length is the user's: kept; so are the parts of SequentialLR. */
    const char *kept[] = {"CosineAnnealingLR(T_max=10)",
                          "SequentialLR(schedulers=[LinearLR(total_iters=5), CosineAnnealingLR(T_max=60)], "
                          "milestones=[5])",
                          "LinearWithWarmup(5, 60)", "WarmupStableDecay(5, num_decay_steps=20, num_stable_steps=30)"};
    for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++) {
        snprintf(args, sizeof args, fmt, digits, kept[i]);
        char *out = run(args, &st);
        CHECK(st == 0 && !strstr(out, "fitted"), "given lengths: %s", out);
        free(out);
    }
    remove("ttr_s.log");
}

/* ReduceLROnPlateau steps once per epoch on the validation loss. */
static void test_plateau_per_epoch(void)
{
    char args[4096];
    int st;
    snprintf(args, sizeof args, "--data '%s' --target label --model 'mlp(hidden=(64,))' --opt 'Adam(lr=0.02)' "
             "--batch-size 16 --seed 2 --val 0.5 --epochs 12 --sched 'ReduceLROnPlateau(patience=1, factor=0.5)' "
             "--log ttr_pl.log", digits);
    free(run(args, &st));
    CHECK(st == 0, "plateau run: %d", st);
    size_t n;
    char *log = t_read_file("ttr_pl.log", &n);
    /* Replay torch's rule on the logged val_loss: the lr halves after
     * patience + 1 epochs without a relative improvement of 1e-4. */
    double best = INFINITY, lr = 0.02;
    int bad = 0, rows = 0, agree = 1;
    for (char *line = log ? strchr(log, '\n') : NULL; line && line[1]; line = strchr(line + 1, '\n')) {
        int e;
        double tl, vl, acc, got;
        if (sscanf(line + 1, "%d,%lf,%lf,%lf,%lf", &e, &tl, &vl, &acc, &got) != 5)
            break;
        if (vl < best * (1 - 1e-4)) {
            best = vl;
            bad = 0;
        } else if (++bad > 1) {
            lr *= 0.5;
            bad = 0;
        }
        agree &= fabs(got - lr) <= 1e-9 * lr;
        rows++;
    }
    CHECK(rows == 12 && agree && lr < 0.02, "ReduceLROnPlateau per epoch on val_loss: %d rows, lr %g", rows, lr);
    free(log);
    remove("ttr_pl.log");
}

/* A separable set at any finite scale trains (standardization without
 * overflow or underflow). */
static void test_scaled_data(void)
{
    const double scales[] = {1e154, 1e-170, 1e308, 1};
    for (size_t s = 0; s < sizeof scales / sizeof scales[0]; s++) {
        FILE *f = fopen("ttr_scale.csv", "w");
        if (!f)
            continue;
        fputs("x1,x2,y\n", f);
        for (int i = 0; i < 200; i++) {
            double a = ((i * 37) % 100) / 100.0 - 0.5, b = ((i * 61) % 100) / 100.0 - 0.5;
            double x1 = a * (scales[s] == 1e308 ? 1.7 : 1.0), x2 = b;
            fprintf(f, "%.17g,%.17g,%d\n", x1 * scales[s], x2 * scales[s], a + b > 0);
        }
        fclose(f);
        descent_train_config c;
        descent_train_default_config(&c);
        c.data = "ttr_scale.csv";
        c.target = "y";
        c.model = "logistic()";
        c.optimizer = "SGD(lr=0.5)";
        c.seed = 1;
        descent_error err;
        descent_trainer *t;
        if (descent_trainer_create(&t, &c, &err) < 0) {
            CHECK(0, "scale %g: %s", scales[s], err.message);
            continue;
        }
        descent_epoch_result r = {0};
        int rc = 0;
        for (int e = 0; e < 30 && rc == 0; e++)
            rc = descent_trainer_epoch(t, NULL, NULL, &r);
        CHECK(rc == 0 && r.val_accuracy >= 0.95 && isfinite(r.val_loss), "scale %g: rc %d accuracy %g loss %g",
              scales[s], rc, r.val_accuracy, r.val_loss);
        descent_trainer_destroy(t);
    }
    remove("ttr_scale.csv");
}

/* A target column of words: classes numbered in sorted order, the names in
 * --json and in the checkpoint. */
static void test_text_labels(void)
{
    const char *animals[] = {"zebra", "ant", "\"moose\""};
    FILE *f = fopen("ttr_words.csv", "w");
    if (!f)
        return;
    fputs("x1,x2,animal\n", f);
    for (int i = 0; i < 90; i++)
        fprintf(f, "%d.%d,%d,%s\n", (i % 3) * 2, i % 10, (i * 7) % 5, animals[i % 3]);
    fclose(f);
    char args[4096];
    int st;
    snprintf(args, sizeof args, "--data ttr_words.csv --target animal --model 'softmax()' --opt 'Adam(lr=0.1)' "
             "--epochs 30 --seed 1 --json --save ttr_words.ckpt");
    char *out = run(args, &st);
    CHECK(st == 0 && strstr(last_line(out), "\"classes\": [\"ant\", \"moose\", \"zebra\"]") &&
              strstr(last_line(out), "\"val_accuracy\": 1,"), "text labels: %d %s", st, out);
    free(out);
    snprintf(args, sizeof args, "--data ttr_words.csv --target animal --model 'softmax()' --opt 'Adam(lr=0.1)' "
             "--epochs 31 --seed 1 --json --resume ttr_words.ckpt");
    out = run(args, &st);
    CHECK(st == 0 && strstr(last_line(out), "\"classes\": [\"ant\", \"moose\", \"zebra\"]"), "resumed: %d %s", st, out);
    free(out);
    /* The mapping is part of the checkpoint. */
    size_t n;
    char *ck = t_read_file("ttr_words.ckpt", &n);
    int found = 0;
    for (size_t i = 0; ck && i + 5 < n; i++)
        found |= memcmp(ck + i, "moose", 5) == 0;
    CHECK(found, "class names in the checkpoint");
    free(ck);
    /* A number among the words is refused, and naming the row. */
    f = fopen("ttr_words.csv", "a");
    if (f) {
        fputs("1,2,7\n", f);
        fclose(f);
    }
    out = run(args, &st);
    CHECK(st == 2 && strstr(out, "mixes words and numbers (data row 91"), "mixed labels: %d %s", st, out);
    free(out);
    remove("ttr_words.csv");
    remove("ttr_words.ckpt");
}

/* A resumed run continues its log (rows kept, later ones dropped, missing
 * ones from the checkpoint) and its plot (every epoch). */
static void test_log_continues(void)
{
    char args[4096];
    int st;
    const char *base = "--target label --model 'softmax()' --opt 'SGD(lr=0.1)' --seed 2";
    snprintf(args, sizeof args, "--data '%s' %s --epochs 2 --save ttr_l.ckpt --log ttr_l.log", digits, base);
    free(run(args, &st));
    size_t n0;
    char *before = t_read_file("ttr_l.log", &n0);
    /* A row written after the save (as by a run killed later) is dropped. */
    FILE *f = fopen("ttr_l.log", "a");
    if (f) {
        fputs("3,9,9,0.5,0.1,0.001\n", f);
        fclose(f);
    }
    snprintf(args, sizeof args, "--data '%s' %s --epochs 4 --resume ttr_l.ckpt --log ttr_l.log --plot ttr_l.svg",
             digits, base);
    free(run(args, &st));
    size_t n1;
    char *after = t_read_file("ttr_l.log", &n1);
    double val[8];
    int rows = read_log("ttr_l.log", val, 8);
    CHECK(st == 0 && before && after && n1 > n0 && memcmp(before, after, n0) == 0 && rows == 4 &&
              !strstr(after, "3,9,9"), "continued log:\n%s", after ? after : "");
    /* The plot has all four epochs: four points in each polyline. */
    size_t ns;
    char *svg = t_read_file("ttr_l.svg", &ns);
    const char *pl = svg ? strstr(svg, "points=\"") : NULL;
    int points = 0;
    for (const char *p = pl ? pl + 8 : NULL; p && *p && *p != '"'; p++)
        points += *p == ',';
    CHECK(points == 4, "plot of the resumed run: %d points", points);
    /* A new log path gets the saved epochs from the checkpoint. */
    snprintf(args, sizeof args, "--data '%s' %s --epochs 3 --resume ttr_l.ckpt --log ttr_l2.log", digits, base);
    free(run(args, &st));
    rows = read_log("ttr_l2.log", val, 8);
    CHECK(st == 0 && rows == 3, "new log: %d rows", rows);
    free(before);
    free(after);
    free(svg);
    remove("ttr_l.ckpt");
    remove("ttr_l.log");
    remove("ttr_l2.log");
    remove("ttr_l.svg");
}

/* Messages: a long spec in an error is an excerpt marked with "...", the
 * marks under the part they name; a dtype mismatch names the dtypes. */
static void test_messages(void)
{
    char args[4096];
    int st;
    snprintf(args, sizeof args, "--data '%s' --target label --model 'softmax()' --opt SGD --epochs 2 --sched "
             "'SequentialLR(schedulers=[LinearLR(start_factor=0.01, total_iters=100), CosineAnnealingWarmRestarts("
             "T_0=200, T_mult=2, eta_min=1e-5), ExponentialLR(gamma=0.999), LinearLR(start_factor=0.01, "
             "total_iters=100), CosineAnnealingWarmRestarts(T_0=200, T_mult=2, eta_min=1e-5)], milestones=[100, 1500, "
             "3000])'", digits);
    char *out = run(args, &st);
    const char *excerpt = strstr(out, "\n  ...");
    const char *marks = excerpt ? strchr(excerpt + 1, '\n') : NULL;
    const char *target = excerpt ? strstr(excerpt, "[100, 1500") : NULL;
    const char *caret = marks ? strchr(marks, '^') : NULL;
    CHECK(st == 2 && excerpt && marks && target && caret && caret - marks == target - excerpt,
          "spec excerpt with an ellipsis and aligned marks: %s", out);
    free(out);
    snprintf(args, sizeof args, "--data '%s' --target label --model 'softmax()' --opt SGD --epochs 1 --save ttr_m.ckpt",
             digits);
    free(run(args, &st));
    snprintf(args, sizeof args, "--data '%s' --target label --model 'softmax()' --opt SGD --epochs 2 --dtype f64 "
             "--resume ttr_m.ckpt", digits);
    out = run(args, &st);
    CHECK(st == 2 && strstr(out, "--dtype: saved 'f32', now 'f64'"), "dtype by name: %s", out);
    free(out);
    /* An f64 run resumes as f64. */
    snprintf(args, sizeof args, "--data '%s' --target label --model 'softmax()' --opt SGD --epochs 1 --dtype f64 "
             "--save ttr_m.ckpt", digits);
    free(run(args, &st));
    snprintf(args, sizeof args, "--data '%s' --target label --model 'softmax()' --opt SGD --epochs 2 --dtype f64 "
             "--resume ttr_m.ckpt", digits);
    out = run(args, &st);
    CHECK(st == 0, "f64 resume: %s", out);
    free(out);
    remove("ttr_m.ckpt");
}

/* --save is durable: the file is fsync'd before it is renamed into place
 * (seen through strace where it is installed). */
static void test_fsync(void)
{
    if (t_run("strace -o /dev/null true >/dev/null 2>&1", NULL) != 0) {
        printf("note: no working strace: the fsync of --save is not observed here\n");
        return;
    }
    char cmd[4096], *out = NULL;
    /* LeakSanitizer cannot run under ptrace: the leak check is off here. */
    snprintf(cmd, sizeof cmd, "ASAN_OPTIONS=detect_leaks=0 strace -f -e trace=fsync,fdatasync,rename,renameat,renameat2 -o ttr_strace.log "
             "%s train --data '%s' --target label --model 'softmax()' --opt SGD --epochs 1 --save ttr_sync.ckpt "
             ">/dev/null 2>&1", cli_path, digits);
    int st = t_run(cmd, &out);
    free(out);
    size_t n;
    char *log = t_read_file("ttr_strace.log", &n);
    const char *sync = log ? strstr(log, "fsync(") : NULL;
    const char *ren = log ? strstr(log, "rename") : NULL;
    while (ren && !strstr(ren, "ttr_sync.ckpt"))
        ren = strstr(ren + 1, "rename");
    CHECK(st == 0 && sync && ren && sync < ren, "--save: fsync before rename: %s", log ? log : "(no log)");
    free(log);
    remove("ttr_strace.log");
    remove("ttr_sync.ckpt");
}

/* descent compare: schedules fitted to the run, a short one refused before
 * training; a derivative-free method shows no gradient norm. */
static void test_compare(void)
{
    char cmd[4096], *out = NULL;
    snprintf(cmd, sizeof cmd, "%s compare --data '%s' --target label --model 'softmax()' --opt 'SGD(lr=0.1, momentum=0.9)' "
             "--opt 'Adam(lr=0.01)' --sched 'OneCycleLR(max_lr=0.1)' --epochs 2 --out ttr_cmp 2>&1", cli_path, digits);
    int st = t_run(cmd, &out);
    CHECK(st == 0, "compare with OneCycleLR fitted: %d %s", st, out ? out : "");
    free(out);
    snprintf(cmd, sizeof cmd, "%s compare --data '%s' --target label --model 'softmax()' --opt 'SGD(lr=0.1, momentum=0.9)' "
             "--opt 'Adam(lr=0.01)' --sched 'OneCycleLR(max_lr=0.1, total_steps=30)' --epochs 2 --out ttr_cmp 2>&1",
             cli_path, digits);
    st = t_run(cmd, &out);
    CHECK(st == 2 && out && strstr(out, "ends before the run") && !strstr(out, "train_loss"),
          "compare with a short schedule: %d %s", st, out ? out : "");
    free(out);
    snprintf(cmd, sizeof cmd, "%s compare --fn 'rosenbrock()' --opt 'CMAES(sigma0=0.3)' --opt 'Adam(lr=0.05)' "
             "--steps 30 --out ttr_cmp >/dev/null 2>&1", cli_path);
    st = t_run(cmd, NULL);
    size_t n;
    char *html = t_read_file("ttr_cmp/index.html", &n);
    const char *cma = html ? strstr(html, "CMAES(sigma0=0.3)</") : NULL;
    const char *adam = html ? strstr(html, "Adam(lr=0.05)</") : NULL;
    /* In each row: final f, then max |grad f|. */
    const char *cma_row_end = cma ? strstr(cma, "</tr>") : NULL, *adam_row_end = adam ? strstr(adam, "</tr>") : NULL;
    int cma_dash = 0, adam_dash = 0;
    if (cma_row_end && adam_row_end) {
        char row[2048];
        snprintf(row, sizeof row, "%.*s", (int)(cma_row_end - cma), cma);
        cma_dash = strstr(row, "<td>&#8212;</td>") != NULL && !strstr(row, ">inf<");
        snprintf(row, sizeof row, "%.*s", (int)(adam_row_end - adam), adam);
        adam_dash = strstr(row, "<td>&#8212;</td>") != NULL;
    }
    CHECK(st == 0 && cma_dash && !adam_dash, "compare --fn: CMA-ES without a gradient norm (%d, %d), exit %d", cma_dash,
          adam_dash, st);
    free(html);
    t_run("rm -rf ttr_cmp", NULL);
}

int main(int argc, char **argv)
{
    src_dir = argc > 1 ? argv[1] : "tests";
    cli_path = argc > 2 ? argv[2] : "descent";
    snprintf(digits, sizeof digits, "%s/../data/digits.csv", src_dir);
    test_mid_epoch();
    test_resume_refusals();
    test_forged();
    test_version1();
    test_patience();
    test_fitted_schedules();
    test_plateau_per_epoch();
    test_scaled_data();
    test_compare();
    test_text_labels();
    test_messages();
    test_log_continues();
    test_fsync();
    test_interrupts();
    return t_done();
}
