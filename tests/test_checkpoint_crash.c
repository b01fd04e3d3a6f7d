/* Saving is safe against crashes, concurrent savers and hostile paths.
 *
 * A writer killed at any moment leaves a loadable checkpoint: descent_save
 * writes a temporary file of a unique name beside PATH, fsyncs it, renames
 * it over PATH and fsyncs the directory, so PATH always holds the old image
 * or the new one, never a torn one. A child saves in a loop while the
 * parent kills it with SIGKILL at many points, then loads. Two children
 * saving to one PATH while the parent loads in a loop (and kills them)
 * never show a file that does not load. A symbolic link planted at the old
 * fixed temporary name PATH.tmp is not followed; a PATH that is a symbolic
 * link is written through to its target and stays a link; the old file's
 * permissions carry over; a failed save leaves no temporary file. */
#include "descent.h"
#include "testutil.h"

#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define N (1u << 16)
#define KILLS 40

static float *param, *grad;

static descent_optimizer *make(void)
{
    descent_optimizer *opt;
    descent_error err;
    if (descent_create_from_spec(&opt, "Adam(lr=1e-3, amsgrad=True)", NULL, &err) < 0)
        return NULL;
    descent_add_tensor(opt, descent_add_group(opt, NULL), param, grad, N, DESCENT_F32);
    return opt;
}

static char dir[256];

/* Files in dir whose name contains part. */
static int count_files(const char *part)
{
    int count = 0;
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d)) != NULL;)
        count += strstr(e->d_name, part) != NULL;
    if (d)
        closedir(d);
    return count;
}

static void remove_all(void)
{
    DIR *d = opendir(dir);
    char path[600];
    for (struct dirent *e; d && (e = readdir(d)) != NULL;)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
    if (d)
        closedir(d);
}

