/* The SVG line-chart writer (see svg.h). Tick positions use the usual
 * 1-2-5 "nice numbers"; numbers are printed with fixed formats so output is
 * byte-for-byte reproducible. */
#include "svg.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Okabe & Ito (2008), "Color Universal Design". Black last. */
static const char *const palette[SVG_PALETTE_SIZE] = {
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000",
};

typedef struct svg_series {
    char *name;
    size_t n;
    double *x, *y;
    int colour, axis, dashed;
} svg_series;

struct svg_chart {
    char *title, *xlabel, *ylabel[2];
    int log_y[2], has_y2, legend_below, integer_x;
    double include_y[4]; /* values the left axis must cover */
    int ninclude;
    svg_series *series;
    int nseries, cap;
};

/* Plot area inside a fixed canvas. */
enum { W = 760, H = 440, LEFT = 80, RIGHT = 80, TOP = 44, BOTTOM = 56 };

static char *dup_str(const char *s)
{
    size_t n = strlen(s ? s : "");
    char *d = malloc(n + 1);
    if (d)
        memcpy(d, s ? s : "", n + 1);
    return d;
}

svg_chart *svg_chart_begin(const char *title, const char *xlabel, const char *ylabel, int log_y)
{
    svg_chart *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->title = dup_str(title);
    c->xlabel = dup_str(xlabel);
    c->ylabel[0] = dup_str(ylabel);
    c->ylabel[1] = dup_str("");
    c->log_y[0] = log_y != 0;
    if (!c->title || !c->xlabel || !c->ylabel[0] || !c->ylabel[1]) {
        svg_chart_free(c);
        return NULL;
    }
    return c;
}

void svg_chart_free(svg_chart *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->nseries; i++) {
        free(c->series[i].name);
        free(c->series[i].x);
        free(c->series[i].y);
    }
    free(c->series);
    free(c->title);
    free(c->xlabel);
    free(c->ylabel[0]);
    free(c->ylabel[1]);
    free(c);
}

void svg_chart_set_y2(svg_chart *c, const char *label, int log_y)
{
    if (!c)
        return;
    char *l = dup_str(label);
    if (l) {
        free(c->ylabel[1]);
        c->ylabel[1] = l;
    }
    c->log_y[1] = log_y != 0;
    c->has_y2 = 1;
}

static int add(svg_chart *c, const char *name, size_t n, const double *x, const double *y, int colour, int axis)
{
    if (!c || (n && (!x || !y)))
        return -1;
    if (c->nseries == c->cap) {
        int ncap = c->cap ? 2 * c->cap : 4;
        svg_series *s = realloc(c->series, sizeof *s * (size_t)ncap);
        if (!s)
            return -1;
        c->series = s;
        c->cap = ncap;
    }
    svg_series *s = &c->series[c->nseries];
    memset(s, 0, sizeof *s);
    s->name = dup_str(name);
    s->x = malloc(sizeof(double) * (n ? n : 1));
    s->y = malloc(sizeof(double) * (n ? n : 1));
    if (!s->name || !s->x || !s->y) {
        free(s->name);
        free(s->x);
        free(s->y);
        return -1;
    }
    if (n) {
        memcpy(s->x, x, sizeof(double) * n);
        memcpy(s->y, y, sizeof(double) * n);
    }
    s->n = n;
    s->colour = ((colour % SVG_PALETTE_SIZE) + SVG_PALETTE_SIZE) % SVG_PALETTE_SIZE;
    s->axis = axis;
    s->dashed = axis;
    c->nseries++;
    return 0;
}

int svg_chart_add_series(svg_chart *c, const char *name, size_t n, const double *x, const double *y, int colour)
{
    return add(c, name, n, x, y, colour, 0);
}

int svg_chart_add_series_dashed(svg_chart *c, const char *name, size_t n, const double *x, const double *y,
                                int colour)
{
    if (add(c, name, n, x, y, colour, 0) < 0)
        return -1;
    c->series[c->nseries - 1].dashed = 1;
    return 0;
}

void svg_chart_include_y(svg_chart *c, double v)
{
    if (c && isfinite(v) && c->ninclude < 4)
        c->include_y[c->ninclude++] = v;
}

void svg_chart_integer_x(svg_chart *c)
{
    if (c)
        c->integer_x = 1;
}

void svg_chart_legend_below(svg_chart *c)
{
    if (c)
        c->legend_below = 1;
}

