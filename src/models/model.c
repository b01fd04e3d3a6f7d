/* Models: linear, logistic, softmax and mlp share one representation, a
 * stack of affine layers with a loss head; linear/logistic/softmax are the
 * stack without hidden layers. The numeric core is net_impl.h, instantiated
 * once per dtype. */
#include "../minimize/args.h"
#include "models.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LAYERS 9
#define MAX_WIDTH ((size_t)1 << 20)
/* Rows per evaluation chunk: bounds the workspace evaluate() needs. */
#define EVAL_ROWS 512

enum { ACT_RELU = 0, ACT_TANH = 1 };
enum { HEAD_MSE = 0, HEAD_BCE = 1, HEAD_CE = 2 };
enum { KIND_LINEAR, KIND_LOGISTIC, KIND_SOFTMAX, KIND_MLP };

/* Which matrix product a new model uses: set from the figure measured in
 * docs/models.md (descent bench-models). */
#define DESCENT_DEFAULT_BLAS 0

struct descent_model {
    descent_dtype dtype;
    int kind;
    int nlayers;
    size_t sizes[MAX_LAYERS + 1];
    int activation;
    int head;
    double l2;
    size_t classes;
    bool use_blas;
    void *W[MAX_LAYERS], *b[MAX_LAYERS], *gW[MAX_LAYERS], *gb[MAX_LAYERS];
    /* Workspace for ws_rows rows: every layer's output, two delta buffers. */
    size_t ws_rows;
    void *act[MAX_LAYERS + 1];
    void *delta[2];
    char names[2 * MAX_LAYERS][32];
    char errmsg[512];
};

#define REAL double
#define SFX f64
#define GEMM descent_gemm_f64
#include "net_impl.h"
#undef REAL
#undef SFX
#undef GEMM
#define REAL float
#define SFX f32
#define GEMM descent_gemm_f32
#include "net_impl.h"
#undef REAL
#undef SFX
#undef GEMM

typedef struct model_spec {
    int kind;
    size_t hidden[MAX_LAYERS];
    int nhidden;
    int activation;
    double l2;
    int task;
} model_spec;

static int parse_spec(model_spec *ms, const char *spec, descent_error *err)
{
    static const char *const kinds[] = {"linear", "logistic", "softmax", "mlp"};
    static const char *const plain_args[] = {"l2", NULL};
    static const char *const mlp_args[] = {"hidden", "activation", "l2", "task", NULL};
    static const char *const activations[] = {"relu", "tanh", NULL};
    static const char *const tasks[] = {"auto", "regression", "classification", NULL};
    memset(ms, 0, sizeof *ms);
    spec_doc doc;
    int rc = descent_spec_parse(&doc, spec, NULL, err);
    if (rc < 0)
        return rc;
    const spec_node *call = doc.root;
    ms->kind = -1;
    if (call->kind == SPEC_CALL || call->kind == SPEC_NAME)
        for (int k = 0; k < 4; k++)
            if (descent_name_eq(call->str, kinds[k]))
                ms->kind = k;
    if (ms->kind < 0) {
        spec_node at = *call;
        if (call->str)
            at.end = at.pos + strlen(call->str);
        rc = descent_spec_fail(&doc, &at, err, DESCENT_ERR_SPEC,
                               "unknown model%s%s%s (known: linear, logistic, softmax, mlp)", call->str ? " '" : "",
                               call->str ? call->str : "", call->str ? "'" : "");
        descent_spec_free(&doc);
        return rc;
    }
    const spec_node *args[4];
    if (ms->kind == KIND_MLP) {
        ms->hidden[0] = 64;
        ms->hidden[1] = 32;
        ms->nhidden = 2;
        rc = descent_args_bind(&doc, call, "mlp", mlp_args, args, err);
        const spec_node *h = rc == 0 ? args[0] : NULL;
        if (h && h->kind == SPEC_NUM) {
            ms->nhidden = 1;
            rc = descent_args_size(&doc, h, "hidden", 1, MAX_WIDTH, &ms->hidden[0], err);
        } else if (h && (h->kind == SPEC_TUPLE || h->kind == SPEC_LIST)) {
            if (h->n < 1 || h->n > MAX_LAYERS - 1)
                rc = descent_spec_fail(&doc, h, err, DESCENT_ERR_INVALID, "hidden must have 1 to %d layer sizes, got %d",
                                       MAX_LAYERS - 1, h->n);
            ms->nhidden = h->n;
            for (int i = 0; rc == 0 && i < h->n; i++)
                rc = descent_args_size(&doc, &h->items[i], "hidden size", 1, MAX_WIDTH, &ms->hidden[i], err);
        } else if (h) {
            rc = descent_spec_fail(&doc, h, err, DESCENT_ERR_SPEC, "hidden must be a tuple of layer sizes such as "
                                   "(64, 32), got %s", descent_spec_kind_name(h->kind));
        }
        if (rc == 0)
            rc = descent_args_choice(&doc, args[1], "activation", activations, &ms->activation, err);
        if (rc == 0)
            rc = descent_args_real(&doc, args[2], "l2", 0, false, INFINITY, &ms->l2, err);
        if (rc == 0)
            rc = descent_args_choice(&doc, args[3], "task", tasks, &ms->task, err);
    } else {
        rc = descent_args_bind(&doc, call, kinds[ms->kind], plain_args, args, err);
        if (rc == 0)
            rc = descent_args_real(&doc, args[0], "l2", 0, false, INFINITY, &ms->l2, err);
        ms->task = ms->kind == KIND_LINEAR ? DESCENT_TASK_REGRESSION : DESCENT_TASK_CLASSIFICATION;
    }
    descent_spec_free(&doc);
    return rc;
}

