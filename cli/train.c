/* descent train: train a model on a CSV data set with any optimizer and
 * schedule, with a progress bar on a terminal, a CSV log, JSON output and
 * bit-identical save/resume. */
#include "cli.h"
#include "train_plot.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef DESCENT_HAVE_MPI
#include "descent_mpi.h"
#endif

static void train_usage(FILE *out)
{
    fprintf(out,
            "usage: descent train --data FILE.csv --target COLUMN --model SPEC --opt SPEC --epochs N\n"
            "                     [--batch-size B|full] [--sched SPEC] [--seed S] [--val FRACTION]\n"
            "                     [--log FILE.csv] [--plot FILE.svg] [--save FILE] [--resume FILE] [--json]\n"
            "                     [--dtype f32|f64] [--blas on|off] [--accumulate K] [--no-decay-1d]\n"
            "                     [--clip-norm MAX] [--clip-value V] [--ema DECAY] [--swa-start EPOCH]\n"
            "                     [--save-every N] [--patience P [--min-delta D]] [--allow-change FIELDS]\n\n"
            "  --data FILE      CSV with a header row; every column but the target is a feature\n"
            "  --target COLUMN  the column to predict; integer labels 0..255 or words make it classification\n"
            "  --model SPEC     linear(), logistic(), softmax(), mlp(hidden=(64, 32), activation='relu'),\n"
            "                   each with an optional l2=\n"
            "  --opt SPEC       optimizer, e.g. 'AdamW(lr=1e-3, weight_decay=0.01)'\n"
            "  --sched SPEC     learning-rate schedule, stepped after every optimizer step (ReduceLROnPlateau:\n"
            "                   once per epoch on the validation loss); an omitted OneCycleLR total_steps or\n"
            "                   CosineAnnealingLR T_max (or a named recipe's num_training_steps) is fitted\n"
            "                   to the run\n"
            "  --epochs N       train until N epochs are done in total (a resumed run counts its own)\n"
            "  --batch-size B   1: stochastic GD, B: mini-batch, full: batch GD (default 32)\n"
            "  --seed S         split, initialization and shuffling (default 0)\n"
            "  --val FRACTION   validation share in [0, 1) (default 0.2)\n"
            "  --log FILE       CSV, one row per epoch: epoch,train_loss,val_loss,val_accuracy,lr,seconds\n"
            "  --plot FILE      SVG: training and validation loss against epoch (a resumed run's included)\n"
            "  --save FILE      write model, optimizer, schedule, generator and epoch at the end, and on\n"
            "                   SIGINT/SIGTERM after the current step (exit 130/143)\n"
            "  --save-every N   also write the --save file every N epochs\n"
            "  --resume FILE    continue from a --save file; every setting but --epochs and the output\n"
            "                   paths must be the saved run's\n"
            "  --allow-change F resume with these settings changed on purpose: a comma list of data, seed,\n"
            "                   val, batch-size, opt, clip-norm, clip-value\n"
            "  --patience P     stop after P epochs without the validation loss (training loss without a\n"
            "                   validation split) improving by more than --min-delta (default 0), and\n"
            "                   restore the best epoch's parameters\n"
            "  --json           last line of output: a JSON object with the final figures\n"
            "  --dtype T        parameters in f32 (default) or f64\n"
            "  --blas on|off    matrix products through CBLAS or the built-in kernel (default: the faster)\n"
            "  --accumulate K   each update averages the gradients of K batches; the schedule steps per\n"
            "                   update (default 1: none)\n"
            "  --no-decay-1d    no weight decay on 1-D tensors (the biases) (default: decay all)\n"
            "  --clip-norm MAX  clip the global 2-norm of each update's gradient (with --accumulate, the\n"
            "                   mean) to MAX (default: off)\n"
            "  --clip-value V   clamp every gradient to [-V, V] before each step (default: off)\n"
            "  --ema DECAY      keep an EMA of the parameters, DECAY in (0, 1); validation uses it (default: off)\n"
            "  --swa-start E    SWA: average the parameters after every epoch from epoch E on; validation\n"
            "                   uses the average (default: off)\n");
}

