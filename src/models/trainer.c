/* Training on a CSV data set: load, split, standardize, shuffle into
 * batches, step the optimizer and schedule, evaluate, checkpoint. */
#include "models.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <stdarg.h>
#include <sys/stat.h>

/* Labels are small non-negative integers: at most this many classes. */
#define MAX_CLASSES 256
/* Independent generator streams derived from the one seed. */
enum { STREAM_INIT = 1, STREAM_SPLIT = 2, STREAM_SHUFFLE = 3 };

static const char ckpt_magic[8] = {'D', 'S', 'C', 'T', 'R', 'A', 'I', 'N'};
#define CKPT_VERSION 2u /* 1: 0.1.0, native byte order (read on little-endian hosts) */

typedef struct run_id {
    uint64_t data_hash; /* FNV-1a of the data file's bytes */
    char *target, *model, *opt, *sched; /* sched: "" without one */
    uint64_t seed, batch_size;
    double val, clip_norm, clip_value, ema;
    uint32_t dtype, accumulate, no_decay_1d, swa_start;
} run_id;

static void run_id_free(run_id *id)
{
    free(id->target);
    free(id->model);
    free(id->opt);
    free(id->sched);
    memset(id, 0, sizeof *id);
}

struct descent_trainer {
    descent_model *model;
    descent_optimizer *opt;
    bool has_schedule;
    bool schedule_metric;
    size_t features, classes;
    size_t ntrain, nval;
    double *Xtrain, *ytrain, *Xval, *yval; /* standardized, row-major */
    size_t batch_size;                     /* rows per batch (the last may be shorter) */
    size_t *order;                         /* this epoch's order of training rows */
    double *Xb, *yb;                       /* the batch being processed */
    descent_rng rng;                       /* shuffling */
    int epochs_done;
    int rank, ranks;                       /* data parallelism: this rank's share of each batch */
    int (*reduce)(void *ctx, descent_optimizer *opt, size_t mine, size_t rows, double *loss);
    void *reduce_ctx;
    double clip_norm, clip_value; /* 0: off */
    int swa_start;                /* 0: off */
    run_id id;                    /* what defines the run (checkpoints) */
    const char *allow_change;     /* the config's, or NULL */
    descent_hparams hp;           /* the optimizer spec's, for an allowed change */
    char *sched_fitted;           /* the schedule in use, or NULL */
    char **class_names;           /* classes of them for a target of words */
    descent_epoch_result *hist;   /* every epoch done */
    size_t nhist, hist_cap;
    /* The epoch in progress: the batches done, the generator before its
     * shuffle (to shuffle alike after a load), the loss summed so far. */
    size_t batch_next;
    descent_rng rng_epoch;
    double loss_sum;
    /* Early stopping: the best monitored loss (+inf before the first
     * epoch), its epoch and its parameters. */
    int planned_epochs;           /* the config's epochs (0: unknown) */
    int patience;
    double min_delta, best_loss;
    int best_epoch, stopped;
    unsigned char *best_params;
    size_t param_bytes_total;
    char changes[1024];
    char errmsg[2048];
};

static int tfail(descent_trainer *t, int status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static void copy_params(descent_trainer *t, int back);

static int tfail(descent_trainer *t, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    descent_vformat(t->errmsg, sizeof t->errmsg, fmt, ap);
    va_end(ap);
    return status;
}

static void default_config(descent_train_config *c)
{
    memset(c, 0, sizeof *c);
    c->struct_size = sizeof *c;
    c->batch_size = 32;
    c->val_fraction = 0.2;
    c->dtype = DESCENT_F32;
    c->blas = -1;
}

void descent_train_default_config_sized(descent_train_config *c, size_t struct_size)
{
    descent_train_config full;
    default_config(&full);
    descent_struct_defaults_out(c, struct_size, &full, sizeof full);
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; names && i < n; i++)
        free(names[i]);
    free(names);
}

void descent_trainer_destroy(descent_trainer *t)
{
    if (!t)
        return;
    descent_destroy(t->opt);
    descent_model_destroy(t->model);
    free(t->Xtrain);
    free(t->ytrain);
    free(t->Xval);
    free(t->yval);
    free(t->order);
    free(t->Xb);
    free(t->yb);
    run_id_free(&t->id);
    free(t->sched_fitted);
    free_names(t->class_names, t->classes);
    free(t->hist);
    free(t->best_params);
    free(t);
}

/* Split the table's rows (seeded permutation: the first nval go to
 * validation), then standardize every feature with the training split's
 * mean and standard deviation (population form; a constant column is only
 * centred). */
static int load_data(descent_trainer *t, const descent_table *tab, size_t target, double val_fraction,
                     uint64_t seed)
{
    size_t rows = tab->rows, f = tab->cols - 1;
    size_t nval = (size_t)floor(val_fraction * (double)rows + 0.5);
    if (nval >= rows)
        nval = rows - 1;
    t->features = f;
    t->nval = nval;
    t->ntrain = rows - nval;
    size_t *perm = malloc(rows * sizeof *perm);
    t->Xtrain = malloc(t->ntrain * f * sizeof(double));
    t->ytrain = malloc(t->ntrain * sizeof(double));
    t->Xval = malloc((nval ? nval : 1) * f * sizeof(double));
    t->yval = malloc((nval ? nval : 1) * sizeof(double));
    double *mean = calloc(f, sizeof *mean), *sd = calloc(f, sizeof *sd);
    if (!perm || !t->Xtrain || !t->ytrain || !t->Xval || !t->yval || !mean || !sd) {
        free(perm);
        free(mean);
        free(sd);
        return tfail(t, DESCENT_ERR_NOMEM, "out of memory for %zu rows", rows);
    }
    for (size_t i = 0; i < rows; i++)
        perm[i] = i;
    descent_rng split;
    descent_rng_seed(&split, seed, STREAM_SPLIT);
    descent_rng_shuffle(&split, perm, rows);
    for (size_t r = 0; r < rows; r++) {
        const double *src = tab->values + perm[r] * tab->cols;
        bool val = r < nval;
        double *dst = val ? t->Xval + r * f : t->Xtrain + (r - nval) * f;
        for (size_t j = 0, k = 0; j < tab->cols; j++)
            if (j != target)
                dst[k++] = src[j];
        (val ? t->yval : t->ytrain)[val ? r : r - nval] = src[target];
    }
    free(perm);
    /* Overflow-free: every column is first divided by a power of two s near
     * its largest magnitude, exactly (no rounding), so sums of values and of
     * squared deviations stay below rows * 16 whatever the data's scale
     * (1e-300 or 1e308). z = (x/s - mean/s) / (sd/s) equals (x - mean) / sd
     * bit for bit whenever the unscaled form neither overflows nor
     * underflows (a constant column is centred in units of s). */
    double *scale = calloc(f ? f : 1, sizeof *scale);
    if (!scale) {
        free(mean);
        free(sd);
        return tfail(t, DESCENT_ERR_NOMEM, "out of memory for %zu rows", rows);
    }
    for (size_t j = 0; j < f; j++) {
        double mx = 0;
        for (size_t i = 0; i < t->ntrain; i++)
            mx = fmax(mx, fabs(t->Xtrain[i * f + j]));
        int e = 0;
        if (mx > 0)
            frexp(mx, &e);
        scale[j] = ldexp(1.0, e - 1); /* mx / s in [1, 2): 2^1023 at most, never inf */
    }
    for (size_t i = 0; i < t->ntrain; i++)
        for (size_t j = 0; j < f; j++)
            mean[j] += t->Xtrain[i * f + j] / scale[j];
    for (size_t j = 0; j < f; j++)
        mean[j] /= (double)t->ntrain;
    for (size_t i = 0; i < t->ntrain; i++)
        for (size_t j = 0; j < f; j++) {
            double d = t->Xtrain[i * f + j] / scale[j] - mean[j];
            sd[j] += d * d;
        }
    for (size_t j = 0; j < f; j++) {
        sd[j] = sqrt(sd[j] / (double)t->ntrain);
        if (!(sd[j] > 0))
            sd[j] = 1; /* a constant column is only centred */
    }
    for (size_t i = 0; i < t->ntrain; i++)
        for (size_t j = 0; j < f; j++)
            t->Xtrain[i * f + j] = (t->Xtrain[i * f + j] / scale[j] - mean[j]) / sd[j];
    for (size_t i = 0; i < nval; i++)
        for (size_t j = 0; j < f; j++)
            t->Xval[i * f + j] = (t->Xval[i * f + j] / scale[j] - mean[j]) / sd[j];
    free(scale);
    free(mean);
    free(sd);
    return 0;
}

/* A target column of words (text labels): each distinct word, in order of
 * first appearance, stands in the table as -(index + 1) until the words
 * are numbered in sorted order. */
typedef struct words {
    char **w;
    size_t n;
    int overflow;
} words;

static void words_free(words *w)
{
    for (size_t i = 0; i < w->n; i++)
        free(w->w[i]);
    free(w->w);
    w->w = NULL;
    w->n = 0;
}

