/* Files: whole-file reads that check before they allocate, and crash-safe,
 * concurrency-safe writes. The only place in the library that creates,
 * renames or syncs files; the bytes inside are bytes.c's business. */
#include "internal.h"
#include "rng.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__unix__) || defined(__APPLE__)
#define DESCENT_POSIX_FILES 1
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#elif defined(_WIN32)
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#include <sys/stat.h>
#endif

/* ---- paths ----------------------------------------------------------------- */

#ifdef _WIN32
/* A UTF-8 string as UTF-16 (the W functions' paths), malloc'd; NULL when
 * it is not valid UTF-8 or memory runs out. Windows' narrow functions
 * (fopen, MoveFileExA) would read it in the ANSI code page instead. */
static wchar_t *utf16(const char *s)
{
    int n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, NULL, 0);
    wchar_t *w = n > 0 ? malloc((size_t)n * sizeof *w) : NULL;
    if (w && MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, w, n) != n) {
        free(w);
        w = NULL;
    }
    return w;
}
#endif

FILE *descent_fopen(const char *path, const char *mode)
{
#ifdef _WIN32
    wchar_t *wpath = utf16(path), *wmode = utf16(mode);
    FILE *f = NULL;
    if (wpath && wmode)
        f = _wfopen(wpath, wmode);
    else
        errno = wpath && wmode ? errno : EINVAL;
    free(wpath);
    free(wmode);
    return f;
#else
    return fopen(path, mode);
#endif
}

/* ---- reading ------------------------------------------------------------- */

typedef struct file_in {
    FILE *f;
    size_t size;
} file_in;

/* Open path for reading: only a regular file (a directory, FIFO or device
 * such as /dev/zero is refused), with its size from fstat. */
static int in_open(file_in *in, const char *path, descent_error *err)
{
    in->f = descent_fopen(path, "rb");
    in->size = 0;
    if (!in->f)
        return descent_fail(err, DESCENT_ERR_IO, "cannot open %s: %s", path, strerror(errno));
#if defined(DESCENT_POSIX_FILES) || defined(_WIN32)
#ifdef _WIN32
    struct _stati64 st;
    int ok = _fstati64(_fileno(in->f), &st) == 0 && (st.st_mode & _S_IFMT) == _S_IFREG;
#else
    struct stat st;
    int ok = fstat(fileno(in->f), &st) == 0 && S_ISREG(st.st_mode);
#endif
    if (!ok) {
        fclose(in->f);
        return descent_fail(err, DESCENT_ERR_IO, "cannot read %s: not a regular file", path);
    }
    if ((uintmax_t)st.st_size > (uintmax_t)SIZE_MAX - 1) {
        fclose(in->f);
        return descent_fail(err, DESCENT_ERR_IO, "cannot read %s: too large", path);
    }
    in->size = (size_t)st.st_size;
#else
    long size = -1;
    if (fseek(in->f, 0, SEEK_END) == 0)
        size = ftell(in->f);
    if (size < 0 || fseek(in->f, 0, SEEK_SET) != 0) {
        fclose(in->f);
        return descent_fail(err, DESCENT_ERR_IO, "cannot read %s", path);
    }
    in->size = (size_t)size;
#endif
    return 0;
}

/* n bytes at offset 0 of the file into buf. */
static int in_read(file_in *in, void *buf, size_t n, const char *path, descent_error *err)
{
    if (fseek(in->f, 0, SEEK_SET) != 0 || fread(buf, 1, n, in->f) != n)
        return descent_fail(err, DESCENT_ERR_IO, "cannot read %s%s%s", path, ferror(in->f) ? ": " : " (it changed while read)",
                            ferror(in->f) ? strerror(errno) : "");
    return 0;
}

/* The whole file (in->size bytes, one more allocated for a NUL). */
static int in_read_all(file_in *in, const descent_mem *mem, void **out, size_t *len, const char *path,
                       descent_error *err)
{
    void *buf = descent_mem_alloc(mem, in->size + 1);
    if (!buf)
        return descent_fail(err, DESCENT_ERR_NOMEM, "out of memory reading %s (%zu bytes)", path, in->size);
    int rc = in_read(in, buf, in->size, path, err);
    if (rc < 0) {
        descent_mem_free(mem, buf);
        return rc;
    }
    ((char *)buf)[in->size] = '\0';
    *out = buf;
    *len = in->size;
    return 0;
}