typedef struct bar_ctx {
    int epochs;
    double run_t0;          /* when this invocation's training started */
    int first_epoch;        /* epochs done before it */
    size_t batches;
    double last_draw;       /* when the bar was last drawn */
    int tty;                /* draw the bar */
    int at_epoch;           /* the last batch seen: at_batch of at_epoch */
    size_t at_batch;
} bar_ctx;

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int draw_bar(void *ctx, const descent_train_progress *p)
{
    bar_ctx *b = ctx;
    /* Redraw at most 20 times a second, and at the end of each epoch. */
    double now = now_seconds(), elapsed = now - b->run_t0;
    if (p->batch < p->batches && now - b->last_draw < 0.05)
        return 0;
    b->last_draw = now;
    double done = (double)(p->epoch - 1 - b->first_epoch) + (double)p->batch / (double)p->batches;
    double total = (double)(b->epochs - b->first_epoch);
    double left = done > 0 ? elapsed * (total - done) / done : 0;
    int width = 24, fill = (int)((double)width * (double)p->batch / (double)p->batches);
    char bar[32];
    for (int i = 0; i < width; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[width] = '\0';
    fprintf(stderr, "\repoch %d/%d [%s] %zu/%zu loss %.4f lr %.3g left %.1fs   ", p->epoch, b->epochs, bar,
            p->batch, p->batches, p->loss, p->lr, left);
    fflush(stderr);
    return 0;
}

static void print_num(FILE *f, double v)
{
    if (isnan(v))
        return;
    fprintf(f, "%.9g", v);
}

static void json_num(FILE *f, const char *key, double v, int comma)
{
    fprintf(f, "\"%s\": ", key);
    if (isfinite(v))
        fprintf(f, "%.9g", v);
    else
        fputs("null", f);
    if (comma)
        fputs(", ", f);
}

static void log_row(FILE *log, const descent_epoch_result *r)
{
    fprintf(log, "%d,%.9g,", r->epoch, r->train_loss);
    print_num(log, r->val_loss);
    fputc(',', log);
    print_num(log, r->val_accuracy);
    fprintf(log, ",%.9g,", r->lr);
    if (!isnan(r->seconds))
        fprintf(log, "%.6f", r->seconds);
    fputc('\n', log);
}

/* The log of a resumed run continues the saved one: the rows an existing
 * log holds for the epochs in the checkpoint are kept (rows after them,
 * written after the last save, are dropped); rows it lacks come from the
 * checkpoint's history, without seconds. */
static FILE *open_log(const char *path, int resume, const descent_epoch_result *hist, size_t nhist)
{
    static const char header[] = "epoch,train_loss,val_loss,val_accuracy,lr,seconds\n";
    char **kept = NULL;
    size_t nkept = 0;
    if (resume && nhist) {
        kept = calloc(nhist, sizeof *kept);
        FILE *old = kept ? fopen(path, "r") : NULL;
        char line[1024];
        while (old && fgets(line, sizeof line, old)) {
            long e = strtol(line, NULL, 10);
            size_t len = strlen(line);
            if (e >= 1 && (size_t)e <= nhist && (size_t)e == nkept + 1 && len && line[len - 1] == '\n') {
                if (!(kept[nkept] = malloc(len + 1)))
                    break;
                memcpy(kept[nkept++], line, len + 1);
            }
        }
        if (old)
            fclose(old);
    }
    FILE *log = fopen(path, "w");
    if (log) {
        fputs(header, log);
        for (size_t k = 0; k < nhist; k++) {
            if (k < nkept)
                fputs(kept[k], log);
            else
                log_row(log, &hist[k]);
        }
        fflush(log);
    }
    for (size_t k = 0; k < nkept; k++)
        free(kept[k]);
    free(kept);
    return log;
}

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

/* SIGINT and SIGTERM: the step in progress finishes, the --save file is
 * written, and the command exits 128 + the signal (130, 143). A second
 * signal ends the process at once. */
static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
    if (got_signal)
        _exit(128 + sig);
    got_signal = sig;
}

static void install_signals(void)
{
#ifdef _WIN32 /* no sigaction: signal() (Ctrl-C arrives as SIGINT) */
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
#else
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
#endif
}

static int train_progress(void *ctx, const descent_train_progress *p)
{
    bar_ctx *b = ctx;
    b->at_epoch = p->epoch;
    b->at_batch = p->batch;
    if (b->tty)
        draw_bar(ctx, p);
    return got_signal != 0;
}