static int add_word(void *ctx, const char *text, double *value)
{
    words *w = ctx;
    size_t len = strlen(text);
    if (len >= 2 && (text[0] == '"' || text[0] == '\'') && text[len - 1] == text[0]) {
        text++;
        len -= 2;
    }
    if (len == 0)
        return -1;
    for (size_t i = 0; i < w->n; i++)
        if (strlen(w->w[i]) == len && memcmp(w->w[i], text, len) == 0) {
            *value = -(double)(i + 1);
            return 0;
        }
    if (w->n == MAX_CLASSES) {
        w->overflow = 1;
        return -1;
    }
    if (!w->w && !(w->w = calloc(MAX_CLASSES, sizeof *w->w)))
        return -1;
    if (!(w->w[w->n] = malloc(len + 1)))
        return -1;
    memcpy(w->w[w->n], text, len);
    w->w[w->n][len] = '\0';
    *value = -(double)++w->n;
    return 0;
}

static const char *const *sort_base;

static int by_word(const void *a, const void *b)
{
    return strcmp(sort_base[*(const size_t *)a], sort_base[*(const size_t *)b]);
}

/* Number the words in sorted (byte) order: the class names, and the
 * target column rewritten to class indices. A number among the words is
 * refused: it is not clear whether it names a class. */
static int number_words(words *w, descent_table *tab, size_t target, int task, const descent_train_config *c,
                        char ***names, descent_error *err)
{
    for (size_t i = 0; i < tab->rows; i++) {
        double v = tab->values[i * tab->cols + target];
        if (!(v < 0))
            return descent_fail(err, DESCENT_ERR_INVALID, "%s: column '%s' mixes words and numbers (data row %zu: "
                                "%g); write every label as a word, or every label as a number", c->data, c->target,
                                i + 1, v);
    }
    if (task == DESCENT_TASK_REGRESSION)
        return descent_fail(err, DESCENT_ERR_INVALID, "%s: column '%s' holds words, class labels; the model '%s' "
                            "predicts a number", c->data, c->target, c->model);
    if (w->n < 2)
        return descent_fail(err, DESCENT_ERR_INVALID, "%s: column '%s' holds one word only: one class", c->data,
                            c->target);
    size_t order[MAX_CLASSES], rank[MAX_CLASSES];
    for (size_t i = 0; i < w->n; i++)
        order[i] = i;
    sort_base = (const char *const *)w->w;
    qsort(order, w->n, sizeof *order, by_word);
    char **sorted = calloc(w->n, sizeof *sorted);
    if (!sorted)
        return descent_fail(err, DESCENT_ERR_NOMEM, "out of memory");
    for (size_t k = 0; k < w->n; k++) {
        rank[order[k]] = k;
        sorted[k] = w->w[order[k]];
        w->w[order[k]] = NULL;
    }
    for (size_t i = 0; i < tab->rows; i++) {
        double *v = &tab->values[i * tab->cols + target];
        *v = (double)rank[(size_t)(-*v) - 1];
    }
    *names = sorted;
    return 0;
}

/* A class label when every value is an integer in [0, MAX_CLASSES) and at
 * least two classes result; 0 (continuous) otherwise. */
static size_t detect_classes(const descent_table *tab, size_t target)
{
    double mx = 0;
    for (size_t i = 0; i < tab->rows; i++) {
        double v = tab->values[i * tab->cols + target];
        if (!(v >= 0 && v < MAX_CLASSES && v == floor(v)))
            return 0;
        mx = v > mx ? v : mx;
    }
    return mx >= 1 ? (size_t)mx + 1 : 0;
}

/* FNV-1a, 64 bits (Fowler, Noll, Vo), of a file's bytes. */
static int hash_file(const char *path, uint64_t *h, descent_error *err)
{
    FILE *f = descent_fopen(path, "rb");
    if (!f)
        return descent_fail(err, DESCENT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    unsigned char buf[1 << 14];
    uint64_t v = 0xcbf29ce484222325ULL;
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        for (size_t i = 0; i < n; i++)
            v = (v ^ buf[i]) * 0x100000001b3ULL;
    int bad = ferror(f);
    fclose(f);
    if (bad)
        return descent_fail(err, DESCENT_ERR_IO, "%s: read error", path);
    *h = v;
    return 0;
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s ? s : "");
    char *d = malloc(n + 1);
    if (d)
        memcpy(d, s ? s : "", n + 1);
    return d;
}

/* Fields a resumed run may change with allow_change. */
static const char *const changeable[] = {"data", "seed", "val", "batch-size", "opt", "clip-norm", "clip-value", NULL};

static int in_list(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; p && *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        while (len && *p == ' ')
            p++, len--;
        while (len && p[len - 1] == ' ')
            len--;
        if (len == n && memcmp(p, name, n) == 0)
            return 1;
        p = e ? e + 1 : p + len;
    }
    return 0;
}

/* Record what defines the run; a checkpoint carries it and a load compares. */
static int record_run(descent_trainer *t, const descent_train_config *c, descent_error *err)
{
    run_id *id = &t->id;
    int rc = hash_file(c->data, &id->data_hash, err);
    if (rc < 0)
        return rc;
    id->target = dup_str(c->target);
    id->model = dup_str(c->model);
    id->opt = dup_str(c->optimizer);
    id->sched = dup_str(c->schedule);
    if (!id->target || !id->model || !id->opt || !id->sched)
        return descent_fail(err, DESCENT_ERR_NOMEM, "out of memory");
    id->seed = c->seed;
    id->batch_size = t->batch_size;
    id->val = c->val_fraction;
    id->clip_norm = c->clip_norm;
    id->clip_value = c->clip_value;
    id->ema = c->ema_decay;
    id->dtype = (uint32_t)c->dtype;
    id->accumulate = c->accumulate > 1 ? (uint32_t)c->accumulate : 1;
    id->no_decay_1d = (uint32_t)c->no_decay_1d;
    id->swa_start = (uint32_t)c->swa_start;
    for (const char *p = c->allow_change; p && *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        char name[32];
        snprintf(name, sizeof name, "%.*s", (int)(len < 31 ? len : 31), p);
        int known = 0;
        for (int i = 0; changeable[i]; i++)
            known |= in_list(name, changeable[i]);
        if (!known)
            return descent_fail(err, DESCENT_ERR_INVALID, "allow_change: '%s' is not one of data, seed, val, "
                                "batch-size, opt, clip-norm, clip-value", name);
        p = e ? e + 1 : p + len;
    }
    return 0;
}

static size_t batches_of(const descent_trainer *t) { return (t->ntrain + t->batch_size - 1) / t->batch_size; }

/* Clipping, then the step. Clipping by norm (torch.nn.utils.clip_grad_norm_:
 * g * max_norm / (norm + 1e-6) when that factor is below 1) runs inside the
 * step (descent_set_step_clip): the step reads g once for the norm and
 * applies the factor as its update reads g, the bits that
 * descent_clip_grad_norm then descent_step give, without the pass that
 * writes the clipped values into the gradient buffers; with accumulation,
 * of the mean the update reads, as PyTorch's idiom clips the accumulated
 * gradient. Value clipping (descent_clip_grad_value) still writes each
 * batch's values first. The step clip is turned on for this step only, so
 * the optimizer that descent_trainer_optimizer hands out steps as
 * configured. */
static int clip_and_step(descent_trainer *t, size_t b)
{
    int rc = t->clip_value > 0 ? descent_clip_grad_value(t->opt, t->clip_value) : 0;
    if (rc == 0 && t->clip_norm > 0)
        rc = descent_set_step_clip(t->opt, 1.0, t->clip_norm, 2.0);
    if (rc < 0)
        return tfail(t, rc, "epoch %d, batch %zu: %s", t->epochs_done + 1, b + 1, descent_errmsg(t->opt));
    rc = descent_step(t->opt);
    if (t->clip_norm > 0) {
        double norm = descent_step_grad_norm(t->opt);
        descent_set_step_clip(t->opt, 1.0, INFINITY, 2.0);
        /* A NaN or infinite gradient, or a norm of finite values that is
         * not finite: the step was not taken; refused as
         * descent_clip_grad_norm refuses it. */
        if (rc == DESCENT_STEP_SKIPPED || rc == DESCENT_ERR_NONFINITE)
            return tfail(t, DESCENT_ERR_NONFINITE,
                         "epoch %d, batch %zu: the total gradient norm is %g; gradients left unclipped",
                         t->epochs_done + 1, b + 1, norm);
    }
    if (rc < 0)
        return tfail(t, rc, "%s", descent_errmsg(t->opt));
    return rc;
}

/* Does the schedule last the run (its last update included)? */
static int check_schedule_length(const descent_trainer *t, const char *spec, descent_error *err)
{
    int64_t k = t->id.accumulate, updates = (int64_t)t->planned_epochs * (int64_t)batches_of(t) / k;
    double lr;
    descent_error e;
    if (!t->schedule_metric && t->planned_epochs > 0 && descent_schedule_lr_at(spec, t->hp.lr, updates, &lr, &e) < 0)
        return descent_fail(err, DESCENT_ERR_INVALID, "the schedule ends before the run: %d epochs are %lld updates, "
                            "and at the last: %s", t->planned_epochs, (long long)updates, e.message);
    return 0;
}