int descent_file_read(const descent_mem *mem, const char *path, void **out, size_t *len, descent_error *err)
{
    *out = NULL;
    *len = 0;
    file_in in;
    int rc = in_open(&in, path, err);
    if (rc < 0)
        return rc;
    rc = in_read_all(&in, mem, out, len, path, err);
    fclose(in.f);
    return rc;
}

int descent_file_read_checked(const descent_mem *mem, const char *path, size_t head, descent_file_check check,
                              void *ctx, void **out, size_t *len, descent_error *err)
{
    *out = NULL;
    *len = 0;
    file_in in;
    int rc = in_open(&in, path, err);
    if (rc < 0)
        return rc;
    unsigned char stack[256], *buf = head <= sizeof stack ? stack : descent_mem_alloc(mem, head);
    size_t n = in.size < head ? in.size : head;
    if (!buf)
        rc = descent_fail(err, DESCENT_ERR_NOMEM, "out of memory reading %s", path);
    if (rc == 0)
        rc = in_read(&in, buf, n, path, err);
    if (rc == 0)
        rc = check(ctx, buf, n, in.size, err);
    if (buf != stack)
        descent_mem_free(mem, buf);
    if (rc == 0)
        rc = in_read_all(&in, mem, out, len, path, err);
    fclose(in.f);
    return rc;
}

typedef struct frame_want {
    const char *magic, *what;
    uint32_t min_version, max_version, known_flags;
} frame_want;

/* A file that is not this kind, or whose header declares another length
 * than the file has, is refused before its size is allocated. */
static int frame_check(void *ctx, const unsigned char *head, size_t n, size_t size, descent_error *err)
{
    const frame_want *f = ctx;
    descent_frame_info info;
    int rc = descent_frame_header(head, n, f->magic, f->min_version, f->max_version, f->known_flags, &info, f->what, err);
    if (rc == 0 && (size < DESCENT_FRAME_OVERHEAD || info.payload_len != size - DESCENT_FRAME_OVERHEAD))
        rc = descent_fail(err, DESCENT_ERR_CHECKPOINT, "%s is truncated or padded: %zu bytes, header says %llu", f->what,
                          size, (unsigned long long)info.payload_len + DESCENT_FRAME_OVERHEAD);
    return rc;
}

int descent_file_read_framed(const descent_mem *mem, const char *path, const char magic[8], uint32_t min_version,
                             uint32_t max_version, uint32_t known_flags, const char *what, void **out, size_t *len,
                             descent_error *err)
{
    frame_want want = {magic, what, min_version, max_version, known_flags};
    int rc = descent_file_read_checked(mem, path, DESCENT_FRAME_HEADER, frame_check, &want, out, len, err);
    if (rc == DESCENT_ERR_CHECKPOINT && err) {
        char msg[sizeof err->message];
        memcpy(msg, err->message, sizeof msg);
        descent_fail(err, rc, "%.200s: %.300s", path, msg);
    }
    return rc;
}

/* ---- writing ------------------------------------------------------------- */

#if defined(DESCENT_POSIX_FILES) || defined(_WIN32)
#ifdef _WIN32
static uint64_t process_id(void) { return GetCurrentProcessId(); }
/* 100 ns ticks since 1601. */
static uint64_t clock_bits(void)
{
    FILETIME ft;
    GetSystemTimeAsFileTime(&ft);
    return (uint64_t)ft.dwHighDateTime << 32 | ft.dwLowDateTime;
}
#else
static uint64_t process_id(void) { return (uint64_t)getpid(); }
static uint64_t clock_bits(void)
{
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    return (uint64_t)ts.tv_sec * 1000000007u ^ (uint64_t)ts.tv_nsec;
}
#endif

/* splitmix64 (Steele, Lea & Flood 2014) over the time, the process and a
 * counter: a name no other saver picks at the same moment; exclusive creation
 * (O_EXCL, CREATE_NEW) makes a collision a retry, never a shared file. */
static uint64_t tmp_suffix(void)
{
    static unsigned long counter;
    return descent_mix64(clock_bits() ^ (uint64_t)process_id() << 32 ^ (uint64_t)++counter * 0x9E3779B97F4A7C15u);
}
#endif

#ifdef DESCENT_POSIX_FILES

/* The file a chain of symbolic links at path ends at (path itself when it
 * is not a link, or does not exist yet), in a buffer from mem. */