/* A word as the shell reads it back: quoted when it has to be. */
static void print_shell_word(FILE *f, const char *w)
{
    if (*w && strspn(w, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./=,:+-") == strlen(w)) {
        fputs(w, f);
        return;
    }
    fputc('\'', f);
    for (; *w; w++)
        if (*w == '\'')
            fputs("'\\''", f);
        else
            fputc(*w, f);
    fputc('\'', f);
}

/* The command line again, with --resume FILE in place of any --resume. */
static void print_resume_command(FILE *f, int argc, char **argv, const char *save)
{
    fputs(" train", f);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--resume") == 0 && i + 1 < argc) {
            i++;
            continue;
        }
        fputc(' ', f);
        print_shell_word(f, argv[i]);
    }
    fputs(" --resume ", f);
    print_shell_word(f, save);
    fputc('\n', f);
}

#ifdef DESCENT_HAVE_MPI
/* Started by mpirun or srun (their environment), rather than by hand? */
static int under_mpi_launcher(void)
{
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK");
}

/* The trainer's reduce(): this rank's mean over `mine` rows to the batch's
 * mean over `rows`, weighting each rank by its rows. */
static int mpi_reduce(void *ctx, descent_optimizer *opt, size_t mine, size_t rows, double *loss)
{
    (void)ctx;
    int rc = descent_mpi_allreduce_grads_weighted(opt, MPI_COMM_WORLD, (double)mine);
    if (rc < 0)
        return rc;
    double part = *loss * (double)mine, sum = 0;
    if (MPI_Allreduce(&part, &sum, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD) != MPI_SUCCESS)
        return DESCENT_ERR_IO;
    *loss = sum / (double)rows;
    return 0;
}
#endif

/* Under `mpirun -np R` (a build with descent_mpi), every batch is split
 * across the R ranks and the gradients averaged, which gives the
 * single-process run with the same global batch up to rounding; rank 0
 * alone prints and writes the log and the --save file. */