/* Attach the schedule with its omitted length fitted to the run, and refuse
 * one that would end before the run does. Schedules step once per update
 * (every accumulate batches), ReduceLROnPlateau once per epoch. */
static int attach_schedule(descent_trainer *t, const descent_train_config *c, descent_error *err)
{
    int64_t k = c->accumulate > 1 ? c->accumulate : 1, per_epoch = (int64_t)batches_of(t);
    int64_t updates = c->epochs * per_epoch / k, upe = (per_epoch + k - 1) / k;
    int rc = descent_train_fit_schedule(c->schedule, c->epochs, upe, updates, &t->sched_fitted, err);
    if (rc < 0)
        return rc;
    if ((rc = descent_set_schedule(t->opt, t->sched_fitted)) < 0)
        return descent_fail(err, rc, "%s", descent_errmsg(t->opt));
    t->has_schedule = true;
    t->schedule_metric = descent_schedule_needs_metric(t->opt) == 1;
    return check_schedule_length(t, t->sched_fitted, err);
}

int descent_trainer_create(descent_trainer **out, const descent_train_config *user, descent_error *err)
{
    if (!out)
        return descent_fail(err, DESCENT_ERR_INVALID, "out must not be NULL");
    *out = NULL;
    descent_train_config config;
    const descent_train_config *c = NULL;
    default_config(&config);
    if (user) {
        int rc = descent_struct_size_check(user->struct_size, DESCENT_TRAIN_CONFIG_MIN_SIZE, sizeof config,
                                           "descent_train_config", "descent_train_default_config", err);
        if (rc < 0)
            return rc;
        descent_struct_in(&config, sizeof config, user);
        c = &config;
    }
    if (!c || !c->data || !c->target || !c->model || !c->optimizer)
        return descent_fail(err, DESCENT_ERR_INVALID, "data, target, model and optimizer must be given");
    if (!(c->val_fraction >= 0 && c->val_fraction < 1))
        return descent_fail(err, DESCENT_ERR_INVALID, "val_fraction must be in [0, 1), got %g", c->val_fraction);
    if (c->blas < -1 || c->blas > 1)
        return descent_fail(err, DESCENT_ERR_INVALID, "blas must be -1, 0 or 1, got %d", c->blas);
    if (c->blas == 1 && !descent_blas_available())
        return descent_fail(err, DESCENT_ERR_STATE, "this build has no CBLAS");
    int rc = descent_train_check_utilities(c, err);
    if (rc < 0)
        return rc;
    int task;
    rc = descent_model_task(c->model, &task, err);
    if (rc < 0)
        return rc;
    /* Check the optimizer spec before reading data. */
    descent_hparams hp;
    int lookahead_k;
    double lookahead_alpha;
    if ((rc = descent_optimizer_spec_parse(c->optimizer, NULL, &hp, &lookahead_k, &lookahead_alpha, err)) < 0)
        return rc;
    descent_table tab;
    words w = {NULL, 0, 0};
    if ((rc = descent_table_read_csv_words(&tab, c->data, 1, c->target, add_word, &w, err)) < 0) {
        words_free(&w);
        if (w.overflow && rc == DESCENT_ERR_INVALID)
            descent_fail(err, rc, "%s: column '%s' has more than %d distinct words; class labels are at most %d",
                         c->data, c->target, MAX_CLASSES, MAX_CLASSES);
        return rc;
    }
    size_t target = tab.cols;
    for (size_t j = 0; j < tab.cols; j++)
        if (strcmp(tab.names[j], c->target) == 0)
            target = j;
    if (target == tab.cols) {
        char names[300] = "";
        for (size_t j = 0; j < tab.cols && strlen(names) < 250; j++) {
            size_t used = strlen(names);
            snprintf(names + used, sizeof names - used, "%s%s", j ? ", " : "", tab.names[j]);
        }
        rc = descent_fail(err, DESCENT_ERR_INVALID, "%s:1: no column named '%s' (columns: %s%s)", c->data, c->target,
                          names, strlen(names) >= 250 ? ", ..." : "");
        descent_table_free(&tab);
        return rc;
    }
    /* nan and inf parse as numbers; as data they would only surface later
     * as a non-finite loss, so name them here. Data rows are numbered from
     * 1 after the header. */
    for (size_t i = 0; i < tab.rows * tab.cols; i++)
        if (!isfinite(tab.values[i])) {
            rc = descent_fail(err, DESCENT_ERR_INVALID, "%s: data row %zu, column '%s': %g is not a finite number",
                              c->data, i / tab.cols + 1, tab.names[i % tab.cols], tab.values[i]);
            descent_table_free(&tab);
            return rc;
        }
    if (tab.cols < 2 || tab.rows < 2) {
        rc = descent_fail(err, DESCENT_ERR_INVALID, "%s: needs at least one feature column and two rows, has %zu "
                          "columns and %zu rows", c->data, tab.cols, tab.rows);
        descent_table_free(&tab);
        return rc;
    }
    char **class_names = NULL;
    if (w.n > 0 && (rc = number_words(&w, &tab, target, task, c, &class_names, err)) < 0) {
        words_free(&w);
        descent_table_free(&tab);
        return rc;
    }
    size_t classes = class_names ? w.n : task == DESCENT_TASK_REGRESSION ? 0 : detect_classes(&tab, target);
    words_free(&w);
    if (task == DESCENT_TASK_CLASSIFICATION && classes == 0) {
        rc = descent_fail(err, DESCENT_ERR_INVALID, "%s: column '%s' does not hold class labels (integers 0..%d); "
                          "the model '%s' needs them", c->data, c->target, MAX_CLASSES - 1, c->model);
        descent_table_free(&tab);
        return rc;
    }
    if (c->epochs < 0 || c->epochs > 1000000 || c->patience < 0 || c->patience > 1000000 ||
        !(c->min_delta >= 0 && isfinite(c->min_delta))) {
        free_names(class_names, classes);
        descent_table_free(&tab);
        return descent_fail(err, DESCENT_ERR_INVALID, "epochs and patience must be in [0, 1000000] and min_delta "
                            "finite and >= 0, got %d, %d, %g", c->epochs, c->patience, c->min_delta);
    }
    if (c->ranks > 1 && (c->rank < 0 || c->rank >= c->ranks || !c->reduce)) {
        free_names(class_names, classes);
        descent_table_free(&tab);
        return descent_fail(err, DESCENT_ERR_INVALID, "rank %d of %d: needs 0 <= rank < ranks and a reduce function",
                            c->rank, c->ranks);
    }
    descent_trainer *t = calloc(1, sizeof *t);
    if (!t) {
        free_names(class_names, classes);
        descent_table_free(&tab);
        return descent_fail(err, DESCENT_ERR_NOMEM, "out of memory");
    }
    t->rank = c->ranks > 1 ? c->rank : 0;
    t->ranks = c->ranks > 1 ? c->ranks : 1;
    t->reduce = c->reduce;
    t->reduce_ctx = c->reduce_ctx;
    t->classes = classes;
    t->class_names = class_names;
    rc = load_data(t, &tab, target, c->val_fraction, c->seed);
    descent_table_free(&tab);
    if (rc < 0) {
        descent_fail(err, rc, "%s", t->errmsg);
        descent_trainer_destroy(t);
        return rc;
    }
    t->batch_size = c->batch_size == 0 || c->batch_size > t->ntrain ? t->ntrain : c->batch_size;
    t->order = malloc(t->ntrain * sizeof *t->order);
    t->Xb = malloc(t->batch_size * t->features * sizeof *t->Xb);
    t->yb = malloc(t->batch_size * sizeof *t->yb);
    if (!t->order || !t->Xb || !t->yb) {
        descent_trainer_destroy(t);
        return descent_fail(err, DESCENT_ERR_NOMEM, "out of memory");
    }
    rc = descent_model_create(&t->model, c->model, t->features, classes, c->dtype, c->seed, err);
    if (rc == 0 && c->blas >= 0)
        descent_model_set_blas(t->model, c->blas);
    if (rc == 0)
        rc = descent_create(&t->opt, &hp, NULL, err);
    if (rc == 0) {
        int g = descent_add_group(t->opt, NULL);
        rc = g < 0 ? g : descent_model_register(t->model, t->opt, g);
        if (rc == 0 && lookahead_k > 0)
            rc = descent_set_lookahead(t->opt, lookahead_k, lookahead_alpha);
        if (rc == 0)
            rc = descent_train_apply_utilities(c, t->opt);
        if (rc < 0)
            descent_fail(err, rc, "%s", descent_errmsg(t->opt));
    }
    t->clip_norm = c->clip_norm;
    t->clip_value = c->clip_value;
    t->swa_start = c->swa_start;
    t->hp = hp;
    t->allow_change = c->allow_change;
    t->patience = c->patience;
    t->planned_epochs = c->epochs;
    t->min_delta = c->min_delta;
    t->best_loss = INFINITY;
    if (rc == 0)
        rc = record_run(t, c, err);
    if (rc == 0 && c->schedule)
        rc = attach_schedule(t, c, err);
    if (rc == 0 && t->patience > 0) {
        for (int i = 0; i < descent_model_num_tensors(t->model); i++) {
            size_t n;
            descent_model_tensor(t->model, i, NULL, NULL, &n, NULL);
            t->param_bytes_total += n * (c->dtype == DESCENT_F64 ? sizeof(double) : sizeof(float));
        }
        if (!(t->best_params = malloc(t->param_bytes_total ? t->param_bytes_total : 1)))
            rc = descent_fail(err, DESCENT_ERR_NOMEM, "out of memory");
    }
    if (rc < 0) {
        descent_trainer_destroy(t);
        return rc;
    }
    descent_rng_seed(&t->rng, c->seed, STREAM_SHUFFLE);
    *out = t;
    return 0;
}