static void pause_ms(unsigned *seed, int max_ms)
{
    *seed = *seed * 1103515245u + 12345u;
    struct timespec ts = {0, (long)(1 + (*seed >> 8) % (unsigned)max_ms) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Two savers of different images to one path and a loader; every load
 * succeeds. Then both savers are killed, and the file still loads. */
static void test_concurrent_savers(descent_optimizer *opt, const char *path)
{
    unsigned seed = 777;
    int loads = 0, failed = 0;
    for (int round = 0; round < 6; round++) {
        pid_t kids[2];
        for (int k = 0; k < 2; k++) {
            kids[k] = fork();
            if (kids[k] == 0) {
                for (int i = 0;; i++) {
                    if (i % 2 == k)
                        descent_step(opt);
                    if (descent_save(opt, path) < 0)
                        _exit(3);
                }
            }
        }
        /* At least 150 ms and 20 loads a round (a loaded machine or a
         * sanitizer build gets fewer loads into the time), at most 30 s. */
        struct timespec start, now;
        clock_gettime(CLOCK_MONOTONIC, &start);
        long ms;
        int mine = 0;
        do {
            descent_optimizer *reader = make();
            int rc = descent_load(reader, path);
            loads++;
            mine++;
            if (rc != 0 && failed++ < 3)
                fprintf(stderr, "round %d: load during concurrent saves: %s\n", round, descent_errmsg(reader));
            descent_destroy(reader);
            clock_gettime(CLOCK_MONOTONIC, &now);
            ms = (long)(now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
        } while ((ms < 150 || mine < 20) && ms < 30000);
        pause_ms(&seed, 20);
        for (int k = 0; k < 2; k++) {
            int st;
            kill(kids[k], SIGKILL);
            waitpid(kids[k], &st, 0);
            CHECK(WIFSIGNALED(st), "round %d: saver %d exited by itself (status %d)", round, k, st);
        }
        descent_optimizer *reader = make();
        CHECK(descent_load(reader, path) == 0, "round %d: not loadable after killing both savers: %s", round,
              descent_errmsg(reader));
        descent_destroy(reader);
    }
    printf("%d loads during concurrent saves, %d failed\n", loads, failed);
    CHECK(failed == 0, "%d of %d loads during concurrent saves failed", failed, loads);
    CHECK(loads >= 6 * 20, "only %d loads: the test proved nothing", loads);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void test_hostile_paths(descent_optimizer *opt)
{
    char path[400], tmp[420], victim[400], link[400], target[400];
    /* A symbolic link planted at the old fixed temporary name. */
    snprintf(path, sizeof path, "%s/planted.ckpt", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    snprintf(victim, sizeof victim, "%s/victim.txt", dir);
    write_text(victim, "untouched\n");
    CHECK(symlink(victim, tmp) == 0, "symlink");
    CHECK(descent_save(opt, path) == 0, "save beside a planted link: %s", descent_errmsg(opt));
    size_t len = 0;
    char *text = t_read_file(victim, &len);
    CHECK(text && strcmp(text, "untouched\n") == 0, "the planted link's target was overwritten");
    free(text);
    descent_optimizer *reader = make();
    CHECK(descent_load(reader, path) == 0, "load: %s", descent_errmsg(reader));
    descent_destroy(reader);

    /* PATH a symbolic link (relative) to a file: written through, stays a link. */
    snprintf(target, sizeof target, "%s/real.ckpt", dir);
    snprintf(link, sizeof link, "%s/link.ckpt", dir);
    write_text(target, "old contents\n");
    chmod(target, 0600);
    CHECK(symlink("real.ckpt", link) == 0, "symlink");
    descent_step(opt);
    CHECK(descent_save(opt, link) == 0, "save through a link: %s", descent_errmsg(opt));
    struct stat st;
    CHECK(lstat(link, &st) == 0 && S_ISLNK(st.st_mode), "PATH is no longer a symbolic link");
    CHECK(stat(target, &st) == 0 && (st.st_mode & 0777) == 0600, "the target's mode 0%o is not the old 0600",
          (unsigned)(st.st_mode & 0777));
    reader = make();
    CHECK(descent_load(reader, target) == 0 && descent_step_count(reader) == descent_step_count(opt),
          "the link's target does not hold the new image: %s", descent_errmsg(reader));
    descent_destroy(reader);

    /* A save that fails at the rename (PATH is a directory) keeps nothing. */
    char sub[400];
    snprintf(sub, sizeof sub, "%s/adir", dir);
    mkdir(sub, 0755);
    int before = count_files(".tmp-");
    CHECK(descent_save(opt, sub) == DESCENT_ERR_IO, "saving over a directory: %s", descent_errmsg(opt));
    CHECK(count_files(".tmp-") == before, "a failed save left a temporary file");
    rmdir(sub);
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    param = calloc(N, sizeof *param);
    grad = calloc(N, sizeof *grad);
    for (unsigned i = 0; i < N; i++)
        grad[i] = (float)((int)(i % 17) - 8) * 1e-3f;
    const char *tmpdir = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/descent-crash-XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
    if (!mkdtemp(dir)) {
        CHECK(0, "no temporary directory");
        return t_done();
    }
    char path[300];
    snprintf(path, sizeof path, "%s/crash.ckpt", dir);
    descent_optimizer *opt = make();
    CHECK(opt && descent_save(opt, path) == 0, "first save failed");
    unsigned seed = 12345;
    int loaded = 0, newer = 0;
    for (int k = 0; k < KILLS; k++) {
        /* The writer reports its first completed save through a pipe; the
         * kill comes a random time after it (on a loaded machine a fixed
         * delay may end before any save). */
        int fds[2];
        CHECK(pipe(fds) == 0, "pipe");
        pid_t child = fork();
        if (child == 0) {
            /* Save forever, a different image each time. */
            close(fds[0]);
            for (int i = 0;; i++) {
                descent_step(opt);
                if (descent_save(opt, path) < 0)
                    _exit(3);
                if (i == 0 && (write(fds[1], "s", 1) != 1 || close(fds[1]) != 0))
                    _exit(4);
            }
        }
        close(fds[1]);
        char saved;
        CHECK(read(fds[0], &saved, 1) == 1, "round %d: the writer died before its first save", k);
        close(fds[0]);
        seed = seed * 1103515245u + 12345u;
        struct timespec ts = {0, (long)(1 + (seed >> 8) % 100) * 1000000L};
        nanosleep(&ts, NULL);
        kill(child, SIGKILL);
        int st;
        waitpid(child, &st, 0);
        CHECK(WIFSIGNALED(st), "round %d: the writer exited by itself (status %d)", k, st);
        descent_optimizer *reader = make();
        int rc = descent_load(reader, path);
        CHECK(rc == 0, "round %d: checkpoint not loadable after a kill: %s", k, descent_errmsg(reader));
        if (rc == 0) {
            loaded++;
            newer += descent_step_count(reader) > 0;
        }
        descent_destroy(reader);
    }
    printf("%d of %d kills left a loadable checkpoint (%d of them newer than the first)\n", loaded, KILLS, newer);
    CHECK(newer == loaded && loaded == KILLS, "%d of %d kills left a checkpoint newer than the first", newer, KILLS);
    test_concurrent_savers(opt, path);
    test_hostile_paths(opt);
    remove_all();
    rmdir(dir);
    descent_destroy(opt);
    free(param);
    free(grad);
    return t_done();
}