static int train_inner(int argc, char **argv, int *mpi_started)
{
    const char *cmd = "train", *log_path = NULL, *save = NULL, *resume = NULL,
               *plot_path = NULL;
    descent_train_config c;
    descent_train_default_config(&c);
    long epochs = -1;
    int json = 0, save_every = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], **dst = NULL, *v;
        if (strcmp(a, "--data") == 0)
            dst = &c.data;
        else if (strcmp(a, "--target") == 0)
            dst = &c.target;
        else if (strcmp(a, "--model") == 0)
            dst = &c.model;
        else if (strcmp(a, "--opt") == 0)
            dst = &c.optimizer;
        else if (strcmp(a, "--sched") == 0)
            dst = &c.schedule;
        else if (strcmp(a, "--log") == 0)
            dst = &log_path;
        else if (strcmp(a, "--plot") == 0)
            dst = &plot_path;
        else if (strcmp(a, "--save") == 0)
            dst = &save;
        else if (strcmp(a, "--resume") == 0)
            dst = &resume;
        else if (strcmp(a, "--allow-change") == 0)
            dst = &c.allow_change;
        if (dst) {
            if (!(*dst = cli_flag_value(cmd, argc, argv, &i)))
                return CLI_USAGE;
            continue;
        }
        if (strcmp(a, "--json") == 0) {
            json = 1;
            continue;
        }
        if (strcmp(a, "--no-decay-1d") == 0) {
            c.no_decay_1d = 1;
            continue;
        }
        if (!(v = cli_flag_value(cmd, argc, argv, &i)))
            return CLI_USAGE;
        long l;
        if (strcmp(a, "--epochs") == 0) {
            if (cli_parse_long(cmd, a, v, 1, &epochs))
                return CLI_USAGE;
            if (epochs > 1000000)
                return cli_usage_error(cmd, "--epochs must be at most 1000000, got %s", v);
        } else if (strcmp(a, "--batch-size") == 0) {
            if (strcmp(v, "full") == 0)
                c.batch_size = 0;
            else if (cli_parse_long(cmd, a, v, 1, &l))
                return cli_usage_error(cmd, "--batch-size must be 'full' or an integer >= 1");
            else
                c.batch_size = (size_t)l;
        } else if (strcmp(a, "--seed") == 0) {
            if (cli_parse_long(cmd, a, v, 0, &l))
                return CLI_USAGE;
            c.seed = (uint64_t)l;
        } else if (strcmp(a, "--val") == 0) {
            if (cli_parse_double(cmd, a, v, &c.val_fraction))
                return CLI_USAGE;
            if (!(c.val_fraction >= 0 && c.val_fraction < 1))
                return cli_usage_error(cmd, "--val must be in [0, 1), got %s", v);
        } else if (strcmp(a, "--dtype") == 0) {
            if (strcmp(v, "f32") == 0)
                c.dtype = DESCENT_F32;
            else if (strcmp(v, "f64") == 0)
                c.dtype = DESCENT_F64;
            else
                return cli_usage_error(cmd, "--dtype must be f32 or f64, got '%s'", v);
        } else if (strcmp(a, "--accumulate") == 0 || strcmp(a, "--swa-start") == 0 || strcmp(a, "--patience") == 0 ||
                   strcmp(a, "--save-every") == 0) {
            int *count = strcmp(a, "--accumulate") == 0 ? &c.accumulate
                         : strcmp(a, "--swa-start") == 0 ? &c.swa_start
                         : strcmp(a, "--patience") == 0  ? &c.patience
                                                         : &save_every;
            if (cli_parse_long(cmd, a, v, 1, &l))
                return CLI_USAGE;
            if (l > 1000000)
                return cli_usage_error(cmd, "%s must be at most 1000000, got %s", a, v);
            *count = (int)l;
        } else if (strcmp(a, "--clip-norm") == 0 || strcmp(a, "--clip-value") == 0) {
            double *limit = strcmp(a, "--clip-norm") == 0 ? &c.clip_norm : &c.clip_value;
            if (cli_parse_double(cmd, a, v, limit))
                return CLI_USAGE;
            if (!(*limit > 0 && isfinite(*limit)))
                return cli_usage_error(cmd, "%s must be a finite number > 0, got %s", a, v);
        } else if (strcmp(a, "--min-delta") == 0) {
            if (cli_parse_double(cmd, a, v, &c.min_delta))
                return CLI_USAGE;
            if (!(c.min_delta >= 0 && isfinite(c.min_delta)))
                return cli_usage_error(cmd, "--min-delta must be a finite number >= 0, got %s", v);
        } else if (strcmp(a, "--ema") == 0) {
            if (cli_parse_double(cmd, a, v, &c.ema_decay))
                return CLI_USAGE;
            if (!(c.ema_decay > 0 && c.ema_decay < 1))
                return cli_usage_error(cmd, "--ema must be in (0, 1), got %s", v);
        } else if (strcmp(a, "--blas") == 0) {
            if (strcmp(v, "on") == 0)
                c.blas = 1;
            else if (strcmp(v, "off") == 0)
                c.blas = 0;
            else
                return cli_usage_error(cmd, "--blas must be on or off, got '%s'", v);
            if (c.blas == 1 && !descent_blas_available())
                return cli_usage_error(cmd, "--blas on: this build has no CBLAS");
        } else {
            return cli_usage_error(cmd, "unknown option '%s' (see descent train --help)", a);
        }
    }
    if (!c.data || !c.target || !c.model || !c.optimizer || epochs < 0)
        return cli_usage_error(cmd, "--data, --target, --model, --opt and --epochs are required (see descent train "
                               "--help)");
    if (save_every && !save)
        return cli_usage_error(cmd, "--save-every needs --save FILE");
    if (c.min_delta > 0 && !c.patience)
        return cli_usage_error(cmd, "--min-delta needs --patience");
    if (c.allow_change && !resume)
        return cli_usage_error(cmd, "--allow-change applies to --resume");
    c.epochs = (int)epochs;
    int leader = 1;
#ifdef DESCENT_HAVE_MPI
    if (under_mpi_launcher()) {
        int inited = 0, rank = 0, ranks = 1;
        MPI_Initialized(&inited);
        if (!inited) {
            MPI_Init(NULL, NULL);
            *mpi_started = 1;
        }
        MPI_Comm_rank(MPI_COMM_WORLD, &rank);
        MPI_Comm_size(MPI_COMM_WORLD, &ranks);
        if (ranks > 1) {
            c.rank = rank;
            c.ranks = ranks;
            c.reduce = mpi_reduce;
        }
        leader = rank == 0;
    }
