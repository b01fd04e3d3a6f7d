/* The numeric core of a model for one dtype: included by model.c with REAL
 * (float or double), SFX (f32 or f64) and GEMM defined. A model is a stack
 * of affine layers Z = A W + b (W stored inputs x outputs), a hidden
 * activation between them, and a loss head on the last layer's output. */

#define CAT_(a, b) a##_##b
#define CAT(a, b) CAT_(a, b)
#define FN(name) CAT(name, SFX)

/* Forward over rows of X (converted to REAL), keeping every layer's output
 * in m->act[l] (act[0] is the input). */
static void FN(forward)(descent_model *m, const double *X, size_t rows)
{
    REAL *a0 = m->act[0];
    for (size_t i = 0; i < rows * m->sizes[0]; i++)
        a0[i] = (REAL)X[i];
    for (int l = 0; l < m->nlayers; l++) {
        size_t in = m->sizes[l], out = m->sizes[l + 1];
        REAL *z = m->act[l + 1];
        const REAL *b = m->b[l];
        for (size_t i = 0; i < rows; i++)
            memcpy(z + i * out, b, out * sizeof *z);
        GEMM(m->use_blas, false, false, rows, out, in, (const REAL *)m->act[l], in, (const REAL *)m->W[l], out,
             (REAL)1, z, out);
        if (l + 1 < m->nlayers) {
            size_t cnt = rows * out;
            if (m->activation == ACT_RELU) {
                for (size_t i = 0; i < cnt; i++)
                    z[i] = z[i] > 0 ? z[i] : 0;
            } else {
                for (size_t i = 0; i < cnt; i++)
                    z[i] = (REAL)tanh((double)z[i]);
            }
        }
    }
}

/* The loss head: the summed loss over rows into *loss_sum, the number of
 * rows whose prediction is right into *correct, and, when dz is not NULL,
 * dLoss/dZ of the mean loss (scale = 1/batch rows) into dz. */
static void FN(head)(const descent_model *m, const double *y, size_t rows, REAL *dz, double scale, double *loss_sum,
                     size_t *correct)
{
    const REAL *z = m->act[m->nlayers];
    size_t k = m->sizes[m->nlayers];
    double total = 0;
    size_t right = 0;
    for (size_t i = 0; i < rows; i++) {
        const REAL *zi = z + i * k;
        if (m->head == HEAD_MSE) {
            double r = (double)zi[0] - y[i];
            total += r * r;
            if (dz)
                dz[i] = (REAL)(2 * r * scale);
        } else if (m->head == HEAD_BCE) {
            /* softplus(z) - y z = -[y log s(z) + (1 - y) log(1 - s(z))] */
            double t = (double)zi[0];
            double sp = (t > 0 ? t : 0) + log1p(exp(-fabs(t)));
            total += sp - y[i] * t;
            right += (t > 0) == (y[i] > 0.5);
            if (dz) {
                double s = t >= 0 ? 1 / (1 + exp(-t)) : exp(t) / (1 + exp(t));
                dz[i] = (REAL)((s - y[i]) * scale);
            }
        } else {
            /* logsumexp(z) - z_y, with the max subtracted first. */
            size_t label = (size_t)y[i], best = 0;
            double mx = (double)zi[0];
            for (size_t j = 1; j < k; j++)
                if ((double)zi[j] > mx) {
                    mx = (double)zi[j];
                    best = j;
                }
            double se = 0;
            for (size_t j = 0; j < k; j++)
                se += exp((double)zi[j] - mx);
            double lse = mx + log(se);
            total += lse - (double)zi[label];
            right += best == label;
            if (dz)
                for (size_t j = 0; j < k; j++) {
                    double p = exp((double)zi[j] - lse);
                    dz[i * k + j] = (REAL)((p - (j == label ? 1.0 : 0.0)) * scale);
                }
        }
    }
    *loss_sum = total;
    *correct = right;
}

static double FN(loss_grad)(descent_model *m, const double *X, const double *y, size_t rows)
{
    FN(forward)(m, X, rows);
    REAL *dz = m->delta[0], *da = m->delta[1];
    double loss;
    size_t correct;
    FN(head)(m, y, rows, dz, 1.0 / (double)rows, &loss, &correct);
    loss /= (double)rows;
    for (int l = m->nlayers - 1; l >= 0; l--) {
        size_t in = m->sizes[l], out = m->sizes[l + 1];
        const REAL *a = m->act[l];
        REAL *gw = m->gW[l], *gb = m->gb[l];
        /* dW = A^T dZ, db = column sums of dZ */
        GEMM(m->use_blas, true, false, in, out, rows, a, in, dz, out, (REAL)0, gw, out);
        for (size_t j = 0; j < out; j++)
            gb[j] = 0;
        for (size_t i = 0; i < rows; i++)
            for (size_t j = 0; j < out; j++)
                gb[j] += dz[i * out + j];
        if (m->l2 > 0) {
            const REAL *w = m->W[l];
            REAL l2 = (REAL)m->l2;
            double sq = 0;
            for (size_t i = 0; i < in * out; i++) {
                gw[i] += l2 * w[i];
                sq += (double)w[i] * (double)w[i];
            }
            loss += 0.5 * m->l2 * sq;
        }
        if (l == 0)
            break;
        /* dA = dZ W^T, then through the activation: relu' = [a > 0],
         * tanh' = 1 - a^2 (a is the activation's output). */
        GEMM(m->use_blas, false, true, rows, in, out, dz, out, (const REAL *)m->W[l], out, (REAL)0, da, in);
        size_t cnt = rows * in;
        if (m->activation == ACT_RELU) {
            for (size_t i = 0; i < cnt; i++)
                if (!(a[i] > 0))
                    da[i] = 0;
        } else {
            for (size_t i = 0; i < cnt; i++)
                da[i] *= 1 - a[i] * a[i];
        }
        REAL *t = dz;
        dz = da;
        da = t;
    }
    return loss;
}

static void FN(evaluate)(descent_model *m, const double *X, const double *y, size_t rows, double *loss_sum,
                         size_t *correct)
{
    FN(forward)(m, X, rows);
    FN(head)(m, y, rows, NULL, 0, loss_sum, correct);
}

static void FN(init_params)(descent_model *m, descent_rng *rng)
{
    for (int l = 0; l < m->nlayers; l++) {
        size_t in = m->sizes[l], out = m->sizes[l + 1];
        double bound = 1 / sqrt((double)in);
        REAL *w = m->W[l], *b = m->b[l];
        for (size_t i = 0; i < in * out; i++)
            w[i] = (REAL)((2 * descent_rng_uniform(rng) - 1) * bound);
        for (size_t j = 0; j < out; j++)
            b[j] = (REAL)((2 * descent_rng_uniform(rng) - 1) * bound);
    }
}

#undef FN
#undef CAT
#undef CAT_