static char *resolve_links(const descent_mem *mem, const char *path, descent_error *err)
{
    size_t cap = strlen(path) + 1;
    char *cur = descent_mem_alloc(mem, cap);
    if (!cur) {
        descent_fail(err, DESCENT_ERR_NOMEM, "out of memory");
        return NULL;
    }
    memcpy(cur, path, cap);
    for (int hops = 0;; hops++) {
        struct stat st;
        if (lstat(cur, &st) != 0 || !S_ISLNK(st.st_mode))
            return cur;
        if (hops == 40) {
            descent_fail(err, DESCENT_ERR_IO, "cannot write %s: too many levels of symbolic links", path);
            break;
        }
        size_t lcap = (size_t)st.st_size > 0 ? (size_t)st.st_size + 1 : PATH_MAX;
        char *link = descent_mem_alloc(mem, lcap);
        ssize_t n = link ? readlink(cur, link, lcap) : -1;
        if (n < 0 || (size_t)n >= lcap) {
            descent_fail(err, DESCENT_ERR_IO, "cannot write %s: cannot read the link %s", path, cur);
            descent_mem_free(mem, link);
            break;
        }
        link[n] = '\0';
        /* A relative target is relative to the link's directory. */
        const char *slash = strrchr(cur, '/');
        size_t dlen = link[0] != '/' && slash ? (size_t)(slash - cur) + 1 : 0;
        char *next = descent_mem_alloc(mem, dlen + (size_t)n + 1);
        if (!next) {
            descent_fail(err, DESCENT_ERR_NOMEM, "out of memory");
            descent_mem_free(mem, link);
            break;
        }
        memcpy(next, cur, dlen);
        memcpy(next + dlen, link, (size_t)n + 1);
        descent_mem_free(mem, link);
        descent_mem_free(mem, cur);
        cur = next;
    }
    descent_mem_free(mem, cur);
    return NULL;
}