#else
    (void)mpi_started;
#endif
    if (!leader)
        plot_path = NULL; /* rank 0 alone writes the picture */

    /* From here a signal is a request to save and stop (in one process:
     * ranks stopping at different batches would wait for each other's
     * reductions, so under mpirun a signal ends the run as before and
     * --save-every is the way to keep it). */
    if (c.ranks <= 1)
        install_signals();
    descent_error err;
    descent_trainer *t;
    if (descent_trainer_create(&t, &c, &err) < 0)
        return cli_usage_error(cmd, "%s", err.message);
    if (resume && descent_trainer_load(t, resume) < 0) {
        int rc = cli_usage_error(cmd, "--resume: %s", descent_trainer_errmsg(t));
        descent_trainer_destroy(t);
        return rc;
    }
    size_t nhist;
    const descent_epoch_result *hist = descent_trainer_history(t, &nhist);
    FILE *log = NULL;
    if (log_path && leader && (log = open_log(log_path, resume != NULL, hist, nhist)) == NULL) {
        descent_trainer_destroy(t);
        return cli_usage_error(cmd, "--log: cannot write '%s'", log_path);
    }
    size_t ntrain, nval, features, classes, batches;
    descent_trainer_info(t, &ntrain, &nval, &features, &classes, &batches);
    if (leader && c.ranks > 1)
        printf("data parallel over %d ranks: each batch split across them\n", c.ranks);
    if (leader)
        printf("train %s on %s: %zu rows for training, %zu for validation, %zu features, %s%zu%s; %zu parameters, "
               "%zu batches per epoch\n", c.model, c.data, ntrain, nval, features, classes ? "" : "continuous target",
               classes, classes ? " classes" : "", descent_model_num_params(descent_trainer_model(t)), batches);
    if (leader && c.schedule && strcmp(c.schedule, descent_trainer_schedule(t)) != 0)
        printf("schedule fitted to the run: %s\n", descent_trainer_schedule(t));
    if (leader && resume)
        printf("resumed from %s after epoch %d%s%s\n", resume, descent_trainer_epochs_done(t),
               *descent_trainer_changes(t) ? "; changed on purpose: " : "", descent_trainer_changes(t));
    fflush(stdout);
    int tty = leader && isatty(fileno(stderr));
    bar_ctx bc = {(int)epochs, now_seconds(), descent_trainer_epochs_done(t), batches, 0, tty, 0, 0};
    descent_epoch_result r = {0, NAN, NAN, NAN, NAN, 0};
    if (nhist)
        r = hist[nhist - 1];
    double total_seconds = 0;
    int rc = CLI_OK;
    train_plot *plot = plot_path ? train_plot_begin() : NULL;
    for (size_t k = 0; plot && k < nhist; k++)
        if (train_plot_add(plot, &hist[k]) < 0) {
            fprintf(stderr, "descent train: --plot: out of memory\n");
            rc = CLI_FAIL;
        }
    while (rc == CLI_OK && descent_trainer_epochs_done(t) < epochs && !descent_trainer_stopped(t, NULL) &&
           !got_signal) {
        int st = descent_trainer_epoch(t, train_progress, &bc, &r);
        if (tty)
            fputs("\r\033[K", stderr);
        if (st == DESCENT_STOP_CANCELLED)
            break;
        if (st < 0) {
            fprintf(stderr, "descent train: %s\n", descent_trainer_errmsg(t));
            rc = CLI_FAIL;
            break;
        }
        total_seconds += r.seconds;
        if (!leader)
            continue;
        printf("epoch %d/%ld train_loss %.6f val_loss %.6f", r.epoch, epochs, r.train_loss, r.val_loss);
        if (!isnan(r.val_accuracy))
            printf(" val_accuracy %.4f", r.val_accuracy);
        printf(" lr %.4g %.3fs\n", r.lr, r.seconds);
        fflush(stdout);
        if (log) {
            log_row(log, &r);
            fflush(log);
        }
        if (plot_path && train_plot_add(plot, &r) < 0) {
            fprintf(stderr, "descent train: --plot: out of memory\n");
            rc = CLI_FAIL;
            break;
        }
        if (save_every && r.epoch % save_every == 0 && r.epoch < epochs && descent_trainer_save(t, save) < 0) {
            fprintf(stderr, "descent train: --save: %s\n", descent_trainer_errmsg(t));
            rc = CLI_FAIL;
            break;
        }
    }
    int best_epoch = 0, stopped = descent_trainer_stopped(t, &best_epoch);
    if (stopped && leader) {
        printf("early stopping: no improvement for %d epochs; restored the parameters of epoch %d\n", c.patience,
               best_epoch);
        hist = descent_trainer_history(t, &nhist);
        if (best_epoch >= 1 && (size_t)best_epoch <= nhist) {
            double secs = r.seconds;
            r = hist[best_epoch - 1]; /* the figures of the parameters kept */
            r.seconds = secs;
        }
    }
    if (plot_path && train_plot_end(plot, c.model, c.optimizer, rc == CLI_OK ? plot_path : NULL) < 0 && rc == CLI_OK) {
        fprintf(stderr, "descent train: --plot: cannot write %s: %s\n", plot_path, strerror(errno));
        rc = CLI_FAIL;
    }
    if (log && fclose(log) != 0 && rc == CLI_OK) {
        fprintf(stderr, "descent train: error writing %s\n", log_path);
        rc = CLI_FAIL;
    }
    if (rc == CLI_OK && save && leader && descent_trainer_save(t, save) < 0) {
        fprintf(stderr, "descent train: --save: %s\n", descent_trainer_errmsg(t));
        rc = CLI_FAIL;
    }
    if (got_signal) {
        if (rc == CLI_OK && leader) {
            const char *how = got_signal == SIGINT ? "interrupted" : "terminated";
            if (bc.at_epoch > descent_trainer_epochs_done(t))
                fprintf(stderr, "descent train: %s: stopped in epoch %d after batch %zu of %zu", how, bc.at_epoch,
                        bc.at_batch, batches);
            else
                fprintf(stderr, "descent train: %s: stopped after epoch %d", how, descent_trainer_epochs_done(t));
            if (save) {
                fprintf(stderr, " and saved %s; to continue:\n  descent", save);
                print_resume_command(stderr, argc, argv, save);
            } else {
                fputs("; nothing saved (no --save)\n", stderr);
            }
        }
        descent_trainer_destroy(t);
        return rc == CLI_OK ? 128 + got_signal : rc;
    }
    if (rc == CLI_OK && leader) {
        int done = descent_trainer_epochs_done(t);
        if (json) {
            fputc('{', stdout);
            json_num(stdout, "train_loss", r.train_loss, 1);
            json_num(stdout, "val_loss", r.val_loss, 1);
            if (classes)
                json_num(stdout, "val_accuracy", r.val_accuracy, 1);
            fprintf(stdout, "\"epochs\": %d, \"best_epoch\": %d, \"stopped_early\": %s, ", done, best_epoch,
                    stopped ? "true" : "false");
            if (classes && descent_trainer_class_name(t, 0)) {
                fputs("\"classes\": [", stdout);
                for (size_t k = 0; k < classes; k++) {
                    fputs(k ? ", " : "", stdout);
                    json_string(stdout, descent_trainer_class_name(t, k));
                }
                fputs("], ", stdout);
            }
            json_num(stdout, "seconds", total_seconds, 1);
            json_num(stdout, "seconds_per_epoch", done > bc.first_epoch ? total_seconds / (done - bc.first_epoch)
                     : NAN, 1);
            fprintf(stdout, "\"parameters\": %zu}\n", descent_model_num_params(descent_trainer_model(t)));
        } else {
            printf("train_loss=%.9g val_loss=%.9g", r.train_loss, r.val_loss);
            if (classes)
                printf(" val_accuracy=%.4f", r.val_accuracy);
            printf(" epochs=%d seconds=%.3f\n", done, total_seconds);
        }
    }
    descent_trainer_destroy(t);
    return rc;
}

static int train_run(int argc, char **argv)
{
    int mpi_started = 0;
    int rc = train_inner(argc, argv, &mpi_started);
#ifdef DESCENT_HAVE_MPI
    if (mpi_started)
        MPI_Finalize();
#endif
    return rc;
}

const cli_command cli_train = {"train", "train a model on a CSV data set (progress, log, save/resume)", train_run,
                               train_usage};
