/* CSV files with Windows line ends (CRLF) and with a UTF-8 byte-order mark
 * (as spreadsheets save them) read as the same table as the LF file, and a
 * run trained on each ends with the same bits: the same history, the same
 * parameters. Runs on every platform, under wine too (the library only). */
#include "testutil.h"

#include <descent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROWS 90
#define NVAR 3

enum { LF, CRLF, BOM_CRLF, BOM_LF, NFORMS };
static const char *const form_name[NFORMS] = {"LF", "CRLF", "BOM+CRLF", "BOM+LF"};

/* A small data set from integers (the same text everywhere): three
 * features and a class label 0-2 that depends on them. Header, then rows;
 * the last row has no line end, as an editor may leave it. */
static int write_csv(const char *path, int form)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    const char *eol = form == CRLF || form == BOM_CRLF ? "\r\n" : "\n";
    if (form == BOM_CRLF || form == BOM_LF)
        fputs("\xEF\xBB\xBF", f);
    fprintf(f, "x1,x2 , x3,label%s", eol);
    for (int i = 0; i < ROWS; i++) {
        int a = (i * 37) % 23 - 11, b = (i * 53) % 19 - 9, c = (i * 29) % 17 - 8;
        int label = (a + 2 * b - c > 3) + (a - b + c > 4);
        fprintf(f, "%d.%d,%d.25, %d,%d%s", a, i % 10, b, c, label, i + 1 < ROWS ? eol : "");
        if (i == ROWS / 2)
            fputs(eol, f); /* a blank line, skipped */
    }
    return fclose(f);
}

typedef struct outcome {
    descent_epoch_result hist[4];
    size_t nhist;
    double params[512];
    size_t nparams;
} outcome;

static int train(const char *path, outcome *o)
{
    descent_train_config c;
    descent_train_default_config(&c);
    c.data = path;
    c.target = "label";
    c.model = "mlp(hidden=(8,), activation='tanh')";
    c.optimizer = "Adam(lr=0.01)";
    c.batch_size = 16;
    c.dtype = DESCENT_F64;
    c.blas = 0;
    c.epochs = 3;
    descent_trainer *t = NULL;
    descent_error err;
    if (descent_trainer_create(&t, &c, &err) < 0) {
        fprintf(stderr, "%s: %s\n", path, err.message);
        return -1;
    }
    int rc = 0;
    for (int e = 0; e < c.epochs && rc == 0; e++) {
        descent_epoch_result r;
        rc = descent_trainer_epoch(t, NULL, NULL, &r) < 0 ? -1 : 0;
    }
    const descent_epoch_result *h = descent_trainer_history(t, &o->nhist);
    if (h && o->nhist <= 4)
        memcpy(o->hist, h, o->nhist * sizeof *h);
    descent_model *m = descent_trainer_model(t);
    o->nparams = 0;
    for (int i = 0; i < descent_model_num_tensors(m); i++) {
        void *p, *g;
        size_t n;
        const char *name;
        descent_model_tensor(m, i, &p, &g, &n, &name);
        for (size_t j = 0; j < n && o->nparams < 512; j++)
            o->params[o->nparams++] = ((const double *)p)[j];
    }
    descent_trainer_destroy(t);
    return rc;
}

int main(void)
{
    char path[NFORMS][64];
    descent_table tab[NFORMS];
    static outcome out[NFORMS];
    for (int k = 0; k < NFORMS; k++) {
        snprintf(path[k], sizeof path[k], "csv_crlf_%d.csv", k);
        CHECK(write_csv(path[k], k) == 0, "write %s", path[k]);
        descent_error err;
        CHECK(descent_table_read_csv(&tab[k], path[k], 1, &err) == 0, "%s: %s", form_name[k], err.message);
        CHECK(train(path[k], &out[k]) == 0, "train on %s", form_name[k]);
    }
    CHECK(tab[LF].rows == ROWS && tab[LF].cols == 4, "LF table: %zu x %zu", tab[LF].rows, tab[LF].cols);
    CHECK(out[LF].nhist == 3 && out[LF].nparams > 0, "LF run: %zu epochs, %zu parameters", out[LF].nhist,
          out[LF].nparams);
    for (int k = 1; k < NFORMS; k++) {
        const char *w = form_name[k];
        CHECK(tab[k].rows == tab[LF].rows && tab[k].cols == tab[LF].cols, "%s: %zu x %zu", w, tab[k].rows, tab[k].cols);
        if (tab[k].rows == tab[LF].rows && tab[k].cols == tab[LF].cols) {
            for (size_t j = 0; j < tab[k].cols; j++)
                CHECK(strcmp(tab[k].names[j], tab[LF].names[j]) == 0, "%s: column %zu is '%s', LF '%s'", w, j + 1,
                      tab[k].names[j], tab[LF].names[j]);
            CHECK(memcmp(tab[k].values, tab[LF].values, tab[k].rows * tab[k].cols * sizeof(double)) == 0,
                  "%s: the values are the LF file's", w);
        }
        CHECK(out[k].nhist == out[LF].nhist && out[k].nparams == out[LF].nparams, "%s: run shape", w);
        int same = out[k].nhist == out[LF].nhist;
        for (size_t e = 0; same && e < out[k].nhist; e++)
            same = memcmp(&out[k].hist[e].train_loss, &out[LF].hist[e].train_loss, sizeof(double)) == 0 &&
                   memcmp(&out[k].hist[e].val_loss, &out[LF].hist[e].val_loss, sizeof(double)) == 0 &&
                   memcmp(&out[k].hist[e].val_accuracy, &out[LF].hist[e].val_accuracy, sizeof(double)) == 0;
        CHECK(same, "%s: the training history has the LF run's bits", w);
        CHECK(memcmp(out[k].params, out[LF].params, out[LF].nparams * sizeof(double)) == 0,
              "%s: the parameters have the LF run's bits", w);
    }
    CHECK(strcmp(tab[LF].names[0], "x1") == 0 && strcmp(tab[LF].names[1], "x2") == 0, "names trimmed");
    for (int k = 0; k < NFORMS; k++) {
        descent_table_free(&tab[k]);
        remove(path[k]);
    }
    return t_done();
}