const char *svg_palette_colour(int colour)
{
    return palette[((colour % SVG_PALETTE_SIZE) + SVG_PALETTE_SIZE) % SVG_PALETTE_SIZE];
}

int svg_chart_add_series_y2(svg_chart *c, const char *name, size_t n, const double *x, const double *y, int colour)
{
    if (c && !c->has_y2)
        svg_chart_set_y2(c, name, 0);
    return add(c, name, n, x, y, colour, 1);
}

/* ---- scales ---------------------------------------------------------------- */

typedef struct scale {
    double lo, hi; /* data range after padding (log10 units on a log axis) */
    int log;
    double ticks[32];
    int nticks;
} scale;

static double nice_step(double span, int want)
{
    double raw = span / want, mag = pow(10, floor(log10(raw))), f = raw / mag;
    return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
}

static int usable(double v, int log) { return isfinite(v) && (!log || v > 0); }

static void make_scale(scale *s, const svg_chart *c, int axis, int use_x, int log)
{
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < c->nseries; i++) {
        const svg_series *se = &c->series[i];
        if (!use_x && se->axis != axis)
            continue;
        for (size_t k = 0; k < se->n; k++) {
            double v = use_x ? se->x[k] : se->y[k];
            if (!usable(v, log) || (!use_x && !isfinite(se->x[k])))
                continue;
            v = log ? log10(v) : v;
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
    }
    for (int k = 0; !use_x && axis == 0 && lo <= hi && k < c->ninclude; k++) {
        double v = c->include_y[k];
        if (!usable(v, log))
            continue;
        v = log ? log10(v) : v;
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    if (lo > hi)
        lo = 0, hi = 1;
    if (hi - lo < 1e-12 * (fabs(hi) + fabs(lo)) || hi == lo) {
        double pad = log ? 0.5 : (lo == 0 ? 1 : fabs(lo) * 0.1);
        lo -= pad;
        hi += pad;
    }
    s->log = log;
    s->nticks = 0;
    if (log) {
        lo = floor(lo);
        hi = ceil(hi);
        double step = ceil((hi - lo) / 8);
        for (double e = lo; e <= hi + 1e-9 && s->nticks < 32; e += step)
            s->ticks[s->nticks++] = e;
    } else {
        double step = nice_step(hi - lo, 6);
        if (use_x && c->integer_x && step < 1)
            step = 1;
        lo = floor(lo / step) * step;
        hi = ceil(hi / step) * step;
        for (int k = 0; k < 32; k++) {
            double v = lo + k * step;
            if (v > hi + step * 1e-9)
                break;
            s->ticks[s->nticks++] = fabs(v) < step * 1e-9 ? 0 : v;
        }
    }
    s->lo = lo;
    s->hi = hi;
}

static double map(const scale *s, double v, double a, double b)
{
    double u = s->log ? log10(v) : v;
    return a + (u - s->lo) / (s->hi - s->lo) * (b - a);
}

static void tick_label(char *buf, size_t cap, const scale *s, double t)
{
    if (s->log)
        snprintf(buf, cap, "1e%d", (int)lround(t));
    else
        snprintf(buf, cap, "%.4g", t);
}

void svg_put_escaped(FILE *f, const char *s, size_t n, int apostrophe)
{
    for (const char *e = s + n; s < e; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'':
            if (apostrophe) {
                fputs("&#39;", f);
                break;
            }
            /* fall through */
        default: fputc(*s, f);
        }
    }
}

static void put_text_n(FILE *f, const char *s, size_t n) { svg_put_escaped(f, s, n, 0); }
static void put_text(FILE *f, const char *s) { put_text_n(f, s, strlen(s)); }

/* ---- titles that fit ---------------------------------------------------------- */

static double est_width(size_t chars, int font) { return 0.6 * font * (double)chars; }

/* Greedy wrapping into lines of at most max characters; returns the line
 * count (more than SVG_TITLE_LINES when it does not fit). */
static int wrap(svg_title *t, const char *text, size_t max)
{
    size_t n = strlen(text), at = 0;
    int lines = 0;
    while (at < n) {
        while (at < n && text[at] == ' ')
            at++;
        if (at >= n)
            break;
        size_t len = n - at;
        if (len > max) {
            /* the last space, or the place after the last comma, that fits */
            size_t cut = 0;
            for (size_t k = 1; k <= max; k++)
                if (text[at + k] == ' ' || text[at + k - 1] == ',')
                    cut = k;
            len = cut ? cut : max;
        }
        if (lines < SVG_TITLE_LINES) {
            t->start[lines] = at;
            t->len[lines] = len;
        }
        lines++;
        at += len;
    }
    return lines;
}

