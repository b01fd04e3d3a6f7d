/* descent replay: run an optimizer over a given gradient sequence and print
 * the parameters after every step — the way to check descent against any
 * other implementation. */
#include "cli.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void replay_usage(FILE *out)
{
    fprintf(out,
            "usage: descent replay --opt SPEC --params P.csv --grads G.csv [--dtype f32|f64]\n"
            "                      [--shape D1,D2,...] [--eval]\n\n"
            "  --opt SPEC      optimizer, e.g. 'Adam(lr=0.01, betas=(0.9, 0.99))'\n"
            "  --params FILE   one line: the initial parameters, comma-separated\n"
            "  --grads FILE    one line per step: the gradient of that step\n"
            "  --dtype T       f32 (default) or f64\n"
            "  --shape DIMS    the tensor's shape, row-major (default: one dimension);\n"
            "                  Adafactor factors tensors of two or more dimensions\n"
            "  --eval          print the evaluation parameters (descent_eval_params:\n"
            "                  schedule-free's x) instead of the parameters\n\n"
            "Prints one line per step: the parameters after it (%%.9g for f32, %%.17g for f64).\n\n"
            "Optimizers and their arguments (defaults):\n");
    cli_print_optimizers(out);
}

static int replay_run(int argc, char **argv)
{
    const char *cmd = "replay", *spec = NULL, *ppath = NULL, *gpath = NULL;
    descent_dtype dtype = DESCENT_F32;
    int eval = 0, ndim = 0;
    size_t shape[DESCENT_MAX_DIMS];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], **dst = NULL;
        if (strcmp(a, "--eval") == 0) {
            eval = 1;
            continue;
        } else if (strcmp(a, "--shape") == 0) {
            const char *v = cli_flag_value(cmd, argc, argv, &i);
            if (!v)
                return CLI_USAGE;
            for (const char *p = v; *p;) {
                char *end;
                errno = 0;
                unsigned long long d = strtoull(p, &end, 10);
                if (end == p || *p == '-' || ndim == DESCENT_MAX_DIMS || (*end && *end != ',') || errno == ERANGE ||
                    d > SIZE_MAX)
                    return cli_usage_error(cmd, "--shape must be 1 to %d sizes like 3,4; got '%s'", DESCENT_MAX_DIMS, v);
                shape[ndim++] = (size_t)d;
                p = *end ? end + 1 : end;
            }
            if (ndim == 0)
                return cli_usage_error(cmd, "--shape must be 1 to %d sizes like 3,4; got '%s'", DESCENT_MAX_DIMS, v);
            continue;
        } else if (strcmp(a, "--opt") == 0)
            dst = &spec;
        else if (strcmp(a, "--params") == 0)
            dst = &ppath;
        else if (strcmp(a, "--grads") == 0)
            dst = &gpath;
        else if (strcmp(a, "--dtype") == 0) {
            const char *v = cli_flag_value(cmd, argc, argv, &i);
            if (!v)
                return CLI_USAGE;
            if (strcmp(v, "f32") == 0)
                dtype = DESCENT_F32;
            else if (strcmp(v, "f64") == 0)
                dtype = DESCENT_F64;
            else
                return cli_usage_error(cmd, "--dtype must be f32 or f64, got '%s'", v);
            continue;
        } else
            return cli_usage_error(cmd, "unknown option '%s' (see descent replay --help)", a);
        if (!(*dst = cli_flag_value(cmd, argc, argv, &i)))
            return CLI_USAGE;
    }
    if (!spec || !ppath || !gpath)
        return cli_usage_error(cmd, "--opt, --params and --grads are required (see descent replay --help)");

    descent_error err;
    descent_optimizer *opt = NULL;
    if (descent_create_from_spec(&opt, spec, NULL, &err) < 0)
        return cli_usage_error(cmd, "--opt: %s", err.message);
    descent_table P, G;
    if (descent_table_read_csv(&P, ppath, 0, &err) < 0) {
        descent_destroy(opt);
        return cli_usage_error(cmd, "%s", err.message);
    }
    if (descent_table_read_csv(&G, gpath, 0, &err) < 0) {
        descent_table_free(&P);
        descent_destroy(opt);
        return cli_usage_error(cmd, "%s", err.message);
    }
    int rc = CLI_OK;
    if (P.rows != 1) {
        rc = cli_usage_error(cmd, "%s: expected one line of parameters, got %zu", ppath, P.rows);
    } else if (G.rows > 0 && G.cols != P.cols) {
        rc = cli_usage_error(cmd, "%s:1: gradient has %zu values, %s has %zu parameters", gpath, G.cols, ppath, P.cols);
    } else if (ndim > 0) {
        size_t prod = 1;
        int wraps = 0;
        for (int k = 0; k < ndim; k++) {
            wraps |= shape[k] != 0 && prod > SIZE_MAX / shape[k];
            prod *= shape[k];
        }
        if (wraps)
            rc = cli_usage_error(cmd, "--shape's sizes multiply past SIZE_MAX");
        else if (prod != P.cols)
            rc = cli_usage_error(cmd, "--shape has %zu elements, %s has %zu parameters", prod, ppath, P.cols);
    }
    if (ndim == 0) {
        ndim = 1;
        shape[0] = P.cols;
    }
    size_t n = P.cols, elem = dtype == DESCENT_F64 ? sizeof(double) : sizeof(float);
    void *param = NULL, *grad = NULL, *shown = NULL;
    if (rc == CLI_OK) {
        param = calloc(n ? n : 1, elem);
        grad = calloc(n ? n : 1, elem);
        shown = eval ? calloc(n ? n : 1, elem) : param;
        if (!param || !grad || !shown) {
            fprintf(stderr, "descent replay: out of memory\n");
            rc = CLI_FAIL;
        }
    }
    if (rc == CLI_OK) {
        for (size_t j = 0; j < n; j++) {
            if (dtype == DESCENT_F64)
                ((double *)param)[j] = P.values[j];
            else
                ((float *)param)[j] = (float)P.values[j];
        }
        int g = descent_add_group(opt, NULL);
        if (g < 0 || descent_add_tensor_shaped(opt, g, param, grad, ndim, shape, dtype) < 0) {
            fprintf(stderr, "descent replay: %s\n", descent_errmsg(opt));
            rc = CLI_FAIL;
        }
    }
    for (size_t s = 0; rc == CLI_OK && s < G.rows; s++) {
        for (size_t j = 0; j < n; j++) {
            double v = G.values[s * n + j];
            if (dtype == DESCENT_F64)
                ((double *)grad)[j] = v;
            else
                ((float *)grad)[j] = (float)v;
        }
        if (descent_step(opt) < 0) {
            fprintf(stderr, "descent replay: step %zu: %s\n", s + 1, descent_errmsg(opt));
            rc = CLI_FAIL;
            break;
        }
        if (eval && descent_eval_params(opt, 0, shown) < 0) {
            fprintf(stderr, "descent replay: step %zu: %s\n", s + 1, descent_errmsg(opt));
            rc = CLI_FAIL;
            break;
        }
        for (size_t j = 0; j < n; j++) {
            if (j)
                putchar(',');
            cli_print_value(stdout, dtype == DESCENT_F64 ? ((double *)shown)[j] : ((float *)shown)[j], dtype);
        }
        putchar('\n');
    }
    if (shown != param)
        free(shown);
    free(param);
    free(grad);
    descent_table_free(&P);
    descent_table_free(&G);
    descent_destroy(opt);
    return rc;
}

const cli_command cli_replay = {"replay", "run an optimizer over a gradient sequence, print parameters per step",
                                replay_run, replay_usage};