int descent_model_task(const char *spec, int *task, descent_error *err)
{
    model_spec ms;
    int rc = parse_spec(&ms, spec, err);
    if (rc == 0 && task)
        *task = ms.task;
    return rc;
}

static size_t elem_size(const descent_model *m) { return m->dtype == DESCENT_F64 ? sizeof(double) : sizeof(float); }

static void free_workspace(descent_model *m)
{
    for (int l = 0; l <= m->nlayers; l++) {
        free(m->act[l]);
        m->act[l] = NULL;
    }
    free(m->delta[0]);
    free(m->delta[1]);
    m->delta[0] = m->delta[1] = NULL;
    m->ws_rows = 0;
}

static int ensure_workspace(descent_model *m, size_t rows)
{
    if (rows <= m->ws_rows)
        return 0;
    free_workspace(m);
    size_t widest = 0;
    for (int l = 0; l <= m->nlayers; l++)
        widest = m->sizes[l] > widest ? m->sizes[l] : widest;
    if (rows > SIZE_MAX / elem_size(m) / widest) {
        snprintf(m->errmsg, sizeof m->errmsg, "a batch of %zu rows is too large", rows);
        return DESCENT_ERR_NOMEM;
    }
    bool ok = true;
    for (int l = 0; l <= m->nlayers; l++)
        ok = ok && (m->act[l] = malloc(rows * m->sizes[l] * elem_size(m))) != NULL;
    for (int k = 0; k < 2; k++)
        ok = ok && (m->delta[k] = malloc(rows * widest * elem_size(m))) != NULL;
    if (!ok) {
        free_workspace(m);
        snprintf(m->errmsg, sizeof m->errmsg, "out of memory for a batch of %zu rows", rows);
        return DESCENT_ERR_NOMEM;
    }
    m->ws_rows = rows;
    return 0;
}

void descent_model_destroy(descent_model *m)
{
    if (!m)
        return;
    for (int l = 0; l < m->nlayers; l++) {
        free(m->W[l]);
        free(m->b[l]);
        free(m->gW[l]);
        free(m->gb[l]);
    }
    free_workspace(m);
    free(m);
}

