/* descent train --plot (see train_plot.h). */
#include "train_plot.h"
#include "svg.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

struct train_plot {
    double *epoch, *train, *val;
    size_t n, cap;
};

train_plot *train_plot_begin(void) { return calloc(1, sizeof(train_plot)); }

int train_plot_add(train_plot *p, const descent_epoch_result *r)
{
    if (!p)
        return -1;
    if (p->n == p->cap) {
        size_t ncap = p->cap ? 2 * p->cap : 64;
        double *a[3] = {p->epoch, p->train, p->val};
        for (int k = 0; k < 3; k++) {
            double *na = realloc(a[k], sizeof *na * ncap);
            if (!na)
                return -1;
            a[k] = na;
        }
        p->epoch = a[0], p->train = a[1], p->val = a[2];
        p->cap = ncap;
    }
    p->epoch[p->n] = r->epoch;
    p->train[p->n] = r->train_loss;
    p->val[p->n] = r->val_loss;
    p->n++;
    return 0;
}

static void free_plot(train_plot *p)
{
    if (!p)
        return;
    free(p->epoch);
    free(p->train);
    free(p->val);
    free(p);
}

int train_plot_end(train_plot *p, const char *model, const char *optimizer, const char *path)
{
    if (!p) {
        errno = ENOMEM;
        return -1;
    }
    if (!p->n || !path) {
        free_plot(p);
        return 0;
    }
    double lo = INFINITY, hi = 0;
    int has_val = 0;
    for (size_t k = 0; k < p->n; k++) {
        double v[2] = {p->train[k], p->val[k]};
        has_val |= !isnan(p->val[k]);
        for (int j = 0; j < 2; j++)
            if (isfinite(v[j]) && v[j] > 0) {
                lo = v[j] < lo ? v[j] : lo;
                hi = v[j] > hi ? v[j] : hi;
            }
    }
    int logy = lo > 0 && isfinite(lo) && hi / lo > 10;
    char title[512];
    snprintf(title, sizeof title, "%s trained with %s", model, optimizer);
    svg_chart *c = svg_chart_begin(title, "epoch", logy ? "loss (log scale)" : "loss", logy);
    svg_chart_integer_x(c);
    if (!logy) {
        svg_chart_include_y(c, 0);
        svg_chart_include_y(c, 1.05 * hi);
    }
    int ok = c && svg_chart_add_series(c, "training loss", p->n, p->epoch, p->train, 0) == 0;
    if (ok && has_val)
        ok = svg_chart_add_series(c, "validation loss", p->n, p->epoch, p->val, 1) == 0;
    free_plot(p);
    if (!ok) {
        svg_chart_free(c);
        errno = ENOMEM;
        return -1;
    }
    return svg_chart_end(c, path);
}
