/* Runs a fuzz target's harness over every file of its corpus directory
 * without libFuzzer, so `make test` (and the sanitizer and valgrind builds)
 * replay the committed corpus of every target: a crash, a sanitizer report
 * or a broken rule (the harness aborts) fails the test.
 *   replay DIR          each file of DIR through LLVMFuzzerTestOneInput
 *   replay --write DIR  write the target's starting corpus into DIR (for a
 *                       target built with FUZZ_WRITER, which defines
 *                       fuzz_write_corpus) */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
#ifdef FUZZ_WRITER
int fuzz_write_corpus(const char *dir);
int fuzz_accepted(void); /* inputs the loader accepted */
#endif

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--write") == 0) {
#ifdef FUZZ_WRITER
        if (fuzz_write_corpus(argv[2]) == 0)
            return 0;
        fprintf(stderr, "replay: cannot write the corpus into %s\n", argv[2]);
#else
        fprintf(stderr, "replay: this target has no corpus writer\n");
#endif
        return 1;
    }
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR | --write DIR\n", argv[0]);
        return 2;
    }
    DIR *d = opendir(argv[1]);
    if (!d) {
        fprintf(stderr, "replay: cannot open %s\n", argv[1]);
        return 1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap && !(names = realloc(names, (cap = cap ? 2 * cap : 64) * sizeof *names)))
            return 1;
        if (!(names[n++] = strdup(e->d_name)))
            return 1;
    }
    closedir(d);
    qsort(names, n, sizeof *names, by_name);
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", argv[1], names[i]);
        FILE *f = fopen(path, "rb");
        if (!f) {
            fprintf(stderr, "replay: cannot open %s\n", path);
            return 1;
        }
        unsigned char *buf = NULL;
        size_t len = 0, bcap = 0, got;
        do {
            if (len == bcap && !(buf = realloc(buf, bcap = bcap ? 2 * bcap : 4096)))
                return 1;
            got = fread(buf + len, 1, bcap - len, f);
            len += got;
        } while (got > 0);
        fclose(f);
        LLVMFuzzerTestOneInput(buf, len);
        free(buf);
    }
    printf("replayed %zu inputs from %s\n", n, argv[1]);
#ifdef FUZZ_WRITER
    /* The written starting corpus (files named run*) holds valid files:
     * each must load, as is and repaired (the same bytes), and reach the
     * code after a load. */
    int written = 0;
    for (size_t i = 0; i < n; i++)
        written += strncmp(names[i], "run", 3) == 0;
    printf("%d loads accepted, %d wanted at least\n", fuzz_accepted(), 2 * written);
    if (fuzz_accepted() < 2 * written)
        return 1;
#endif
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    /* An empty corpus replays nothing: that is a failure, not a pass. */
    return n > 0 ? 0 : 1;
}