int descent_model_create(descent_model **out, const char *spec, size_t inputs, size_t classes, descent_dtype dtype,
                         uint64_t seed, descent_error *err)
{
    if (!out)
        return descent_fail(err, DESCENT_ERR_INVALID, "out must not be NULL");
    *out = NULL;
    model_spec ms;
    int rc = parse_spec(&ms, spec, err);
    if (rc < 0)
        return rc;
    if (inputs == 0 || inputs > MAX_WIDTH)
        return descent_fail(err, DESCENT_ERR_INVALID, "inputs must be in [1, %zu], got %zu", MAX_WIDTH, inputs);
    if (dtype != DESCENT_F32 && dtype != DESCENT_F64)
        return descent_fail(err, DESCENT_ERR_INVALID, "dtype must be DESCENT_F32 or DESCENT_F64");
    if (classes == 1 || classes > MAX_WIDTH)
        return descent_fail(err, DESCENT_ERR_INVALID, "classes must be 0 (continuous target) or at least 2, got %zu",
                            classes);
    if (ms.task == DESCENT_TASK_REGRESSION && classes != 0)
        return descent_fail(err, DESCENT_ERR_INVALID, "%s is a regression model; it needs a continuous target "
                            "(classes = 0), got %zu classes", ms.kind == KIND_LINEAR ? "linear()" : "this mlp", classes);
    if (ms.task == DESCENT_TASK_CLASSIFICATION && classes == 0)
        return descent_fail(err, DESCENT_ERR_INVALID, "%s is a classifier; it needs class labels 0..K-1, the target "
                            "is continuous", ms.kind == KIND_LOGISTIC ? "logistic()" : ms.kind == KIND_SOFTMAX ?
                            "softmax()" : "this mlp");
    if (ms.kind == KIND_LOGISTIC && classes != 2)
        return descent_fail(err, DESCENT_ERR_INVALID, "logistic() needs two classes (labels 0 and 1), got %zu; use "
                            "softmax() for more", classes);
    descent_model *m = calloc(1, sizeof *m);
    if (!m)
        return descent_fail(err, DESCENT_ERR_NOMEM, "out of memory");
    m->dtype = dtype;
    m->kind = ms.kind;
    m->activation = ms.activation;
    m->l2 = ms.l2;
    m->classes = classes;
    m->use_blas = DESCENT_DEFAULT_BLAS && descent_blas_available();
    m->head = classes == 0 ? HEAD_MSE : ms.kind == KIND_LOGISTIC ? HEAD_BCE : HEAD_CE;
    m->sizes[0] = inputs;
    int nh = ms.kind == KIND_MLP ? ms.nhidden : 0;
    for (int i = 0; i < nh; i++)
        m->sizes[1 + i] = ms.hidden[i];
    m->sizes[nh + 1] = m->head == HEAD_CE ? classes : 1;
    m->nlayers = nh + 1;
    bool ok = true;
    for (int l = 0; l < m->nlayers && ok; l++) {
        size_t nw = m->sizes[l] * m->sizes[l + 1], nb = m->sizes[l + 1];
        ok = (m->W[l] = calloc(nw, elem_size(m))) && (m->gW[l] = calloc(nw, elem_size(m))) &&
             (m->b[l] = calloc(nb, elem_size(m))) && (m->gb[l] = calloc(nb, elem_size(m)));
        snprintf(m->names[2 * l], sizeof m->names[0], "layers.%d.weight", l);
        snprintf(m->names[2 * l + 1], sizeof m->names[0], "layers.%d.bias", l);
    }
    if (!ok) {
        descent_model_destroy(m);
        return descent_fail(err, DESCENT_ERR_NOMEM, "out of memory for the model's parameters");
    }
    descent_rng rng;
    descent_rng_seed(&rng, seed, 1);
    if (dtype == DESCENT_F64)
        init_params_f64(m, &rng);
    else
        init_params_f32(m, &rng);
    *out = m;
    return 0;
}

const char *descent_model_errmsg(const descent_model *m) { return m ? m->errmsg : "no model"; }

int descent_model_num_tensors(const descent_model *m) { return m ? 2 * m->nlayers : 0; }

int descent_model_tensor(const descent_model *m, int i, void **param, void **grad, size_t *n, const char **name)
{
    if (!m || i < 0 || i >= 2 * m->nlayers)
        return DESCENT_ERR_INVALID;
    int l = i / 2;
    bool w = i % 2 == 0;
    if (param)
        *param = w ? m->W[l] : m->b[l];
    if (grad)
        *grad = w ? m->gW[l] : m->gb[l];
    if (n)
        *n = w ? m->sizes[l] * m->sizes[l + 1] : m->sizes[l + 1];
    if (name)
        *name = m->names[i];
    return 0;
}

size_t descent_model_num_params(const descent_model *m)
{
    size_t total = 0;
    for (int l = 0; m && l < m->nlayers; l++)
        total += (m->sizes[l] + 1) * m->sizes[l + 1];
    return total;
}

descent_dtype descent_model_dtype(const descent_model *m) { return m ? m->dtype : DESCENT_F32; }

size_t descent_model_classes(const descent_model *m) { return m ? m->classes : 0; }