static int write_fully(int fd, const unsigned char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* fsync the directory holding path, so the rename itself is durable. A
 * file system that cannot sync directories (EINVAL) is not an error. */
static int sync_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char dir[PATH_MAX];
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if ((size_t)(slash - path) >= sizeof dir)
        return -1;
    else
        snprintf(dir, sizeof dir, "%.*s", slash == path ? 1 : (int)(slash - path), path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    int saved = errno;
    close(fd);
    return rc == 0 || saved == EINVAL || saved == EROFS ? 0 : -1;
}

int descent_file_write_atomic(const descent_mem *mem, const char *path, const void *buf, size_t len,
                              descent_error *err)
{
    char *target = resolve_links(mem, path, err);
    if (!target)
        return err ? err->status : DESCENT_ERR_IO;
    size_t tlen = strlen(target);
    char *tmp = descent_mem_alloc(mem, tlen + 32);
    if (!tmp) {
        descent_mem_free(mem, target);
        return descent_fail(err, DESCENT_ERR_NOMEM, "out of memory");
    }
    /* The old file's permissions carry over; a new file gets 0666 less the
     * umask, as fopen would give it. */
    struct stat old;
    int keep_mode = stat(target, &old) == 0 && S_ISREG(old.st_mode);
    int fd = -1;
    for (int attempt = 0; fd < 0 && attempt < 100; attempt++) {
        snprintf(tmp, tlen + 32, "%s.tmp-%016llx", target, (unsigned long long)tmp_suffix());
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    int rc = 0;
    if (fd < 0) {
        rc = descent_fail(err, DESCENT_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    } else {
        int ok = write_fully(fd, buf, len) == 0 && (!keep_mode || fchmod(fd, old.st_mode & 07777) == 0) &&
                 fsync(fd) == 0;
        int saved = errno;
        ok = close(fd) == 0 && ok;
        if (ok && rename(tmp, target) != 0)
            ok = 0, saved = errno;
        if (!ok) {
            rc = descent_fail(err, DESCENT_ERR_IO, "cannot write %s: %s", path, strerror(saved ? saved : EIO));
            unlink(tmp);
        } else if (sync_dir(target) != 0) {
            rc = descent_fail(err, DESCENT_ERR_IO, "cannot sync the directory of %s: %s", path, strerror(errno));
        }
    }
    descent_mem_free(mem, tmp);
    descent_mem_free(mem, target);
    return rc;
}

#elif defined(_WIN32)

/* The text of a Windows error code, for the message. */
static const char *win_error(DWORD code, char *buf, size_t cap)
{
    DWORD n = FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL, code, 0, buf,
                             (DWORD)cap, NULL);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' || buf[n - 1] == '.'))
        n--;
    if (n == 0)
        snprintf(buf, cap, "Windows error %lu", (unsigned long)code);
    else
        buf[n] = '\0';
    return buf;
}

static int win_fail(descent_error *err, int status, const char *what, const char *path, DWORD code)
{
    char text[256];
    return descent_fail(err, status, "%s %s: %s", what, path, win_error(code, text, sizeof text));
}

/* Windows: a new file of a unique name beside path (CREATE_NEW: never an
 * existing file, nor a link planted at that name), FlushFileBuffers (the
 * fsync of Windows), then MoveFileExW with MOVEFILE_REPLACE_EXISTING (the
 * rename over an existing file, which rename() refuses on Windows) and
 * MOVEFILE_WRITE_THROUGH (it returns once the move is on disk). Paths are
 * UTF-8, passed to the W functions as UTF-16. */
int descent_file_write_atomic(const descent_mem *mem, const char *path, const void *buf, size_t len,
                              descent_error *err)
{
    (void)mem;
    wchar_t *target = utf16(path);
    if (!target)
        return descent_fail(err, DESCENT_ERR_IO, "cannot write %s: not a valid UTF-8 path", path);
    size_t tlen = wcslen(target);
    wchar_t *tmp = malloc((tlen + 32) * sizeof *tmp);
    if (!tmp) {
        free(target);
        return descent_fail(err, DESCENT_ERR_NOMEM, "out of memory");
    }
    HANDLE h = INVALID_HANDLE_VALUE;
    DWORD code = 0;
    for (int attempt = 0; h == INVALID_HANDLE_VALUE && attempt < 100; attempt++) {
        static const wchar_t ext[] = L".tmp-", hex[] = L"0123456789abcdef";
        uint64_t r = tmp_suffix();
        memcpy(tmp, target, tlen * sizeof *tmp);
        memcpy(tmp + tlen, ext, sizeof ext);
        for (int i = 0; i < 16; i++)
            tmp[tlen + 5 + i] = hex[(r >> (60 - 4 * i)) & 15];
        tmp[tlen + 21] = L'\0';
        h = CreateFileW(tmp, GENERIC_WRITE, 0, NULL, CREATE_NEW, FILE_ATTRIBUTE_NORMAL, NULL);
        code = h == INVALID_HANDLE_VALUE ? GetLastError() : 0;
        if (h == INVALID_HANDLE_VALUE && code != ERROR_FILE_EXISTS && code != ERROR_ALREADY_EXISTS)
            break;
    }
    int rc = 0;
    if (h == INVALID_HANDLE_VALUE) {
        rc = win_fail(err, DESCENT_ERR_IO, "cannot write", path, code);
    } else {
        const unsigned char *p = buf;
        size_t left = len;
        int ok = 1;
        while (ok && left > 0) {
            DWORD chunk = left > 0x40000000u ? 0x40000000u : (DWORD)left, done = 0;
            ok = WriteFile(h, p, chunk, &done, NULL) && done > 0;
            p += done;
            left -= done;
        }
        ok = ok && FlushFileBuffers(h);
        code = ok ? 0 : GetLastError();
        if (!CloseHandle(h) && ok)
            ok = 0, code = GetLastError();
        if (ok && !MoveFileExW(tmp, target, MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH))
            ok = 0, code = GetLastError();
        if (!ok) {
            rc = win_fail(err, DESCENT_ERR_IO, "cannot write", path, code);
            DeleteFileW(tmp);
        }
    }
    free(tmp);
    free(target);
    return rc;
}

#else /* neither POSIX nor Windows: write path.tmp, flush, rename (not synced) */

int descent_file_write_atomic(const descent_mem *mem, const char *path, const void *buf, size_t len,
                              descent_error *err)
{
    size_t plen = strlen(path);
    char *tmp = descent_mem_alloc(mem, plen + 5);
    if (!tmp)
        return descent_fail(err, DESCENT_ERR_NOMEM, "out of memory");
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    int rc = 0;
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        rc = descent_fail(err, DESCENT_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
    } else {
        int ok = fwrite(buf, 1, len, f) == len && fflush(f) == 0;
        ok = (fclose(f) == 0) && ok;
        if (!ok || rename(tmp, path) != 0) {
            rc = descent_fail(err, DESCENT_ERR_IO, "cannot write %s: %s", path, strerror(errno));
            remove(tmp);
        }
    }
    descent_mem_free(mem, tmp);
    return rc;
}

#endif