const char *descent_trainer_errmsg(const descent_trainer *t) { return t ? t->errmsg : "no trainer"; }

int descent_trainer_epochs_done(const descent_trainer *t) { return t ? t->epochs_done : 0; }

void descent_trainer_info(const descent_trainer *t, size_t *train_rows, size_t *val_rows, size_t *features,
                          size_t *classes, size_t *batches)
{
    if (!t)
        return;
    if (train_rows)
        *train_rows = t->ntrain;
    if (val_rows)
        *val_rows = t->nval;
    if (features)
        *features = t->features;
    if (classes)
        *classes = t->classes;
    if (batches)
        *batches = (t->ntrain + t->batch_size - 1) / t->batch_size;
}

descent_model *descent_trainer_model(descent_trainer *t) { return t ? t->model : NULL; }

descent_optimizer *descent_trainer_optimizer(descent_trainer *t) { return t ? t->opt : NULL; }

/* A rank without rows in a batch contributes a zero gradient. */
static void zero_grads(descent_model *m)
{
    size_t es = descent_model_dtype(m) == DESCENT_F64 ? sizeof(double) : sizeof(float);
    for (int i = 0; i < descent_model_num_tensors(m); i++) {
        void *p, *g;
        size_t n;
        if (descent_model_tensor(m, i, &p, &g, &n, NULL) == 0 && g)
            memset(g, 0, n * es);
    }
}

/* The validation metrics at the parameters to evaluate: a schedule-free
 * optimizer trains at y and is evaluated at x (descent_eval_params, optax's
 * schedule_free_eval_params), so x is swapped in for the evaluation and y
 * put back after it. Every other optimizer evaluates its parameters. */
static int evaluate_validation(descent_trainer *t, double *loss, double *accuracy)
{
    const descent_optimizer *opt = t->opt;
    int nt = descent_num_tensors(opt);
    if (!descent_has_eval_params(opt) || descent_step_count(opt) == 0)
        return descent_model_evaluate(t->model, t->Xval, t->yval, t->nval, loss, accuracy);
    size_t total = 0;
    for (int i = 0; i < nt; i++)
        total += descent_tensor_param_bytes(opt, i);
    unsigned char *saved = malloc(total ? total : 1);
    if (!saved)
        return DESCENT_ERR_NOMEM;
    size_t at = 0;
    for (int i = 0; i < nt; i++) {
        memcpy(saved + at, descent_tensor_param(opt, i), descent_tensor_param_bytes(opt, i));
        at += descent_tensor_param_bytes(opt, i);
    }
    int rc = 0;
    for (int i = 0; i < nt && rc == 0; i++)
        rc = descent_eval_params(opt, i, descent_tensor_param(opt, i)); /* element-wise: x may overwrite y */
    if (rc == 0)
        rc = descent_model_evaluate(t->model, t->Xval, t->yval, t->nval, loss, accuracy);
    at = 0;
    for (int i = 0; i < nt; i++) {
        memcpy(descent_tensor_param(opt, i), saved + at, descent_tensor_param_bytes(opt, i));
        at += descent_tensor_param_bytes(opt, i);
    }
    free(saved);
    return rc;
}

int descent_trainer_epoch(descent_trainer *t, int (*progress)(void *ctx, const descent_train_progress *p), void *ctx,
                          descent_epoch_result *r)
{
    if (!t)
        return DESCENT_ERR_INVALID;
    if (t->stopped)
        return tfail(t, DESCENT_ERR_STATE, "early stopping ended the run after epoch %d", t->epochs_done);
    double t0 = now_seconds();
    size_t f = t->features, batches = batches_of(t);
    for (size_t i = 0; i < t->ntrain; i++)
        t->order[i] = i;
    if (t->batch_next == 0) {
        t->rng_epoch = t->rng;
        descent_rng_shuffle(&t->rng, t->order, t->ntrain);
        t->loss_sum = 0;
    } else {
        /* Continuing a cancelled or loaded epoch: the same order again. */
        descent_rng g = t->rng_epoch;
        descent_rng_shuffle(&g, t->order, t->ntrain);
    }
    for (size_t b = t->batch_next; b < batches; b++) {
        size_t first = b * t->batch_size;
        size_t rows = t->ntrain - first < t->batch_size ? t->ntrain - first : t->batch_size;
        for (size_t i = 0; i < rows; i++) {
            size_t src = t->order[first + i];
            memcpy(t->Xb + i * f, t->Xtrain + src * f, f * sizeof *t->Xb);
            t->yb[i] = t->ytrain[src];
        }
        double loss = 0;
        int rc = 0;
        if (t->ranks == 1) {
            rc = descent_model_loss_grad(t->model, t->Xb, t->yb, rows, &loss);
        } else {
            /* This rank's contiguous share of the batch, then the mean over
             * all of it from reduce(). */
            size_t lo = (size_t)t->rank * (rows / (size_t)t->ranks) +
                        (size_t)t->rank * (rows % (size_t)t->ranks) / (size_t)t->ranks;
            size_t hi = (size_t)(t->rank + 1) * (rows / (size_t)t->ranks) +
                        (size_t)(t->rank + 1) * (rows % (size_t)t->ranks) / (size_t)t->ranks;
            if (hi > lo)
                rc = descent_model_loss_grad(t->model, t->Xb + lo * f, t->yb + lo, hi - lo, &loss);
            else
                zero_grads(t->model);
            if (rc == 0 && (rc = t->reduce(t->reduce_ctx, t->opt, hi - lo, rows, &loss)) < 0)
                return tfail(t, rc, "reducing the gradients over %d ranks: %s", t->ranks, descent_errmsg(t->opt));
        }
        if (rc < 0)
            return tfail(t, rc, "%s", descent_model_errmsg(t->model));
        if (!isfinite(loss))
            return tfail(t, DESCENT_ERR_NONFINITE, "epoch %d, batch %zu: the loss is %g (lower the learning rate?)",
                         t->epochs_done + 1, b + 1, loss);
        if ((rc = clip_and_step(t, b)) < 0)
            return rc;
        /* With accumulation the schedule steps per update, not per batch;
         * ReduceLROnPlateau steps once per epoch, below. */
        if (rc != DESCENT_STEP_ACCUMULATED && t->has_schedule && !t->schedule_metric &&
            (rc = descent_schedule_step(t->opt, NAN)) < 0)
            return tfail(t, rc, "%s", descent_errmsg(t->opt));
        t->loss_sum += loss * (double)rows;
        if (progress) {
            descent_train_progress p = {t->epochs_done + 1, b + 1, batches, t->loss_sum / (double)(first + rows),
                                        descent_get_lr(t->opt, 0), now_seconds() - t0};
            /* A cancel after the last batch lets the epoch finish. */
            if (progress(ctx, &p) && b + 1 < batches) {
                t->batch_next = b + 1;
                return tfail(t, DESCENT_STOP_CANCELLED, "cancelled in epoch %d after batch %zu", t->epochs_done + 1,
                             b + 1);
            }
        }
    }
    t->batch_next = 0;
    t->epochs_done++;
    descent_epoch_result res;
    res.epoch = t->epochs_done;
    res.train_loss = t->loss_sum / (double)t->ntrain;
    t->loss_sum = 0;
    res.val_loss = res.val_accuracy = NAN;
    int which = -1;
    if (t->swa_start > 0 && t->epochs_done >= t->swa_start) {
        int rc = descent_swa_update(t->opt);
        if (rc < 0)
            return tfail(t, rc, "%s", descent_errmsg(t->opt));
    }
    if (t->swa_start > 0 && descent_averaged_count(t->opt, DESCENT_AVERAGE_SWA) > 0)
        which = DESCENT_AVERAGE_SWA;
    else if (descent_averaged_count(t->opt, DESCENT_AVERAGE_EMA) > 0)
        which = DESCENT_AVERAGE_EMA;
    if (t->nval > 0) {
        /* Validation with the average in place of the parameters, or at
         * the evaluation parameters (schedule-free) without one. */
        int rc;
        if (which >= 0) {
            descent_swap_averaged(t->opt, which);
            rc = descent_model_evaluate(t->model, t->Xval, t->yval, t->nval, &res.val_loss, &res.val_accuracy);
            descent_swap_averaged(t->opt, which);
        } else {
            rc = evaluate_validation(t, &res.val_loss, &res.val_accuracy);
        }
        if (rc < 0)
            return tfail(t, rc, "%s",
                         rc == DESCENT_ERR_NOMEM ? "out of memory for the evaluation parameters" : descent_model_errmsg(t->model));
    }
    /* ReduceLROnPlateau watches the epoch's validation loss, or its
     * training loss without a validation split (Keras ReduceLROnPlateau,
     * torch's recipes: scheduler.step(val_loss) once per epoch). */
    double monitored = t->nval > 0 ? res.val_loss : res.train_loss;
    if (t->has_schedule && t->schedule_metric) {
        int rc = descent_schedule_step(t->opt, monitored);
        if (rc < 0)
            return tfail(t, rc, "%s", descent_errmsg(t->opt));
    }
    res.lr = descent_get_lr(t->opt, 0);
    res.seconds = now_seconds() - t0;
    if (t->nhist == t->hist_cap) {
        size_t ncap = t->hist_cap ? 2 * t->hist_cap : 64;
        descent_epoch_result *nh = realloc(t->hist, ncap * sizeof *nh);
        if (!nh)
            return tfail(t, DESCENT_ERR_NOMEM, "out of memory for the training history");
        t->hist = nh;
        t->hist_cap = ncap;
    }
    t->hist[t->nhist++] = res;
    /* Early stopping (Keras EarlyStopping): an improvement is a loss below
     * best - min_delta; after `patience` epochs without one, stop and put
     * the best epoch's parameters back (restore_best_weights). */
    if (monitored < t->best_loss - t->min_delta) {
        t->best_loss = monitored;
        t->best_epoch = t->epochs_done;
        if (t->best_params)
            copy_params(t, 0);
    } else if (t->patience > 0 && t->epochs_done - t->best_epoch >= t->patience) {
        t->stopped = 1;
        copy_params(t, 1);
    }
    if (r)
        *r = res;
    return 0;
}