int descent_model_register(descent_model *m, descent_optimizer *opt, int group)
{
    if (!m || !opt)
        return DESCENT_ERR_INVALID;
    for (int i = 0; i < 2 * m->nlayers; i++) {
        void *p, *g;
        size_t n;
        descent_model_tensor(m, i, &p, &g, &n, NULL);
        /* W is stored inputs x outputs, b is 1-D. */
        size_t shape[2] = {m->sizes[i / 2], m->sizes[i / 2 + 1]};
        int rc = i % 2 == 0 ? descent_add_tensor_shaped(opt, group, p, g, 2, shape, m->dtype)
                            : descent_add_tensor(opt, group, p, g, n, m->dtype);
        if (rc < 0) {
            snprintf(m->errmsg, sizeof m->errmsg, "registering %s: %s", m->names[i], descent_errmsg(opt));
            return rc;
        }
    }
    return 0;
}

static int check_targets(descent_model *m, const double *y, size_t rows)
{
    if (m->classes == 0) {
        for (size_t i = 0; i < rows; i++)
            if (!isfinite(y[i])) {
                snprintf(m->errmsg, sizeof m->errmsg, "target of row %zu is %g", i, y[i]);
                return DESCENT_ERR_INVALID;
            }
        return 0;
    }
    for (size_t i = 0; i < rows; i++)
        if (!(y[i] >= 0 && y[i] < (double)m->classes && y[i] == floor(y[i]))) {
            snprintf(m->errmsg, sizeof m->errmsg, "label of row %zu is %g, not an integer in [0, %zu)", i, y[i],
                     m->classes);
            return DESCENT_ERR_INVALID;
        }
    return 0;
}

int descent_model_loss_grad(descent_model *m, const double *X, const double *y, size_t rows, double *loss)
{
    if (!m)
        return DESCENT_ERR_INVALID;
    if (!X || !y || rows == 0) {
        snprintf(m->errmsg, sizeof m->errmsg, "X and y must not be NULL and rows must be at least 1");
        return DESCENT_ERR_INVALID;
    }
    int rc = check_targets(m, y, rows);
    if (rc == 0)
        rc = ensure_workspace(m, rows);
    if (rc < 0)
        return rc;
    double v = m->dtype == DESCENT_F64 ? loss_grad_f64(m, X, y, rows) : loss_grad_f32(m, X, y, rows);
    if (loss)
        *loss = v;
    return 0;
}

int descent_model_evaluate(descent_model *m, const double *X, const double *y, size_t rows, double *loss,
                           double *accuracy)
{
    if (!m)
        return DESCENT_ERR_INVALID;
    if (!X || !y || rows == 0) {
        snprintf(m->errmsg, sizeof m->errmsg, "X and y must not be NULL and rows must be at least 1");
        return DESCENT_ERR_INVALID;
    }
    int rc = check_targets(m, y, rows);
    if (rc == 0)
        rc = ensure_workspace(m, rows < EVAL_ROWS ? rows : EVAL_ROWS);
    if (rc < 0)
        return rc;
    double total = 0;
    size_t right = 0;
    for (size_t r0 = 0; r0 < rows; r0 += EVAL_ROWS) {
        size_t n = rows - r0 < EVAL_ROWS ? rows - r0 : EVAL_ROWS;
        double s;
        size_t c;
        if (m->dtype == DESCENT_F64)
            evaluate_f64(m, X + r0 * m->sizes[0], y + r0, n, &s, &c);
        else
            evaluate_f32(m, X + r0 * m->sizes[0], y + r0, n, &s, &c);
        total += s;
        right += c;
    }
    if (loss)
        *loss = total / (double)rows;
    if (accuracy)
        *accuracy = m->classes ? (double)right / (double)rows : NAN;
    return 0;
}

int descent_model_set_blas(descent_model *m, int use_blas)
{
    if (!m)
        return DESCENT_ERR_INVALID;
    if (use_blas != 0 && use_blas != 1) {
        snprintf(m->errmsg, sizeof m->errmsg, "use_blas must be 0 or 1, got %d", use_blas);
        return DESCENT_ERR_INVALID;
    }
    if (use_blas && !descent_blas_available()) {
        snprintf(m->errmsg, sizeof m->errmsg, "this build has no CBLAS");
        return DESCENT_ERR_STATE;
    }
    m->use_blas = use_blas;
    return 0;
}

int descent_model_get_blas(const descent_model *m) { return m && m->use_blas ? 1 : 0; }