void svg_title_layout(svg_title *t, const char *text, double width)
{
    static const int fonts[] = {15, 12, 10};
    memset(t, 0, sizeof *t);
    t->width = width;
    for (int i = 0; i < 3; i++) {
        t->font = fonts[i];
        size_t max = (size_t)(width / est_width(1, fonts[i]));
        int lines = wrap(t, text, max ? max : 1);
        t->lines = lines < SVG_TITLE_LINES ? lines : SVG_TITLE_LINES;
        if (lines <= (i == 0 ? 2 : SVG_TITLE_LINES))
            return;
    }
    /* Still too long at the smallest size: the last line takes the rest
     * and is squeezed. */
    t->len[t->lines - 1] = strlen(text) - t->start[t->lines - 1];
}

double svg_title_extra(const svg_title *t) { return t->lines > 1 ? (t->lines - 1) * 1.25 * t->font : 0; }

static void put_text_n(FILE *f, const char *s, size_t n);

void svg_text_fitted(FILE *f, double x, double y, const char *anchor, int font, double width, const char *text)
{
    size_t n = strlen(text);
    fprintf(f, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"%s\" font-size=\"%d\"", x, y, anchor, font);
    if (est_width(n, font) > width)
        fprintf(f, " textLength=\"%.2f\" lengthAdjust=\"spacingAndGlyphs\"", width);
    fputc('>', f);
    put_text_n(f, text, n);
    fputs("</text>\n", f);
}

void svg_title_put(FILE *f, const svg_title *t, const char *text, double cx, double y, const char *attrs)
{
    for (int i = 0; i < t->lines; i++) {
        size_t len = t->len[i];
        while (len && text[t->start[i] + len - 1] == ' ')
            len--;
        fprintf(f, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\" font-size=\"%d\"%s", cx,
                y + i * 1.25 * t->font, t->font, attrs ? attrs : "");
        if (est_width(len, t->font) > t->width)
            fprintf(f, " textLength=\"%.2f\" lengthAdjust=\"spacingAndGlyphs\"", t->width);
        fputc('>', f);
        put_text_n(f, text + t->start[i], len);
        fputs("</text>\n", f);
    }
}

/* ---- output ------------------------------------------------------------------ */