/* The model's parameters to the best copy (back = 0) or back from it. */
static void copy_params(descent_trainer *t, int back)
{
    size_t at = 0, es = descent_model_dtype(t->model) == DESCENT_F64 ? sizeof(double) : sizeof(float);
    for (int i = 0; i < descent_model_num_tensors(t->model); i++) {
        void *p;
        size_t n;
        descent_model_tensor(t->model, i, &p, NULL, &n, NULL);
        if (back)
            memcpy(p, t->best_params + at, n * es);
        else
            memcpy(t->best_params + at, p, n * es);
        at += n * es;
    }
}

const char *descent_trainer_changes(const descent_trainer *t) { return t ? t->changes : ""; }

const descent_epoch_result *descent_trainer_history(const descent_trainer *t, size_t *n)
{
    if (n)
        *n = t ? t->nhist : 0;
    return t ? t->hist : NULL;
}

int descent_trainer_stopped(const descent_trainer *t, int *best_epoch)
{
    if (best_epoch)
        *best_epoch = t ? t->best_epoch : 0;
    return t ? t->stopped : 0;
}

const char *descent_trainer_class_name(const descent_trainer *t, size_t i)
{
    return t && t->class_names && i < t->classes ? t->class_names[i] : NULL;
}

const char *descent_trainer_schedule(const descent_trainer *t) { return t ? t->sched_fitted : NULL; }

/* ---- checkpoints --------------------------------------------------------
 * Version 2: little-endian, in the frame every descent checkpoint shares
 * (magic "DSCTRAIN", u32 version, u32 flags, u64 payload length, payload,
 * CRC-32; fileio.c), written atomically and fsync'd. Payload:
 *   u32 dtype, u32 epochs done, u32 tensors, u64 features, u64 classes,
 *   u64 training rows, u64 generator[4], u64 generator before the epoch's
 *   shuffle[4], u64 batches done in the epoch, f64 their summed loss;
 *   the run: u64 data hash, str target, str model, str optimizer,
 *   str schedule, str fitted schedule, u64 seed, u64 batch size, f64 val,
 *   f64 clip_norm, f64 clip_value, f64 ema, u32 accumulate,
 *   u32 no_decay_1d, u32 swa_start;
 *   u32 class names (0, or classes for a target of words), each a str;
 *   u32 history rows (one per epoch done), each u32 epoch, f64 train_loss,
 *   val_loss, val_accuracy, lr (not the seconds: equal runs, equal files);
 *   early stopping: f64 best loss, u32 best epoch, u32 stopped, u32 has
 *   best parameters, then those per tensor (as below, without n);
 *   per tensor: u64 n, n parameters (f32 or f64 bits);
 *   u64 optimizer image length, the image (descent_save_mem).
 * str: u32 length, the bytes. Version 1 (0.1.0: native byte order, no
 * frame, no record of the run) is still read, on little-endian hosts: its
 * run cannot be compared, and it has no history. */

#define MAX_EPOCHS 1000000
#define V1_HEADER 80u
#define HIST_ROW 36u

static void put_f64(descent_writer *w, double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    descent_put_u(w, u, 8);
}

