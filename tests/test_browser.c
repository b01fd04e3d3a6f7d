/* The pictures in a real browser: headless Chromium renders the paths
 * picture and the comparison report to PNG; the PNG is decoded here (zlib
 * inflates it) and each optimizer's palette colour must cover some pixels,
 * and the plot area must not be blank. Exits 77 (ctest SKIP) when no
 * Chromium is installed; CI installs Debian's chromium package.
 *
 * argv[1]: the tests source directory, argv[2]: the descent CLI.
 * DESCENT_CHROMIUM names the browser binary (default: chromium, then
 * chromium-browser). DESCENT_KEEP_PNG=DIR keeps the screenshots there. */
#include "testutil.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

enum { SKIP = 77 };

static const char *cli, *data, *browser;
static char tmp[512];

/* ---- a minimal PNG reader: 8-bit RGB or RGBA, not interlaced ------------------- */

typedef struct image {
    int w, h;
    unsigned char *rgb; /* w * h * 3 */
} image;

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int paeth(int a, int b, int c)
{
    int p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
    return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/* Returns 0, or -1 with a reason in why. */
static int png_read(const char *path, image *im, const char **why)
{
    size_t len;
    unsigned char *s = (unsigned char *)t_read_file(path, &len);
    unsigned char *z = NULL, *raw = NULL;
    size_t zn = 0;
    int w = 0, h = 0, ctype = -1, ok = -1;
    *why = "not a PNG";
    if (!s || len < 8 || memcmp(s, "\x89PNG\r\n\x1a\n", 8) != 0)
        goto done;
    z = malloc(len);
    if (!z)
        goto done;
    for (size_t p = 8; p + 12 <= len;) {
        uint32_t n = be32(s + p);
        const unsigned char *type = s + p + 4, *body = s + p + 8;
        if (n > len - p - 12) {
            *why = "truncated chunk";
            goto done;
        }
        if (memcmp(type, "IHDR", 4) == 0 && n >= 13) {
            w = (int)be32(body);
            h = (int)be32(body + 4);
            ctype = body[9];
            if (body[8] != 8 || (ctype != 2 && ctype != 6) || body[12] != 0) {
                *why = "not 8-bit RGB(A) non-interlaced";
                goto done;
            }
        } else if (memcmp(type, "IDAT", 4) == 0) {
            memcpy(z + zn, body, n);
            zn += n;
        } else if (memcmp(type, "IEND", 4) == 0) {
            break;
        }
        p += 12 + n;
    }
    if (w <= 0 || h <= 0 || w > 20000 || h > 20000) {
        *why = "bad size";
        goto done;
    }
    int bpp = ctype == 6 ? 4 : 3;
    size_t stride = (size_t)w * (size_t)bpp;
    uLongf rawn = (uLongf)((stride + 1) * (size_t)h);
    raw = malloc(rawn);
    im->rgb = malloc((size_t)w * (size_t)h * 3);
    if (!raw || !im->rgb || uncompress(raw, &rawn, z, (uLong)zn) != Z_OK || rawn != (stride + 1) * (size_t)h) {
        *why = "bad image data";
        goto done;
    }
    /* undo the per-row filters (PNG spec, section 9) in place */
    for (int y = 0; y < h; y++) {
        unsigned char *row = raw + (size_t)y * (stride + 1) + 1, *up = y ? row - (stride + 1) : NULL;
        int filter = row[-1];
        for (size_t x = 0; x < stride; x++) {
            int a = x >= (size_t)bpp ? row[x - bpp] : 0, b = up ? up[x] : 0;
            int c = up && x >= (size_t)bpp ? up[x - bpp] : 0;
            int pred = filter == 0 ? 0 : filter == 1 ? a : filter == 2 ? b : filter == 3 ? (a + b) / 2 : paeth(a, b, c);
            row[x] = (unsigned char)(row[x] + pred);
        }
        for (int x = 0; x < w; x++)
            for (int k = 0; k < 3; k++)
                im->rgb[((size_t)y * (size_t)w + (size_t)x) * 3 + (size_t)k] = row[(size_t)x * (size_t)bpp + (size_t)k];
    }
    im->w = w;
    im->h = h;
    ok = 0;
done:
    free(s);
    free(z);
    free(raw);
    if (ok < 0) {
        free(im->rgb);
        im->rgb = NULL;
    }
    return ok;
}

/* Pixels within tol of colour "#RRGGBB" in the rectangle [x0, x1) x [y0, y1). */
static long count_colour(const image *im, const char *hex, int tol, int x0, int y0, int x1, int y1)
{
    unsigned v = (unsigned)strtoul(hex + 1, NULL, 16);
    int want[3] = {(int)(v >> 16) & 255, (int)(v >> 8) & 255, (int)v & 255};
    long n = 0;
    for (int y = y0 < 0 ? 0 : y0; y < y1 && y < im->h; y++)
        for (int x = x0 < 0 ? 0 : x0; x < x1 && x < im->w; x++) {
            const unsigned char *p = im->rgb + ((size_t)y * (size_t)im->w + (size_t)x) * 3;
            if (abs(p[0] - want[0]) <= tol && abs(p[1] - want[1]) <= tol && abs(p[2] - want[2]) <= tol)
                n++;
        }
    return n;
}

/* Share of pixels in the rectangle that are not (near) white. */
static double ink(const image *im, int x0, int y0, int x1, int y1)
{
    long n = 0, all = 0;
    for (int y = y0; y < y1 && y < im->h; y++)
        for (int x = x0; x < x1 && x < im->w; x++, all++) {
            const unsigned char *p = im->rgb + ((size_t)y * (size_t)im->w + (size_t)x) * 3;
            n += p[0] < 235 || p[1] < 235 || p[2] < 235;
        }
    return all ? (double)n / (double)all : 0;
}

/* ---- rendering ------------------------------------------------------------------------ */

static int screenshot(const char *file, const char *png, const char *size)
{
    char cmd[3000], *out = NULL;
    snprintf(cmd, sizeof cmd,
             "p=$(mktemp -d) && timeout 120 '%s' --headless --no-sandbox --disable-gpu --disable-quic --no-first-run "
             "--disable-background-networking --disable-component-update --disable-sync --disable-dev-shm-usage "
             "--user-data-dir=\"$p\" "
             "--hide-scrollbars --screenshot='%s' --window-size=%s 'file://%s' >/dev/null 2>&1; st=$?; rm -rf \"$p\"; "
             "exit $st",
             browser, png, size, file);
    /* a second try if the first start of the browser fails (slow machines) */
    int st = 1;
    for (int attempt = 0; attempt < 2 && st != 0; attempt++) {
        remove(png);
        st = t_run(cmd, &out);
        free(out);
        out = NULL;
        if (st == 0 && access(png, R_OK) != 0)
            st = 1;
    }
    return st;
}

static void keep(const char *png, const char *name)
{
    const char *dir = getenv("DESCENT_KEEP_PNG");
    if (!dir || !*dir)
        return;
    char cmd[2000], *out = NULL;
    snprintf(cmd, sizeof cmd, "cp '%s' '%s/%s'", png, dir, name);
    t_run(cmd, &out);
    free(out);
}

static const char *const palette[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7"};
static const char *const names[] = {"SGD(lr=1e-3, momentum=0.9)", "Adam(lr=0.02)", "RMSprop(lr=0.01)",
                                    "NAG(lr=1e-3, momentum=0.9)"};

static void test_paths(void)
{
    char cmd[3000], svg[700], png[700];
    snprintf(svg, sizeof svg, "%s/paths.svg", tmp);
    snprintf(png, sizeof png, "%s/paths.png", tmp);
    snprintf(cmd, sizeof cmd, "'%s' plot-paths --fn 'rosenbrock()' --opt '%s' --opt '%s' --opt '%s' --opt '%s' "
             "--steps 300 --out '%s' >/dev/null", cli, names[0], names[1], names[2], names[3], svg);
    CHECK(t_run(cmd, NULL) == 0, "plot-paths");
    CHECK(screenshot(svg, png, "1200,900") == 0, "chromium failed on %s", svg);
    keep(png, "paths.png");
    image im = {0, 0, NULL};
    const char *why;
    int rc = png_read(png, &im, &why);
    CHECK(rc == 0, "cannot read %s: %s", png, why);
    if (rc)
        return;
    /* the plot area of the map: x 76..636, y 58..538 (svg_contour.c), drawn at the page's origin */
    double area = ink(&im, 76, 58, 636, 538);
    CHECK(area > 0.02, "plot area nearly blank: %.4f of its pixels have ink", area);
    for (int i = 0; i < 4; i++) {
        long inside = count_colour(&im, palette[i], 12, 76, 58, 636, 538);
        long all = count_colour(&im, palette[i], 12, 0, 0, im.w, im.h);
        CHECK(inside >= 20, "%s's colour %s covers %ld pixels of the plot", names[i], palette[i], inside);
        CHECK(all > inside, "%s's colour %s missing from the legend", names[i], palette[i]);
    }
    /* the contour lines: grey pixels in the plot */
    long grey = 0;
    for (int g = 100; g <= 200; g += 4) {
        char hex[8];
        snprintf(hex, sizeof hex, "#%02x%02x%02x", g, g, g);
        grey += count_colour(&im, hex, 2, 76, 58, 636, 538);
    }
    CHECK(grey > 500, "contour lines: only %ld grey pixels in the plot", grey);
    free(im.rgb);
}

static void test_report(void)
{
    char cmd[4000], dir[700], html[800], png[700];
    snprintf(dir, sizeof dir, "%s/report", tmp);
    snprintf(cmd, sizeof cmd,
             "'%s' compare --data '%s' --target label --model 'softmax()' --opt 'SGD(lr=0.05, momentum=0.9)' "
             "--opt 'Adam(lr=1e-2)' --opt 'AdamW(lr=1e-2, weight_decay=0.01)' --sched none --sched none "
             "--sched 'LinearWarmup(warmup_period=45, schedule=CosineAnnealingLR(T_max=180))' --epochs 4 --out '%s' "
             ">/dev/null",
             cli, data, dir);
    CHECK(t_run(cmd, NULL) == 0, "compare");
    snprintf(html, sizeof html, "%s/index.html", dir);
    snprintf(png, sizeof png, "%s/report.png", tmp);
    CHECK(screenshot(html, png, "1200,1800") == 0, "chromium failed on %s", html);
    keep(png, "report.png");
    image im = {0, 0, NULL};
    const char *why;
    int rc = png_read(png, &im, &why);
    CHECK(rc == 0, "cannot read %s: %s", png, why);
    if (rc)
        return;
    CHECK(im.w == 1200 && im.h == 1800, "screenshot is %dx%d", im.w, im.h);
    /* the loss chart sits near the top of the page, below the heading */
    double top = ink(&im, 0, 60, 800, 560);
    CHECK(top > 0.02, "loss chart area nearly blank: %.4f", top);
    for (int i = 0; i < 3; i++) {
        long chart = count_colour(&im, palette[i], 12, 0, 60, 800, 560);
        long all = count_colour(&im, palette[i], 12, 0, 0, im.w, im.h);
        CHECK(chart >= 20, "optimizer %d's colour %s covers %ld pixels of the loss chart", i, palette[i], chart);
        /* the loss chart, its legend, the table's swatch and the lr chart */
        CHECK(all >= chart + 100, "optimizer %d's colour %s: %ld pixels in all, %ld in the loss chart", i,
              palette[i], all, chart);
    }
    free(im.rgb);
}

/* Long titles and legend names stay inside the picture: no ink in the
 * outermost columns of the title rows, and ink in the title itself. The
 * SVG is the page's only content, drawn at its origin. */
static void check_inside(const char *svg, const char *name, int width, int title_rows)
{
    char png[700];
    snprintf(png, sizeof png, "%s/%s.png", tmp, name);
    CHECK(screenshot(svg, png, "1000,900") == 0, "chromium failed on %s", svg);
    keep(png, strrchr(png, '/') + 1);
    image im = {0, 0, NULL};
    const char *why;
    int rc = png_read(png, &im, &why);
    CHECK(rc == 0, "cannot read %s: %s", png, why);
    if (rc)
        return;
    double title = ink(&im, 0, 0, width, title_rows);
    double left = ink(&im, 0, 0, 4, title_rows), right = ink(&im, width - 4, 0, width, title_rows);
    CHECK(title > 0.005, "%s: the title rows are blank (%.4f)", name, title);
    CHECK(left == 0 && right == 0, "%s: the title reaches the edge (ink %.4f left, %.4f right)", name, left, right);
    free(im.rgb);
}

static void test_long_titles(void)
{
    char cmd[4000], svg[700];
    snprintf(svg, sizeof svg, "%s/sched.svg", tmp);
    snprintf(cmd, sizeof cmd, "'%s' schedule --opt 'SGD(lr=0.1, momentum=0.9)' --sched 'SequentialLR(schedulers=["
             "LinearLR(start_factor=0.01, total_iters=100), CosineAnnealingWarmRestarts(T_0=200, T_mult=2, "
             "eta_min=1e-5), ExponentialLR(gamma=0.999)], milestones=[100, 1500])' --steps 2000 --plot '%s' >/dev/null",
             cli, svg);
    CHECK(t_run(cmd, NULL) == 0, "schedule --plot");
    check_inside(svg, "sched-title", 760, 56);
    snprintf(svg, sizeof svg, "%s/train.svg", tmp);
    snprintf(cmd, sizeof cmd, "'%s' train --data '%s' --target label --model 'mlp(hidden=(16, 16), activation=\"tanh\")' "
             "--opt 'Lookahead(optimizer=AdamW(lr=3e-3, betas=(0.9, 0.999), weight_decay=0.01, amsgrad=True), k=5, "
             "alpha=0.5)' --epochs 2 --plot '%s' >/dev/null", cli, data, svg);
    CHECK(t_run(cmd, NULL) == 0, "train --plot");
    check_inside(svg, "train-title", 760, 56);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: test_browser TESTS_DIR CLI\n");
        return 2;
    }
    cli = argv[2];
    static char data_path[1024];
    snprintf(data_path, sizeof data_path, "%s/../data/digits.csv", argv[1]);
    data = data_path;
    browser = getenv("DESCENT_CHROMIUM");
    if (!browser || !*browser) {
        if (t_run("command -v chromium >/dev/null 2>&1", NULL) == 0)
            browser = "chromium";
        else if (t_run("command -v chromium-browser >/dev/null 2>&1", NULL) == 0)
            browser = "chromium-browser";
    }
    if (!browser) {
        printf("SKIP: no chromium installed (apt-get install chromium; .ci/run does): the browser test did not run\n");
        return SKIP;
    }
    snprintf(tmp, sizeof tmp, "/tmp/descent_browser_XXXXXX");
    if (!mkdtemp(tmp)) {
        perror("mkdtemp");
        return 1;
    }
    test_paths();
    test_report();
    test_long_titles();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    t_run(cmd, NULL);
    return t_done();
}