static void write_chart(FILE *f, const svg_chart *c)
{
    const double x0 = LEFT, x1 = W - RIGHT, y0 = H - BOTTOM, y1 = TOP;
    scale sx, sy[2];
    make_scale(&sx, c, 0, 1, 0);
    make_scale(&sy[0], c, 0, 0, c->log_y[0]);
    if (c->has_y2)
        make_scale(&sy[1], c, 1, 0, c->log_y[1]);
    /* A long title wraps; the canvas grows by its extra lines. */
    svg_title tl;
    svg_title_layout(&tl, c->title, W - 24);
    const int extra = (int)ceil(svg_title_extra(&tl));
    const int HT = H + extra + (c->legend_below ? 14 + 18 * c->nseries : 0);
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
               "font-family=\"sans-serif\" font-size=\"12\">\n", W, HT, W, HT);
    fprintf(f, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n", W, HT);
    svg_title_put(f, &tl, c->title, W / 2.0, 24, NULL);
    if (extra)
        fprintf(f, "<g transform=\"translate(0,%d)\">\n", extra);
    /* grid and ticks */
    char lab[64];
    for (int k = 0; k < sx.nticks; k++) {
        double px = map(&sx, sx.ticks[k], x0, x1);
        fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#e0e0e0\"/>\n", px, y0, px, y1);
        fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"black\"/>\n", px, y0, px, y0 + 5);
        tick_label(lab, sizeof lab, &sx, sx.ticks[k]);
        fprintf(f, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\">%s</text>\n", px, y0 + 18, lab);
    }
    for (int a = 0; a < 1 + c->has_y2; a++) {
        const scale *s = &sy[a];
        double ax = a ? x1 : x0;
        for (int k = 0; k < s->nticks; k++) {
            double py = s->log ? y0 + (s->ticks[k] - s->lo) / (s->hi - s->lo) * (y1 - y0) : map(s, s->ticks[k], y0, y1);
            if (a == 0)
                fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#e0e0e0\"/>\n", x0, py, x1, py);
            fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"black\"/>\n", ax, py,
                    a ? ax + 5 : ax - 5, py);
            tick_label(lab, sizeof lab, s, s->ticks[k]);
            fprintf(f, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"%s\">%s</text>\n", a ? ax + 8 : ax - 8, py + 4,
                    a ? "start" : "end", lab);
        }
    }
    /* axes */
    fprintf(f, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"none\" stroke=\"black\"/>\n", x0, y1,
            x1 - x0, y0 - y1);
    fprintf(f, "<text x=\"%.2f\" y=\"%d\" text-anchor=\"middle\">", (x0 + x1) / 2, H - 14);
    put_text(f, c->xlabel);
    fputs("</text>\n", f);
    fprintf(f, "<text transform=\"translate(18 %.2f) rotate(-90)\" text-anchor=\"middle\">", (y0 + y1) / 2);
    put_text(f, c->ylabel[0]);
    fputs("</text>\n", f);
    if (c->has_y2) {
        fprintf(f, "<text transform=\"translate(%d %.2f) rotate(90)\" text-anchor=\"middle\">", W - 16, (y0 + y1) / 2);
        put_text(f, c->ylabel[1]);
        fputs("</text>\n", f);
    }
    /* series: polylines, broken at unusable points */
    for (int i = 0; i < c->nseries; i++) {
        const svg_series *se = &c->series[i];
        const scale *s = &sy[se->axis];
        int open = 0;
        for (size_t k = 0; k < se->n; k++) {
            if (!isfinite(se->x[k]) || !usable(se->y[k], s->log)) {
                if (open)
                    fputs("\"/>\n", f);
                open = 0;
                continue;
            }
            if (!open)
                fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.8\"%s points=\"",
                        palette[se->colour], se->dashed ? " stroke-dasharray=\"6 3\"" : "");
            fprintf(f, "%s%.2f,%.2f", open ? " " : "", map(&sx, se->x[k], x0, x1), map(s, se->y[k], y0, y1));
            open = 1;
        }
        if (open)
            fputs("\"/>\n", f);
    }
    /* legend, top right inside the plot, as wide as its longest name
     * (about 7 px a character at 12 px sans-serif) */
    size_t longest = 0;
    for (int i = 0; i < c->nseries; i++) {
        size_t len = strlen(c->series[i].name) + (c->has_y2 ? 8 : 0);
        longest = len > longest ? len : longest;
    }
    double lw = 56 + 7.2 * (double)longest;
    lw = lw < 160 ? 160 : lw > x1 - x0 - 20 ? x1 - x0 - 20 : lw;
    double lx = x1 - lw - 10, ly = y1 + 10;
    if (c->legend_below)
        lx = x0, ly = H;
    fprintf(f, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%d\" fill=\"white\" fill-opacity=\"0.85\" "
               "stroke=\"#999999\"/>\n", lx, ly, lw, 8 + 18 * c->nseries);
    for (int i = 0; i < c->nseries; i++) {
        const svg_series *se = &c->series[i];
        double yy = ly + 16 + 18 * i;
        fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"%s\" stroke-width=\"2\"%s/>\n",
                lx + 8, yy - 4, lx + 36, yy - 4, palette[se->colour], se->dashed ? " stroke-dasharray=\"6 3\"" : "");
        /* a name too long for the legend is squeezed into it */
        char name[1024];
        snprintf(name, sizeof name, "%s%s", se->name, c->has_y2 ? (se->axis ? " (right)" : " (left)") : "");
        svg_text_fitted(f, lx + 42, yy, "start", 12, lw - 50, name);
    }
    if (extra)
        fputs("</g>\n", f);
    fputs("</svg>\n", f);
}

int svg_chart_end(svg_chart *c, const char *path)
{
    if (!c)
        return -1;
    FILE *f = fopen(path, "w");
    if (!f) {
        int e = errno;
        svg_chart_free(c);
        errno = e;
        return -1;
    }
    write_chart(f, c);
    int ok = !ferror(f);
    ok = fclose(f) == 0 && ok;
    svg_chart_free(c);
    return ok ? 0 : -1;
}
