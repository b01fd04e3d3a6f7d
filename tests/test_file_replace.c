/* Saving over an existing file, on every system: the atomic write
 * (src/fileio.c) replaces the old file whole, leaves no temporary file
 * behind, takes UTF-8 paths, and on failure keeps the old contents. On
 * Windows rename() refuses an existing target, so this is the test that
 * the MoveFileExW path works (`make cross-test ARCH=mingw64`, under wine). */
#include "internal.h" /* descent_file_write_atomic, descent_file_read, descent_fopen */
#include "testutil.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#ifdef _WIN32
#include <direct.h>
#include <wchar.h>
#include <windows.h>
#define rmdir _rmdir
#else
#include <unistd.h>
#endif

static descent_mem mem;

static int write_text(const char *path, const char *text, descent_error *err)
{
    return descent_file_write_atomic(&mem, path, text, strlen(text), err);
}

/* The file's contents equal text exactly (no bytes of a longer old file). */
static int holds(const char *path, const char *text)
{
    void *buf = NULL;
    size_t len = 0;
    descent_error err;
    int ok = descent_file_read(&mem, path, &buf, &len, &err) == 0 && len == strlen(text) && memcmp(buf, text, len) == 0;
    descent_mem_free(&mem, buf);
    return ok;
}

/* Entries of dir other than . and .. */
static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

static void remove_utf8(const char *path)
{
#ifdef _WIN32
    wchar_t w[512];
    if (MultiByteToWideChar(CP_UTF8, 0, path, -1, w, 512) > 0)
        _wremove(w);
#else
    remove(path);
#endif
}

int main(void)
{
    descent_mem_init(&mem, NULL);
    char dir[] = "file_replace_XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char plain[64], utf8[64], ckpt[64], missing[64];
    snprintf(plain, sizeof plain, "%s/plain.bin", dir);
    /* "ckpt-é€.bin": two- and three-byte UTF-8 sequences. */
    snprintf(utf8, sizeof utf8, "%s/ckpt-\xc3\xa9\xe2\x82\xac.bin", dir);
    snprintf(ckpt, sizeof ckpt, "%s/opt.ckpt", dir);
    snprintf(missing, sizeof missing, "%s/no-such-dir/x.bin", dir);
    descent_error err;

    /* A new file, then twice over it: longer, then shorter. */
    CHECK(write_text(plain, "first", &err) == 0, "new file: %s", err.message);
    CHECK(write_text(plain, "second, and longer", &err) == 0, "over an existing file: %s", err.message);
    CHECK(holds(plain, "second, and longer"), "second contents");
    CHECK(write_text(plain, "3", &err) == 0, "over it again: %s", err.message);
    CHECK(holds(plain, "3"), "third contents, none of the longer file's bytes");

    /* A UTF-8 path: written and replaced under its own name (on Windows,
     * the UTF-16 name; the ANSI functions would make another name). */
    CHECK(write_text(utf8, "one", &err) == 0, "UTF-8 path: %s", err.message);
    CHECK(write_text(utf8, "two", &err) == 0, "UTF-8 path, replaced: %s", err.message);
    CHECK(holds(utf8, "two"), "UTF-8 path contents");
    FILE *f = descent_fopen(utf8, "rb");
    CHECK(f != NULL, "descent_fopen of the UTF-8 path");
    if (f)
        fclose(f);
#ifdef _WIN32
    wchar_t wname[64];
    swprintf(wname, 64, L"%hs\\ckpt-\u00e9\u20ac.bin", dir);
    f = _wfopen(wname, L"rb");
    CHECK(f != NULL, "the file has its UTF-16 name");
    if (f)
        fclose(f);
    CHECK(write_text("bad-\xff\xfe.bin", "x", &err) == DESCENT_ERR_IO && strstr(err.message, "UTF-8"),
          "invalid UTF-8 refused: %s", err.message);
#endif

    /* The public API: an optimizer's checkpoint saved twice to one path. */
    descent_optimizer *a = NULL, *b = NULL;
    float w[3] = {1, 2, 3}, g[3] = {0.5f, -1, 2}, wb[3] = {0};
    CHECK(descent_create_from_spec(&a, "Adam(lr=0.1)", NULL, &err) == 0, "%s", err.message);
    CHECK(descent_create_from_spec(&b, "Adam(lr=0.1)", NULL, &err) == 0, "%s", err.message);
    if (a && b) {
        descent_add_tensor(a, descent_add_group(a, NULL), w, g, 3, DESCENT_F32);
        descent_add_tensor(b, descent_add_group(b, NULL), wb, g, 3, DESCENT_F32);
        descent_step(a);
        CHECK(descent_save(a, ckpt) == 0, "first save");
        descent_step(a);
        CHECK(descent_save(a, ckpt) == 0, "second save over the first");
        CHECK(descent_load(b, ckpt) == 0, "load");
        /* The second image: both continue from step 2 alike. */
        memcpy(wb, w, sizeof w);
        descent_step(a);
        descent_step(b);
        CHECK(memcmp(w, wb, sizeof w) == 0, "the loaded optimizer continues as the saved one");
    }
    descent_destroy(a);
    descent_destroy(b);

    /* Failures keep what was there and leave nothing behind. */
    CHECK(write_text(missing, "x", &err) == DESCENT_ERR_IO && strstr(err.message, "no-such-dir"),
          "a missing directory is an I/O error naming the path: %s", err.message);
    CHECK(write_text(dir, "x", &err) == DESCENT_ERR_IO, "a directory is not replaced by a file");
    struct stat st;
    CHECK(stat(dir, &st) == 0 && S_ISDIR(st.st_mode), "the directory is still one");
    CHECK(holds(plain, "3"), "old contents kept");

    /* Exactly the three files: no temporary file was left behind. */
    CHECK(count_entries(dir) == 3, "entries: %d", count_entries(dir));

    remove(plain);
    remove(ckpt);
    remove_utf8(utf8);
    CHECK(count_entries(dir) == 0, "cleaned up: %d left", count_entries(dir));
    rmdir(dir);
    return t_done();
}
