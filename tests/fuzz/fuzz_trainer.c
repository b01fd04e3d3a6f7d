/* libFuzzer target: the training checkpoint loader (descent_trainer_load),
 * then more training. Each input is tried as is and with its length and
 * CRC repaired (so mutations reach the parser behind the checksum), on
 * three runs that between them have word and number class labels,
 * regression, f32 and f64, a fitted schedule, a plateau schedule, early
 * stopping with best parameters, the training utilities and allowed
 * changes. A rejected file must leave the trainer as it was (it saves the
 * same file as before); after an accepted one the run trains two more
 * epochs (or a part-done one, cancelled and continued), saves, and the
 * saved file loads into a fresh trainer of the same run. A crash, leak,
 * undefined behaviour or broken rule is a finding.
 *
 * fuzz_write_corpus() writes the starting corpus (tests/fuzz/corpus/trainer):
 * checkpoints of the three runs before and after each of their first two
 * epochs and in the middle of an epoch. */
#include "descent.h"
#include "repair.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int fuzz_write_corpus(const char *dir);
int fuzz_accepted(void);

static int accepted; /* inputs loaded and trained on */

int fuzz_accepted(void) { return accepted; }

#define NRUNS 3

static char dir[64];
static char path_words[96], path_numbers[96], path_in[96], path_before[96], path_after[96];

static void cleanup(void)
{
    const char *files[] = {path_words, path_numbers, path_in, path_before, path_after};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++)
        remove(files[i]);
    rmdir(dir);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0)
        abort();
}

/* Two small data sets: a target of words, and numbers (a class column and
 * a continuous one). */
static void setup(void)
{
    if (dir[0])
        return;
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(dir, sizeof dir, "%s/fuzz_trainer_XXXXXX", base);
    if (!mkdtemp(dir))
        abort();
    snprintf(path_words, sizeof path_words, "%s/words.csv", dir);
    snprintf(path_numbers, sizeof path_numbers, "%s/numbers.csv", dir);
    snprintf(path_in, sizeof path_in, "%s/in.ckpt", dir);
    snprintf(path_before, sizeof path_before, "%s/before.ckpt", dir);
    snprintf(path_after, sizeof path_after, "%s/after.ckpt", dir);
    atexit(cleanup);
    char words[2048] = "x1,x2,animal\n", numbers[2048] = "x1,x2,cls,y\n";
    static const char *const names[] = {"cat", "dog", "eel"};
    for (int i = 0; i < 16; i++) {
        double x1 = (i % 5) - 2.0, x2 = (i * 7 % 11) / 4.0 - 1.0;
        int k = (x1 + x2 > 0.5) + (x1 - x2 > 1.0);
        char row[128];
        snprintf(row, sizeof row, "%g,%g,%s\n", x1, x2, names[k]);
        strcat(words, row);
        snprintf(row, sizeof row, "%g,%g,%d,%g\n", x1, x2, k, 0.5 * x1 - x2 + 0.25 * k);
        strcat(numbers, row);
    }
    write_text(path_words, words);
    write_text(path_numbers, numbers);
}

static descent_trainer *create(int run)
{
    descent_train_config c;
    descent_train_default_config(&c);
    c.seed = 3;
    c.val_fraction = 0.25;
    c.batch_size = 4;
    if (run == 0) { /* words, f32, a fitted one-cycle schedule, early stopping */
        c.data = path_words;
        c.target = "animal";
        c.model = "mlp(hidden=(3,))";
        c.optimizer = "AdamW(lr=0.01)";
        c.schedule = "OneCycleLR(max_lr=0.1)";
        c.epochs = 6;
        c.patience = 1;
        c.min_delta = 0.5;
    } else if (run == 1) { /* regression, f64, plateau, the utilities */
        c.data = path_numbers;
        c.target = "y";
        c.model = "linear";
        c.optimizer = "SGD(lr=0.05, momentum=0.9)";
        c.schedule = "ReduceLROnPlateau(patience=0)";
        c.dtype = DESCENT_F64;
        c.accumulate = 2;
        c.no_decay_1d = 1;
        c.clip_norm = 1;
        c.swa_start = 2;
    } else { /* number labels, every allowed change */
        c.data = path_numbers;
        c.target = "cls";
        c.model = "softmax";
        c.optimizer = "Adagrad(lr=0.1)";
        c.batch_size = 5;
        c.clip_value = 2;
        c.ema_decay = 0.9;
        c.allow_change = "data,seed,val,batch-size,opt,clip-norm,clip-value";
    }
    descent_trainer *t;
    descent_error err;
    if (descent_trainer_create(&t, &c, &err) < 0) {
        fprintf(stderr, "fuzz_trainer: run %d: %s\n", run, err.message);
        abort();
    }
    return t;
}

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        abort();
    unsigned char *b = NULL;
    size_t cap = 0;
    *len = 0;
    for (;;) {
        if (*len == cap && !(b = realloc(b, cap = cap ? 2 * cap : 4096)))
            abort();
        size_t got = fread(b + *len, 1, cap - *len, f);
        *len += got;
        if (got == 0)
            break;
    }
    fclose(f);
    return b;
}

