/* Training on a CSV data set: load, split, standardize, shuffle into
 * batches, step the optimizer and schedule, evaluate, checkpoint. */
#include "models.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Labels are small non-negative integers: at most this many classes. */
#define MAX_CLASSES 256
/* Independent generator streams derived from the one seed. */
enum { STREAM_INIT = 1, STREAM_SPLIT = 2, STREAM_SHUFFLE = 3 };

static const char ckpt_magic[8] = {'D', 'S', 'C', 'T', 'R', 'A', 'I', 'N'};
#define CKPT_VERSION 1u

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
    char errmsg[512];
};

static int tfail(descent_trainer *t, int status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

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
    for (size_t i = 0; i < t->ntrain; i++)
        for (size_t j = 0; j < f; j++)
            mean[j] += t->Xtrain[i * f + j];
    for (size_t j = 0; j < f; j++)
        mean[j] /= (double)t->ntrain;
    for (size_t i = 0; i < t->ntrain; i++)
        for (size_t j = 0; j < f; j++) {
            double d = t->Xtrain[i * f + j] - mean[j];
            sd[j] += d * d;
        }
    for (size_t j = 0; j < f; j++) {
        sd[j] = sqrt(sd[j] / (double)t->ntrain);
        if (!(sd[j] > 0))
            sd[j] = 1;
    }
    for (size_t i = 0; i < t->ntrain; i++)
        for (size_t j = 0; j < f; j++)
            t->Xtrain[i * f + j] = (t->Xtrain[i * f + j] - mean[j]) / sd[j];
    for (size_t i = 0; i < nval; i++)
        for (size_t j = 0; j < f; j++)
            t->Xval[i * f + j] = (t->Xval[i * f + j] - mean[j]) / sd[j];
    free(mean);
    free(sd);
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
    if ((rc = descent_table_read_csv(&tab, c->data, 1, err)) < 0)
        return rc;
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
    size_t classes = task == DESCENT_TASK_REGRESSION ? 0 : detect_classes(&tab, target);
    if (task == DESCENT_TASK_CLASSIFICATION && classes == 0) {
        rc = descent_fail(err, DESCENT_ERR_INVALID, "%s: column '%s' does not hold class labels (integers 0..%d); "
                          "the model '%s' needs them", c->data, c->target, MAX_CLASSES - 1, c->model);
        descent_table_free(&tab);
        return rc;
    }
    if (c->ranks > 1 && (c->rank < 0 || c->rank >= c->ranks || !c->reduce)) {
        descent_table_free(&tab);
        return descent_fail(err, DESCENT_ERR_INVALID, "rank %d of %d: needs 0 <= rank < ranks and a reduce function",
                            c->rank, c->ranks);
    }
    descent_trainer *t = calloc(1, sizeof *t);
    if (!t) {
        descent_table_free(&tab);
        return descent_fail(err, DESCENT_ERR_NOMEM, "out of memory");
    }
    t->rank = c->ranks > 1 ? c->rank : 0;
    t->ranks = c->ranks > 1 ? c->ranks : 1;
    t->reduce = c->reduce;
    t->reduce_ctx = c->reduce_ctx;
    t->classes = classes;
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
    if (rc == 0 && c->schedule) {
        if ((rc = descent_set_schedule(t->opt, c->schedule)) < 0)
            descent_fail(err, rc, "%s", descent_errmsg(t->opt));
        else {
            t->has_schedule = true;
            t->schedule_metric = descent_schedule_needs_metric(t->opt) == 1;
        }
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
    double t0 = now_seconds();
    size_t f = t->features, batches = (t->ntrain + t->batch_size - 1) / t->batch_size;
    for (size_t i = 0; i < t->ntrain; i++)
        t->order[i] = i;
    descent_rng_shuffle(&t->rng, t->order, t->ntrain);
    double loss_sum = 0;
    for (size_t b = 0; b < batches; b++) {
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
        if ((rc = descent_train_clip(t->opt, t->clip_norm, t->clip_value)) < 0)
            return tfail(t, rc, "epoch %d, batch %zu: %s", t->epochs_done + 1, b + 1, descent_errmsg(t->opt));
        if ((rc = descent_step(t->opt)) < 0)
            return tfail(t, rc, "%s", descent_errmsg(t->opt));
        /* With accumulation the schedule steps per update, not per batch. */
        if (rc != DESCENT_STEP_ACCUMULATED && t->has_schedule && (rc = descent_schedule_step(t->opt, t->schedule_metric ? loss : NAN)) < 0)
            return tfail(t, rc, "%s", descent_errmsg(t->opt));
        loss_sum += loss * (double)rows;
        if (progress) {
            descent_train_progress p = {t->epochs_done + 1, b + 1, batches, loss_sum / (double)(first + rows),
                                        descent_get_lr(t->opt, 0), now_seconds() - t0};
            if (progress(ctx, &p))
                return tfail(t, DESCENT_STOP_CANCELLED, "cancelled in epoch %d", t->epochs_done + 1);
        }
    }
    t->epochs_done++;
    descent_epoch_result res;
    res.epoch = t->epochs_done;
    res.train_loss = loss_sum / (double)t->ntrain;
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
    res.lr = descent_get_lr(t->opt, 0);
    res.seconds = now_seconds() - t0;
    if (r)
        *r = res;
    return 0;
}

/* ---- checkpoints --------------------------------------------------------
 * magic[8] "DSCTRAIN", u32 version, u32 dtype, u32 epochs_done, u32 tensors,
 * u64 features, u64 classes, u64 train rows, u64 rng[4],
 * per tensor: u64 n, n parameters; u64 optimizer image length, the image;
 * u32 CRC-32 of everything before it. Native byte order. */

typedef struct wbuf {
    unsigned char *p;
    size_t n, cap;
    bool oom;
} wbuf;

static void put(wbuf *w, const void *data, size_t len)
{
    if (w->oom)
        return;
    if (w->n + len > w->cap) {
        size_t ncap = w->cap ? w->cap * 2 : 4096;
        while (ncap < w->n + len)
            ncap *= 2;
        unsigned char *np = realloc(w->p, ncap);
        if (!np) {
            w->oom = true;
            return;
        }
        w->p = np;
        w->cap = ncap;
    }
    memcpy(w->p + w->n, data, len);
    w->n += len;
}

static void put_u32(wbuf *w, uint32_t v) { put(w, &v, sizeof v); }
static void put_u64(wbuf *w, uint64_t v) { put(w, &v, sizeof v); }

int descent_trainer_save(const descent_trainer *t_, const char *path)
{
    descent_trainer *t = (descent_trainer *)t_; /* errmsg only */
    if (!t || !path)
        return DESCENT_ERR_INVALID;
    wbuf w = {0};
    put(&w, ckpt_magic, sizeof ckpt_magic);
    put_u32(&w, CKPT_VERSION);
    put_u32(&w, (uint32_t)descent_model_dtype(t->model));
    put_u32(&w, (uint32_t)t->epochs_done);
    int nt = descent_model_num_tensors(t->model);
    put_u32(&w, (uint32_t)nt);
    put_u64(&w, t->features);
    put_u64(&w, t->classes);
    put_u64(&w, t->ntrain);
    for (int i = 0; i < 4; i++)
        put_u64(&w, t->rng.s[i]);
    size_t es = descent_model_dtype(t->model) == DESCENT_F64 ? sizeof(double) : sizeof(float);
    for (int i = 0; i < nt; i++) {
        void *p;
        size_t n;
        descent_model_tensor(t->model, i, &p, NULL, &n, NULL);
        put_u64(&w, n);
        put(&w, p, n * es);
    }
    size_t len = 0;
    int rc = descent_save_mem(t->opt, NULL, 0, &len);
    unsigned char *img = rc < 0 ? NULL : malloc(len ? len : 1);
    if (rc == 0 && !img)
        rc = DESCENT_ERR_NOMEM;
    if (rc == 0)
        rc = descent_save_mem(t->opt, img, len, &len);
    if (rc < 0) {
        free(img);
        free(w.p);
        return tfail(t, rc, "saving the optimizer: %s", descent_errmsg(t->opt));
    }
    put_u64(&w, len);
    put(&w, img, len);
    free(img);
    if (!w.oom)
        put_u32(&w, descent_crc32(0, w.p, w.n));
    if (w.oom) {
        free(w.p);
        return tfail(t, DESCENT_ERR_NOMEM, "out of memory writing a checkpoint");
    }
    /* Write to a temporary name, flush, rename: a crash leaves old or new. */
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 8);
    if (!tmp) {
        free(w.p);
        return tfail(t, DESCENT_ERR_NOMEM, "out of memory");
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    FILE *fp = fopen(tmp, "wb");
    bool ok = fp && fwrite(w.p, 1, w.n, fp) == w.n;
    if (fp)
        ok = fclose(fp) == 0 && ok;
    if (ok)
        ok = rename(tmp, path) == 0;
    int e = errno;
    free(w.p);
    if (!ok) {
        remove(tmp);
        free(tmp);
        return tfail(t, DESCENT_ERR_IO, "%s: cannot write: %s", path, strerror(e));
    }
    free(tmp);
    return 0;
}

typedef struct rbuf {
    const unsigned char *p;
    size_t n, at;
} rbuf;

static bool get(rbuf *r, void *out, size_t len)
{
    if (r->n - r->at < len)
        return false;
    memcpy(out, r->p + r->at, len);
    r->at += len;
    return true;
}

int descent_trainer_load(descent_trainer *t, const char *path)
{
    if (!t || !path)
        return DESCENT_ERR_INVALID;
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return tfail(t, DESCENT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0, got;
    unsigned char *buf = malloc(cap);
    while (buf && (got = fread(buf + n, 1, cap - n, fp)) > 0) {
        n += got;
        if (n == cap) {
            unsigned char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(fp);
    if (!buf)
        return tfail(t, DESCENT_ERR_NOMEM, "out of memory reading %s", path);
    int rc = 0;
    rbuf r = {buf, n, 0};
    char magic[8];
    uint32_t version, dtype, epochs, nt, crc;
    uint64_t features, classes, ntrain, rng[4];
    if (n < sizeof magic + 4 || !get(&r, magic, sizeof magic) || memcmp(magic, ckpt_magic, sizeof magic) != 0) {
        rc = tfail(t, DESCENT_ERR_CHECKPOINT, "%s: not a descent training checkpoint", path);
        goto done;
    }
    memcpy(&crc, buf + n - 4, 4);
    if (descent_crc32(0, buf, n - 4) != crc) {
        rc = tfail(t, DESCENT_ERR_CHECKPOINT, "%s: checksum mismatch (truncated or corrupt)", path);
        goto done;
    }
    r.n = n - 4;
    if (!get(&r, &version, 4) || !get(&r, &dtype, 4) || !get(&r, &epochs, 4) || !get(&r, &nt, 4) ||
        !get(&r, &features, 8) || !get(&r, &classes, 8) || !get(&r, &ntrain, 8) || !get(&r, rng, sizeof rng)) {
        rc = tfail(t, DESCENT_ERR_CHECKPOINT, "%s: truncated header", path);
        goto done;
    }
    if (version != CKPT_VERSION) {
        rc = tfail(t, DESCENT_ERR_CHECKPOINT, "%s: checkpoint version %u, this build reads %u", path, version,
                   CKPT_VERSION);
        goto done;
    }
    if (dtype != (uint32_t)descent_model_dtype(t->model) || nt != (uint32_t)descent_model_num_tensors(t->model) ||
        features != t->features || classes != t->classes || ntrain != t->ntrain) {
        rc = tfail(t, DESCENT_ERR_CHECKPOINT, "%s: saved from a different run (dtype %u, %u tensors, %llu features, "
                   "%llu classes, %llu training rows; this run has %u, %d, %zu, %zu, %zu)", path, dtype, nt,
                   (unsigned long long)features, (unsigned long long)classes, (unsigned long long)ntrain,
                   (unsigned)descent_model_dtype(t->model), descent_model_num_tensors(t->model), t->features,
                   t->classes, t->ntrain);
        goto done;
    }
    size_t es = dtype == DESCENT_F64 ? sizeof(double) : sizeof(float);
    size_t params_at = r.at;
    for (uint32_t i = 0; i < nt; i++) {
        uint64_t cnt;
        size_t want;
        descent_model_tensor(t->model, (int)i, NULL, NULL, &want, NULL);
        if (!get(&r, &cnt, 8) || cnt != want || r.n - r.at < cnt * es) {
            rc = tfail(t, DESCENT_ERR_CHECKPOINT, "%s: tensor %u has a different shape or is truncated", path, i);
            goto done;
        }
        r.at += cnt * es;
    }
    uint64_t len;
    if (!get(&r, &len, 8) || r.n - r.at != len) {
        rc = tfail(t, DESCENT_ERR_CHECKPOINT, "%s: bad optimizer image length", path);
        goto done;
    }
    /* Everything checked: the optimizer first (it validates and leaves
     * itself untouched on error), then parameters, generator, epoch. */
    if ((rc = descent_load_mem(t->opt, r.p + r.at, len)) < 0) {
        rc = tfail(t, rc, "%s: %s", path, descent_errmsg(t->opt));
        goto done;
    }
    r.at = params_at;
    for (uint32_t i = 0; i < nt; i++) {
        uint64_t cnt = 0;
        void *p;
        get(&r, &cnt, 8);
        descent_model_tensor(t->model, (int)i, &p, NULL, NULL, NULL);
        get(&r, p, cnt * es);
    }
    memcpy(t->rng.s, rng, sizeof rng);
    t->epochs_done = (int)epochs;
done:
    free(buf);
    return rc;
}