static double get_f64(descent_reader *r)
{
    uint64_t u = descent_get_u(r, 8);
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

static void put_str(descent_writer *w, const char *s)
{
    size_t n = strlen(s ? s : "");
    descent_put_u(w, n, 4);
    for (size_t i = 0; i < n; i++)
        descent_put_u(w, (unsigned char)s[i], 1);
}

/* A malloc'd copy, or NULL (r->bad set) past the end, with a NUL byte
 * inside (nothing writes one: the strings are C strings) or out of memory. */
static char *get_str(descent_reader *r)
{
    uint64_t n = descent_get_u(r, 4);
    if (r->bad || n > r->len - r->pos || memchr(r->buf + r->pos, 0, (size_t)n)) {
        r->bad = 1;
        return NULL;
    }
    char *s = malloc((size_t)n + 1);
    if (!s) {
        r->bad = 1;
        return NULL;
    }
    memcpy(s, r->buf + r->pos, (size_t)n);
    s[n] = '\0';
    r->pos += (size_t)n;
    return s;
}

static void put_rng(descent_writer *w, const descent_rng *g)
{
    for (int i = 0; i < 4; i++)
        descent_put_u(w, g->s[i], 8);
}

static void get_rng(descent_reader *r, descent_rng *g)
{
    for (int i = 0; i < 4; i++)
        g->s[i] = descent_get_u(r, 8);
}

static void write_run(const descent_trainer *t, descent_writer *w, const unsigned char *img, size_t len)
{
    descent_dtype dt = descent_model_dtype(t->model);
    int nt = descent_model_num_tensors(t->model);
    descent_put_u(w, (uint32_t)dt, 4);
    descent_put_u(w, (uint32_t)t->epochs_done, 4);
    descent_put_u(w, (uint32_t)nt, 4);
    descent_put_u(w, t->features, 8);
    descent_put_u(w, t->classes, 8);
    descent_put_u(w, t->ntrain, 8);
    put_rng(w, &t->rng);
    put_rng(w, &t->rng_epoch);
    descent_put_u(w, t->batch_next, 8);
    put_f64(w, t->loss_sum);
    const run_id *id = &t->id;
    descent_put_u(w, id->data_hash, 8);
    put_str(w, id->target);
    put_str(w, id->model);
    put_str(w, id->opt);
    put_str(w, id->sched);
    put_str(w, t->sched_fitted);
    descent_put_u(w, id->seed, 8);
    descent_put_u(w, id->batch_size, 8);
    put_f64(w, id->val);
    put_f64(w, id->clip_norm);
    put_f64(w, id->clip_value);
    put_f64(w, id->ema);
    descent_put_u(w, id->accumulate, 4);
    descent_put_u(w, id->no_decay_1d, 4);
    descent_put_u(w, id->swa_start, 4);
    descent_put_u(w, t->class_names ? t->classes : 0, 4);
    for (size_t i = 0; t->class_names && i < t->classes; i++)
        put_str(w, t->class_names[i]);
    descent_put_u(w, t->nhist, 4);
    for (size_t i = 0; i < t->nhist; i++) {
        const descent_epoch_result *h = &t->hist[i];
        descent_put_u(w, (uint32_t)h->epoch, 4);
        put_f64(w, h->train_loss);
        put_f64(w, h->val_loss);
        put_f64(w, h->val_accuracy);
        put_f64(w, h->lr);
    }
    int has_best = t->best_params && t->best_epoch > 0;
    put_f64(w, t->best_loss);
    descent_put_u(w, (uint32_t)t->best_epoch, 4);
    descent_put_u(w, (uint32_t)t->stopped, 4);
    descent_put_u(w, (uint32_t)has_best, 4);
    for (int pass = has_best ? 0 : 1; pass < 2; pass++) {
        size_t at = 0;
        for (int i = 0; i < nt; i++) {
            void *p;
            size_t n;
            descent_model_tensor(t->model, i, &p, NULL, &n, NULL);
            if (pass == 1)
                descent_put_u(w, n, 8);
            descent_put_array(w, pass == 0 ? (const void *)(t->best_params + at) : p, n, dt);
            at += n * (dt == DESCENT_F64 ? sizeof(double) : sizeof(float));
        }
    }
    descent_put_u(w, len, 8);
    for (size_t i = 0; i < len; i++)
        descent_put_u(w, img[i], 1);
}

/* The optimizer's image (descent_save_mem), malloc'd. */
static int optimizer_image(descent_trainer *t, unsigned char **img, size_t *len)
{
    *img = NULL;
    *len = 0;
    int rc = descent_save_mem(t->opt, NULL, 0, len);
    if (rc < 0)
        return rc;
    if (!(*img = malloc(*len ? *len : 1)))
        return DESCENT_ERR_NOMEM;
    if ((rc = descent_save_mem(t->opt, *img, *len, len)) < 0) {
        free(*img);
        *img = NULL;
    }
    return rc;
}

int descent_trainer_save(const descent_trainer *t_, const char *path)
{
    descent_trainer *t = (descent_trainer *)t_; /* errmsg only */
    if (!t || !path)
        return DESCENT_ERR_INVALID;
    unsigned char *img;
    size_t len;
    int rc = optimizer_image(t, &img, &len);
    if (rc < 0)
        return tfail(t, rc, "saving the optimizer: %s", rc == DESCENT_ERR_NOMEM ? "out of memory" : descent_errmsg(t->opt));
    descent_writer count = {NULL, 0, 0};
    size_t start = descent_frame_begin(&count, ckpt_magic, CKPT_VERSION, 0);
    write_run(t, &count, img, len);
    descent_frame_end(&count, start);
    unsigned char *buf = malloc(count.pos);
    if (!buf) {
        free(img);
        return tfail(t, DESCENT_ERR_NOMEM, "out of memory writing a checkpoint of %zu bytes", count.pos);
    }
    descent_writer w = {buf, count.pos, 0};
    start = descent_frame_begin(&w, ckpt_magic, CKPT_VERSION, 0);
    write_run(t, &w, img, len);
    descent_frame_end(&w, start);
    free(img);
    descent_mem mem;
    descent_mem_init(&mem, NULL);
    descent_error e;
    rc = descent_file_write_atomic(&mem, path, buf, w.pos, &e);
    free(buf);
    return rc < 0 ? tfail(t, rc, "%s", e.message) : 0;
}

/* ---- loading ------------------------------------------------------------ */

static const char *dtype_name(uint64_t d)
{
    return d == DESCENT_F32 ? "f32" : d == DESCENT_F64 ? "f64" : d == DESCENT_BF16 ? "bf16" : "unknown";
}

/* s, cut to 60 characters with an ellipsis. */
static const char *cut(char *buf, size_t cap, const char *s)
{
    size_t n = strlen(s);
    if (n <= 60 || cap < 64)
        return s;
    snprintf(buf, cap, "%.57s...", s);
    return buf;
}

typedef struct diff_ctx {
    descent_trainer *t;
    char refused[1536];
    int nrefused;
    int nchanged;
} diff_ctx;

static void append(char *dst, size_t cap, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static void append(char *dst, size_t cap, const char *fmt, ...)
{
    size_t used = strlen(dst);
    if (used + 1 >= cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst + used, cap - used, fmt, ap);
    va_end(ap);
}

static void differ(diff_ctx *d, const char *field, const char *saved, const char *now)
{
    char a[64], b[64];
    int allowed = 0;
    for (int i = 0; changeable[i]; i++)
        allowed |= strcmp(changeable[i], field) == 0 && in_list(d->t->allow_change, field);
    if (allowed) {
        append(d->t->changes, sizeof d->t->changes, "%s--%s '%s' -> '%s'", d->nchanged++ ? ", " : "", field,
               cut(a, sizeof a, saved), cut(b, sizeof b, now));
    } else {
        append(d->refused, sizeof d->refused, "\n  --%s: saved '%s', now '%s'", field, cut(a, sizeof a, saved),
               cut(b, sizeof b, now));
        d->nrefused++;
    }
}

static void differ_u(diff_ctx *d, const char *field, uint64_t saved, uint64_t now)
{
    if (saved == now)
        return;
    char a[32], b[32];
    snprintf(a, sizeof a, "%llu", (unsigned long long)saved);
    snprintf(b, sizeof b, "%llu", (unsigned long long)now);
    differ(d, field, a, b);
}

static void differ_f(diff_ctx *d, const char *field, double saved, double now)
{
    if (memcmp(&saved, &now, sizeof saved) == 0)
        return;
    char a[32], b[32];
    snprintf(a, sizeof a, "%.17g", saved);
    snprintf(b, sizeof b, "%.17g", now);
    differ(d, field, a, b);
}

static void differ_s(diff_ctx *d, const char *field, const char *saved, const char *now)
{
    if (strcmp(saved, now) != 0)
        differ(d, field, saved, now);
}

/* Compare the saved run with this one; 0, or an error naming every field
 * that differs and was not allowed to. */
static int compare_run(descent_trainer *t, const run_id *s, const char *path)
{
    diff_ctx d = {t, "", 0, 0};
    t->changes[0] = '\0';
    const run_id *n = &t->id;
    if (s->data_hash != n->data_hash) {
        char a[48], b[48];
        snprintf(a, sizeof a, "bytes hashing to %016llx", (unsigned long long)s->data_hash);
        snprintf(b, sizeof b, "bytes hashing to %016llx", (unsigned long long)n->data_hash);
        differ(&d, "data", a, b);
    }
    differ_s(&d, "target", s->target, n->target);
    differ_s(&d, "model", s->model, n->model);
    differ_s(&d, "opt", s->opt, n->opt);
    differ_s(&d, "sched", s->sched, n->sched);
    differ_u(&d, "seed", s->seed, n->seed);
    differ_f(&d, "val", s->val, n->val);
    differ_u(&d, "batch-size", s->batch_size, n->batch_size);
    if (s->dtype != n->dtype)
        differ(&d, "dtype", dtype_name(s->dtype), dtype_name(n->dtype));
    differ_u(&d, "accumulate", s->accumulate, n->accumulate);
    differ_u(&d, "no-decay-1d", s->no_decay_1d, n->no_decay_1d);
    differ_f(&d, "clip-norm", s->clip_norm, n->clip_norm);
    differ_f(&d, "clip-value", s->clip_value, n->clip_value);
    differ_f(&d, "ema", s->ema, n->ema);
    differ_u(&d, "swa-start", s->swa_start, n->swa_start);
    if (d.nrefused)
        return tfail(t, DESCENT_ERR_CHECKPOINT,
                     "%s: saved from a different run; only --epochs and the output paths may change on --resume "
                     "(--allow-change %s takes a deliberate change of those):%s",
                     path, "data,seed,val,batch-size,opt,clip-norm,clip-value", d.refused);
    return 0;
}

/* Open a regular file and read it whole, after its header: a version-2
 * file must be as long as its header says, a version-1 file as long as
 * this run's would be; nothing is allocated before. */
static int read_checkpoint(descent_trainer *t, const char *path, unsigned char **out, size_t *len, uint32_t *version)
{
    *out = NULL;
    FILE *f = descent_fopen(path, "rb");
    if (!f)
        return tfail(t, DESCENT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return tfail(t, DESCENT_ERR_IO, "%s: not a regular file", path);
    }
    unsigned char head[24];
    size_t got = fread(head, 1, sizeof head, f);
    if (got < 12 || memcmp(head, ckpt_magic, sizeof ckpt_magic) != 0) {
        fclose(f);
        return tfail(t, DESCENT_ERR_CHECKPOINT, "%s: not a descent training checkpoint", path);
    }
    descent_reader h = {head, got, 8, 0};
    *version = (uint32_t)descent_get_u(&h, 4);
    uint64_t want;
    if (*version == 2) {
        h.pos = 16;
        uint64_t payload = descent_get_u(&h, 8);
        want = h.bad || payload > (uint64_t)st.st_size ? UINT64_MAX : 24 + payload + 4;
    } else if (*version == 1) {
        unsigned char *img;
        size_t ilen;
        int rc = optimizer_image(t, &img, &ilen);
        free(img);
        if (rc < 0) {
            fclose(f);
            return tfail(t, rc, "sizing the optimizer image: %s", descent_errmsg(t->opt));
        }
        want = V1_HEADER + 8 + ilen + 4;
        for (int i = 0; i < descent_model_num_tensors(t->model); i++) {
            size_t n;
            descent_model_tensor(t->model, i, NULL, NULL, &n, NULL);
            want += 8 + n * (descent_model_dtype(t->model) == DESCENT_F64 ? 8 : 4);
        }
    } else {
        fclose(f);
        return tfail(t, DESCENT_ERR_CHECKPOINT, "%s: checkpoint version %u, this build reads 1 and %u", path, *version,
                     CKPT_VERSION);
    }
    if ((uint64_t)st.st_size != want) {
        fclose(f);
        return tfail(t, DESCENT_ERR_CHECKPOINT, "%s: %lld bytes, %s (truncated, padded, or saved from a different run)",
                     path, (long long)st.st_size, *version == 2 ? "not the length its header gives" :
                     "not the length this run's version-1 checkpoint has");
    }
    unsigned char *buf = malloc((size_t)want);
    if (!buf) {
        fclose(f);
        return tfail(t, DESCENT_ERR_NOMEM, "out of memory reading %s", path);
    }
    memcpy(buf, head, got);
    size_t rest = (size_t)want - got;
    int ok = fread(buf + got, 1, rest, f) == rest;
    fclose(f);
    if (!ok) {
        free(buf);
        return tfail(t, DESCENT_ERR_IO, "%s: read error", path);
    }
    *out = buf;
    *len = (size_t)want;
    return 0;
}

/* Everything read from a file, checked before any of it is applied. */
typedef struct loaded {
    uint64_t dtype, epochs, nt, features, classes, ntrain, batch_next, nclass_names, nhist;
    uint64_t best_epoch, stopped, has_best;
    descent_rng rng, rng_epoch;
    double loss_sum, best_loss;
    run_id id;
    char *fitted;
    char **class_names;
    descent_epoch_result *hist;
    size_t best_at, params_at, img_at, img_len; /* offsets into the payload */
} loaded;

static void loaded_free(loaded *L)
{
    run_id_free(&L->id);
    free(L->fitted);
    if (L->class_names)
        for (uint64_t i = 0; i < L->nclass_names; i++)
            free(L->class_names[i]);
    free(L->class_names);
    free(L->hist);
}

static int ok_loss(double v) { return isfinite(v) && v >= 0; }

/* The tensors at r: counts equal to the model's, values finite. */
static int check_tensors(descent_trainer *t, descent_reader *r, int with_n, const char *path, const char *what)
{
    descent_dtype dt = descent_model_dtype(t->model);
    size_t es = dt == DESCENT_F64 ? 8 : 4;
    for (int i = 0; i < descent_model_num_tensors(t->model); i++) {
        size_t want;
        descent_model_tensor(t->model, i, NULL, NULL, &want, NULL);
        uint64_t n = with_n ? descent_get_u(r, 8) : want;
        if (r->bad || n != want || (r->len - r->pos) / es < n)
            return tfail(t, DESCENT_ERR_CHECKPOINT, "%s: %s tensor %d has a different size or is truncated", path,
                         what, i);
        for (uint64_t k = 0; k < n; k++) {
            double v;
            if (es == 8) {
                v = get_f64(r);
            } else {
                uint32_t u = (uint32_t)descent_get_u(r, 4);
                float fv;
                memcpy(&fv, &u, sizeof fv);
                v = fv;
            }
            if (!isfinite(v))
                return tfail(t, DESCENT_ERR_CHECKPOINT, "%s: %s tensor %d, element %llu is %g, not finite", path,
                             what, i, (unsigned long long)k, v);
        }
    }
    return 0;
}

/* The fields both versions begin with. */
/* xoshiro256's state is never all zeros (that state only repeats itself);
 * descent_rng_seed cannot give it. */
static int rng_ok(const descent_rng *g) { return (g->s[0] | g->s[1] | g->s[2] | g->s[3]) != 0; }

static void get_head(descent_reader *r, loaded *L)
{
    L->dtype = descent_get_u(r, 4);
    L->epochs = descent_get_u(r, 4);
    L->nt = descent_get_u(r, 4);
    L->features = descent_get_u(r, 8);
    L->classes = descent_get_u(r, 8);
    L->ntrain = descent_get_u(r, 8);
    get_rng(r, &L->rng);
}

static int parse_v2(descent_trainer *t, descent_reader *r, loaded *L, const char *path)
{
#define BAD(...) return tfail(t, DESCENT_ERR_CHECKPOINT, __VA_ARGS__)
    get_head(r, L);
    get_rng(r, &L->rng_epoch);
    L->batch_next = descent_get_u(r, 8);
    L->loss_sum = get_f64(r);
    run_id *id = &L->id;
    id->data_hash = descent_get_u(r, 8);
    id->target = get_str(r);
    id->model = get_str(r);
    id->opt = get_str(r);
    id->sched = get_str(r);
    L->fitted = get_str(r);
    id->seed = descent_get_u(r, 8);
    id->batch_size = descent_get_u(r, 8);
    id->val = get_f64(r);
    id->clip_norm = get_f64(r);
    id->clip_value = get_f64(r);
    id->ema = get_f64(r);
    id->accumulate = (uint32_t)descent_get_u(r, 4);
    id->no_decay_1d = (uint32_t)descent_get_u(r, 4);
    id->swa_start = (uint32_t)descent_get_u(r, 4);
    id->dtype = (uint32_t)L->dtype;
    if (r->bad)
        BAD("%s: truncated run record, or a string in it with a NUL byte", path);
    /* The generator before the epoch's shuffle is saved as zeros until an
     * epoch starts, and only read back for a part-done epoch. */
    if (!rng_ok(&L->rng) || (L->batch_next != 0 && !rng_ok(&L->rng_epoch)))
        BAD("%s: a shuffling generator's state is all zeros (no seed gives that)", path);
    if (L->dtype != DESCENT_F32 && L->dtype != DESCENT_F64)
        BAD("%s: dtype code %llu is not f32 or f64", path, (unsigned long long)L->dtype);
    if (L->epochs > MAX_EPOCHS)
        BAD("%s: %llu epochs done, more than %d", path, (unsigned long long)L->epochs, MAX_EPOCHS);
    if (L->loss_sum < 0 || !isfinite(L->loss_sum) || (L->batch_next == 0 && L->loss_sum != 0))
        BAD("%s: the epoch's summed loss %g is not a finite loss", path, L->loss_sum);
    L->nclass_names = descent_get_u(r, 4);
    if (r->bad || L->nclass_names > MAX_CLASSES || (L->nclass_names && L->nclass_names != L->classes))
        BAD("%s: %llu class names for %llu classes", path, (unsigned long long)L->nclass_names,
            (unsigned long long)L->classes);
    if (L->nclass_names && !(L->class_names = calloc((size_t)L->nclass_names, sizeof *L->class_names)))
        return tfail(t, DESCENT_ERR_NOMEM, "out of memory");
    for (uint64_t i = 0; i < L->nclass_names; i++)
        if (!(L->class_names[i] = get_str(r)) || !*L->class_names[i] ||
            (i > 0 && strcmp(L->class_names[i - 1], L->class_names[i]) >= 0))
            BAD("%s: class name %llu is missing, empty, out of order or has a NUL byte", path, (unsigned long long)i);
    L->nhist = descent_get_u(r, 4);
    if (r->bad || L->nhist != L->epochs || L->nhist > (r->len - r->pos) / HIST_ROW)
        BAD("%s: %llu history rows for %llu epochs (or truncated)", path, (unsigned long long)L->nhist,
            (unsigned long long)L->epochs);
    if (!(L->hist = malloc((size_t)(L->nhist ? L->nhist : 1) * sizeof *L->hist)))
        return tfail(t, DESCENT_ERR_NOMEM, "out of memory");
    for (uint64_t i = 0; i < L->nhist; i++) {
        descent_epoch_result *h = &L->hist[i];
        uint64_t e = descent_get_u(r, 4);
        h->epoch = (int)(e & 0x7fffffff);
        h->train_loss = get_f64(r);
        h->val_loss = get_f64(r);
        h->val_accuracy = get_f64(r);
        h->lr = get_f64(r);
        h->seconds = NAN; /* not saved: equal runs give equal files */
        if (e != i + 1 || !ok_loss(h->train_loss) || !(isnan(h->val_loss) || ok_loss(h->val_loss)) ||
            !(isnan(h->val_accuracy) || (h->val_accuracy >= 0 && h->val_accuracy <= 1)) || !isfinite(h->lr))
            BAD("%s: history row %llu is out of range", path, (unsigned long long)i + 1);
    }
    L->best_loss = get_f64(r);
    L->best_epoch = descent_get_u(r, 4);
    L->stopped = descent_get_u(r, 4);
    L->has_best = descent_get_u(r, 4);
    if (r->bad || L->best_epoch > L->epochs || L->stopped > 1 || L->has_best > 1 ||
        !(L->best_epoch == 0 ? L->best_loss == INFINITY : ok_loss(L->best_loss)) || (L->has_best && !L->best_epoch) ||
        (L->stopped && !L->has_best))
        BAD("%s: the early-stopping record is out of range", path);
    return 0;
#undef BAD
}

static int parse_v1(descent_trainer *t, descent_reader *r, loaded *L, const char *path)
{
    get_head(r, L);
    L->best_loss = INFINITY;
    if (r->bad)
        return tfail(t, DESCENT_ERR_CHECKPOINT, "%s: truncated header", path);
    if (!rng_ok(&L->rng))
        return tfail(t, DESCENT_ERR_CHECKPOINT, "%s: the shuffling generator's state is all zeros (no seed gives that)",
                     path);
    if (L->epochs > MAX_EPOCHS)
        return tfail(t, DESCENT_ERR_CHECKPOINT, "%s: %llu epochs done, more than %d", path,
                     (unsigned long long)L->epochs, MAX_EPOCHS);
    if (L->dtype != (uint64_t)descent_model_dtype(t->model))
        return tfail(t, DESCENT_ERR_CHECKPOINT, "%s: saved from a different run: dtype %s, this run has %s", path,
                     dtype_name(L->dtype), dtype_name((uint64_t)descent_model_dtype(t->model)));
    return 0;
}

int descent_trainer_load(descent_trainer *t, const char *path)
{
    if (!t || !path)
        return DESCENT_ERR_INVALID;
    unsigned char *buf = NULL;
    size_t n = 0;
    uint32_t version = 0;
    int rc = read_checkpoint(t, path, &buf, &n, &version);
    if (rc < 0)
        return rc;
    descent_reader r;
    loaded L;
    memset(&L, 0, sizeof L);
    unsigned char *own = NULL; /* the optimizer's image before the saved schedule replaced this run's */
    size_t own_len = 0;
    descent_error e;
    if (version == 2) {
        if ((rc = descent_frame_open(&r, buf, n, ckpt_magic, CKPT_VERSION, CKPT_VERSION, 0, NULL, "descent training checkpoint", &e)) < 0)
            rc = tfail(t, rc, "%s: %s", path, e.message);
        else
            rc = parse_v2(t, &r, &L, path);
    } else {
        uint32_t crc = (uint32_t)buf[n - 4] | (uint32_t)buf[n - 3] << 8 | (uint32_t)buf[n - 2] << 16 |
                       (uint32_t)buf[n - 1] << 24;
        descent_reader v1 = {buf, n - 4, 12, 0};
        r = v1;
        if (descent_crc32(0, buf, n - 4) != crc)
            rc = tfail(t, DESCENT_ERR_CHECKPOINT, "%s: checksum mismatch (truncated or corrupt)", path);
        else
            rc = parse_v1(t, &r, &L, path);
    }
    if (rc < 0)
        goto done;
    /* The run: each differing field named; then the shapes, which follow
     * from it. */
    if (version == 2 && (rc = compare_run(t, &L.id, path)) < 0)
        goto done;
    if (L.dtype != (uint64_t)descent_model_dtype(t->model) || L.nt != (uint64_t)descent_model_num_tensors(t->model) ||
        L.features != t->features || L.classes != t->classes) {
        rc = tfail(t, DESCENT_ERR_CHECKPOINT, "%s: saved from a different run (dtype %s, %llu tensors, %llu features, "
                   "%llu classes; this run has %s, %d, %zu, %zu)", path, dtype_name(L.dtype), (unsigned long long)L.nt,
                   (unsigned long long)L.features, (unsigned long long)L.classes,
                   dtype_name((uint64_t)descent_model_dtype(t->model)), descent_model_num_tensors(t->model),
                   t->features, t->classes);
        goto done;
    }
    if (L.ntrain != t->ntrain && (version == 1 || L.batch_next != 0)) {
        rc = tfail(t, DESCENT_ERR_CHECKPOINT, "%s: saved with %llu training rows, this run has %zu", path,
                   (unsigned long long)L.ntrain, t->ntrain);
        goto done;
    }
    int data_changed = strstr(t->changes, "--data ") || strstr(t->changes, "--seed ") || strstr(t->changes, "--val ");
    if (L.batch_next != 0 && (L.batch_next >= batches_of(t) || L.id.batch_size != t->id.batch_size || data_changed)) {
        rc = tfail(t, DESCENT_ERR_CHECKPOINT, "%s: saved after batch %llu of an epoch of %zu batches%s", path,
                   (unsigned long long)L.batch_next, batches_of(t),
                   L.id.batch_size != t->id.batch_size || data_changed
                       ? ": finish that epoch with the saved batch size and data first" : "");
        goto done;
    }
    size_t mine = t->class_names ? t->classes : 0;
    int same = L.nclass_names == mine;
    for (size_t i = 0; same && i < mine; i++)
        same = strcmp(L.class_names[i], t->class_names[i]) == 0;
    if (!same) {
        rc = tfail(t, DESCENT_ERR_CHECKPOINT, "%s: saved with other class labels (%s, this run: %s)", path,
                   L.nclass_names ? "words" : "numbers", mine ? "words" : "numbers");
        goto done;
    }
    /* The tensors: sizes and finite values; then the optimizer image. */
    L.best_at = r.pos;
    if (L.has_best && (rc = check_tensors(t, &r, 0, path, "best-epoch")) < 0)
        goto done;
    L.params_at = r.pos;
    if ((rc = check_tensors(t, &r, 1, path, "parameter")) < 0)
        goto done;
    uint64_t ilen = descent_get_u(&r, 8);
    if (r.bad || ilen != r.len - r.pos) {
        rc = tfail(t, DESCENT_ERR_CHECKPOINT, "%s: bad optimizer image length", path);
        goto done;
    }
    /* A schedule fitted to the first run keeps its length: the same spec
     * fitted to this run's --epochs may differ. It must still last. */
    if (version == 2 && t->has_schedule && strcmp(L.fitted, t->sched_fitted) != 0) {
        /* Its length first (a pure function of the spec), then a copy of
         * the optimizer to go back to: attaching a schedule changes the
         * optimizer, and the image may still be refused. */
        descent_error se;
        if ((rc = check_schedule_length(t, L.fitted, &se)) < 0) {
            rc = tfail(t, DESCENT_ERR_CHECKPOINT, "%s: the saved schedule %s: %s", path, L.fitted, se.message);
            goto done;
        }
        if ((rc = optimizer_image(t, &own, &own_len)) < 0) {
            rc = tfail(t, rc, "%s: out of memory", path);
            goto done;
        }
        if ((rc = descent_set_schedule(t->opt, L.fitted)) < 0) {
            rc = tfail(t, DESCENT_ERR_CHECKPOINT, "%s: the saved schedule %s: %s", path, L.fitted,
                       descent_errmsg(t->opt));
            goto done;
        }
        char *ours = t->sched_fitted;
        t->sched_fitted = L.fitted;
        L.fitted = ours; /* freed below, or put back */
    }
    /* Everything checked: the optimizer first (it validates and leaves
     * itself untouched on error), then the rest. */
    if ((rc = descent_load_mem(t->opt, r.buf + r.pos, (size_t)ilen)) < 0) {
        rc = tfail(t, rc, "%s: %s", path, descent_errmsg(t->opt));
        if (own) {
            /* this run's own schedule again, and the optimizer as it was */
            char *saved = t->sched_fitted;
            t->sched_fitted = L.fitted;
            L.fitted = saved;
            descent_set_schedule(t->opt, t->sched_fitted);
            descent_load_mem(t->opt, own, own_len);
        }
        goto done;
    }
    if (strstr(t->changes, "--opt ")) {
        /* A deliberate change of hyperparameters: the new spec's. */
        descent_group_replace_hparams(t->opt, 0, &t->hp);
    }
    descent_dtype dt = descent_model_dtype(t->model);
    r.pos = L.params_at;
    for (int i = 0; i < descent_model_num_tensors(t->model); i++) {
        void *p;
        size_t cnt;
        descent_model_tensor(t->model, i, &p, NULL, &cnt, NULL);
        descent_get_u(&r, 8);
        descent_get_array(&r, p, cnt, dt);
    }
    if (L.has_best && t->best_params) {
        r.pos = L.best_at;
        size_t at = 0;
        for (int i = 0; i < descent_model_num_tensors(t->model); i++) {
            size_t cnt;
            descent_model_tensor(t->model, i, NULL, NULL, &cnt, NULL);
            descent_get_array(&r, t->best_params + at, cnt, dt);
            at += cnt * (dt == DESCENT_F64 ? sizeof(double) : sizeof(float));
        }
    }
    t->rng = L.rng;
    t->rng_epoch = L.rng_epoch;
    t->batch_next = (size_t)L.batch_next;
    t->loss_sum = L.loss_sum;
    t->epochs_done = (int)L.epochs;
    free(t->hist);
    t->hist = L.hist;
    t->nhist = t->hist_cap = (size_t)L.nhist;
    L.hist = NULL;
    /* Without the best parameters (a run without patience) the record
     * starts again at the next epoch. */
    t->best_epoch = L.has_best || !t->best_params ? (int)L.best_epoch : 0;
    t->best_loss = L.has_best || !t->best_params ? L.best_loss : INFINITY;
    t->stopped = t->best_params ? (int)L.stopped : 0;
done:
    free(own);
    loaded_free(&L);
    free(buf);
    return rc;
}