static void save(descent_trainer *t, const char *path)
{
    if (descent_trainer_save(t, path) < 0)
        abort();
}

static int cancel_first(void *ctx, const descent_train_progress *p)
{
    (void)ctx;
    return p->batch == 1;
}

static void check(const uint8_t *data, size_t size, int run)
{
    FILE *f = fopen(path_in, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0)
        abort();
    descent_trainer *t = create(run);
    save(t, path_before);
    if (descent_trainer_load(t, path_in) < 0) {
        /* Refused: nothing changed. */
        save(t, path_after);
        size_t a, b;
        unsigned char *before = slurp(path_before, &b), *after = slurp(path_after, &a);
        if (a != b || memcmp(before, after, a) != 0)
            abort();
        free(before);
        free(after);
        descent_trainer_destroy(t);
        return;
    }
    /* Accepted: train on (a part of an epoch, then whole ones). */
    accepted++;
    int rc = descent_trainer_epoch(t, cancel_first, NULL, NULL);
    for (int e = 0; e < 2 && rc >= 0; e++)
        rc = descent_trainer_epoch(t, NULL, NULL, NULL);
    if (rc < 0 && rc != DESCENT_ERR_STATE && rc != DESCENT_ERR_NONFINITE && rc != DESCENT_ERR_INVALID)
        abort();
    size_t n;
    const descent_epoch_result *h = descent_trainer_history(t, &n);
    if ((int)n != descent_trainer_epochs_done(t))
        abort();
    for (size_t i = 0; i < n; i++)
        if (h[i].epoch != (int)i + 1)
            abort();
    /* What it saves loads into a fresh trainer of the run. */
    save(t, path_after);
    descent_trainer *u = create(run);
    if (descent_trainer_load(u, path_after) < 0)
        abort();
    if (descent_trainer_epochs_done(u) != descent_trainer_epochs_done(t))
        abort();
    descent_trainer_destroy(u);
    descent_trainer_destroy(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    for (int run = 0; run < NRUNS; run++) {
        check(data, size, run);
        uint8_t *fixed = repaired_frame(data, size);
        if (fixed) {
            check(fixed, size, run);
            free(fixed);
        }
    }
    return 0;
}

/* The starting corpus: each run's checkpoint before its first epoch, after
 * epochs 1 and 2 and in the middle of epoch 2 (its first batch done). */
int fuzz_write_corpus(const char *out)
{
    setup();
    for (int run = 0; run < NRUNS; run++) {
        descent_trainer *t = create(run);
        for (int e = 0; e <= 2; e++) {
            if (e > 0 && descent_trainer_epoch(t, NULL, NULL, NULL) < 0)
                return -1;
            char path[512];
            snprintf(path, sizeof path, "%s/run%d-epoch%d", out, run, e);
            if (descent_trainer_save(t, path) < 0)
                return -1;
        }
        descent_trainer_destroy(t);
        t = create(run);
        descent_trainer_epoch(t, NULL, NULL, NULL);
        if (descent_trainer_epoch(t, cancel_first, NULL, NULL) != DESCENT_STOP_CANCELLED)
            return -1;
        char path[512];
        snprintf(path, sizeof path, "%s/run%d-mid-epoch2", out, run);
        if (descent_trainer_save(t, path) < 0)
            return -1;
        descent_trainer_destroy(t);
    }
    return 0;
}
