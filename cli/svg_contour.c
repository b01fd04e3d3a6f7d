/* Contour maps with optimizer paths (see svg.h). Iso-lines come from
 * marching squares on the grid (Lorensen & Cline's cube cases in 2-D):
 * each cell's corners are classified as above or below the level, the
 * level crosses the edges whose corners differ, at the linearly
 * interpolated point, and the two saddle cases are resolved by the value
 * at the cell centre (the mean of the corners). Segments are joined into
 * polylines through the grid edges they share. Numbers are printed with
 * fixed formats, so the same input gives the same bytes. */
#include "svg.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SVG_PI 3.14159265358979323846

typedef struct contour_path {
    char *name;
    size_t n;
    double *x, *y;
    int colour;
} contour_path;

typedef struct contour_marker {
    double x, y;
    int kind;
} contour_marker;

struct svg_contour {
    char *title, *xlabel, *ylabel, *note;
    double xlo, xhi, ylo, yhi;
    int nx, ny;
    double *f;
    contour_path *paths;
    int npaths, cap_paths;
    contour_marker *markers;
    int nmarkers, cap_markers;
};

/* Plot area and margins; the legend goes to the right of the plot. */
enum { PW = 560, PH = 480, LEFT = 76, TOP = 58, BOTTOM = 56, GAP = 24 };

static char *dup_str(const char *s)
{
    size_t n = strlen(s ? s : "");
    char *d = malloc(n + 1);
    if (d)
        memcpy(d, s ? s : "", n + 1);
    return d;
}

svg_contour *svg_contour_begin(const char *title, const char *xlabel, const char *ylabel, double xlo, double xhi,
                               double ylo, double yhi)
{
    if (!(isfinite(xlo) && isfinite(xhi) && isfinite(ylo) && isfinite(yhi) && xlo < xhi && ylo < yhi))
        return NULL;
    svg_contour *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->title = dup_str(title);
    c->xlabel = dup_str(xlabel);
    c->ylabel = dup_str(ylabel);
    c->note = dup_str("");
    c->xlo = xlo, c->xhi = xhi, c->ylo = ylo, c->yhi = yhi;
    if (!c->title || !c->xlabel || !c->ylabel || !c->note) {
        svg_contour_free(c);
        return NULL;
    }
    return c;
}

void svg_contour_free(svg_contour *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->npaths; i++) {
        free(c->paths[i].name);
        free(c->paths[i].x);
        free(c->paths[i].y);
    }
    free(c->paths);
    free(c->markers);
    free(c->f);
    free(c->title);
    free(c->xlabel);
    free(c->ylabel);
    free(c->note);
    free(c);
}

int svg_contour_set_grid(svg_contour *c, int nx, int ny, const double *f)
{
    if (!c || nx < 2 || ny < 2 || !f)
        return -1;
    double *g = malloc(sizeof *g * (size_t)nx * (size_t)ny);
    if (!g)
        return -1;
    memcpy(g, f, sizeof *g * (size_t)nx * (size_t)ny);
    free(c->f);
    c->f = g;
    c->nx = nx;
    c->ny = ny;
    return 0;
}

int svg_contour_set_note(svg_contour *c, const char *note)
{
    char *d = c ? dup_str(note) : NULL;
    if (!d)
        return -1;
    free(c->note);
    c->note = d;
    return 0;
}

int svg_contour_add_path(svg_contour *c, const char *name, size_t n, const double *x, const double *y, int colour)
{
    if (!c || (n && (!x || !y)))
        return -1;
    if (c->npaths == c->cap_paths) {
        int ncap = c->cap_paths ? 2 * c->cap_paths : 4;
        contour_path *p = realloc(c->paths, sizeof *p * (size_t)ncap);
        if (!p)
            return -1;
        c->paths = p;
        c->cap_paths = ncap;
    }
    contour_path *p = &c->paths[c->npaths];
    p->name = dup_str(name);
    p->x = malloc(sizeof(double) * (n ? n : 1));
    p->y = malloc(sizeof(double) * (n ? n : 1));
    if (!p->name || !p->x || !p->y) {
        free(p->name);
        free(p->x);
        free(p->y);
        return -1;
    }
    if (n) {
        memcpy(p->x, x, sizeof(double) * n);
        memcpy(p->y, y, sizeof(double) * n);
    }
    p->n = n;
    p->colour = colour;
    c->npaths++;
    return 0;
}

int svg_contour_add_marker(svg_contour *c, double x, double y, int kind)
{
    if (!c || !isfinite(x) || !isfinite(y))
        return -1;
    if (c->nmarkers == c->cap_markers) {
        int ncap = c->cap_markers ? 2 * c->cap_markers : 4;
        contour_marker *m = realloc(c->markers, sizeof *m * (size_t)ncap);
        if (!m)
            return -1;
        c->markers = m;
        c->cap_markers = ncap;
    }
    c->markers[c->nmarkers++] = (contour_marker){x, y, kind};
    return 0;
}

/* ---- geometry ---------------------------------------------------------------- */

static double px_of(const svg_contour *c, double x) { return LEFT + (x - c->xlo) / (c->xhi - c->xlo) * PW; }
static double py_of(const svg_contour *c, double y) { return TOP + PH - (y - c->ylo) / (c->yhi - c->ylo) * PH; }

/* Far-away points are pulled in to a box around the plot; the clip path
 * hides them, and the direction of the segment that leaves the plot barely
 * changes. */
static double clamp_px(double v) { return v < -20000 ? -20000 : v > 20000 ? 20000 : v; }

static void put_text(FILE *f, const char *s) { svg_put_escaped(f, s, strlen(s), 0); }

/* Tick positions: multiples of a 1-2-5 step inside [lo, hi]. */
static int ticks(double lo, double hi, double *out, int max)
{
    double raw = (hi - lo) / 6, mag = pow(10, floor(log10(raw))), fr = raw / mag;
    double step = (fr < 1.5 ? 1 : fr < 3 ? 2 : fr < 7 ? 5 : 10) * mag;
    int n = 0;
    for (double k = ceil(lo / step - 1e-9); n < max; k++) {
        double v = k * step;
        if (v > hi + step * 1e-9)
            break;
        out[n++] = fabs(v) < step * 1e-9 ? 0 : v;
    }
    return n;
}

/* ---- marching squares ---------------------------------------------------------- */

typedef struct iso_ctx {
    const svg_contour *c;
    double level;
    int *seg;       /* 2 edge ids per segment */
    int nseg, cap;
    int *edge_seg;  /* 2 segment ids per edge, -1 when absent */
    int nedges;
} iso_ctx;

/* Edges: horizontal (i, j)-(i+1, j) first, then vertical (i, j)-(i, j+1). */
static int h_edge(const svg_contour *c, int i, int j) { return j * (c->nx - 1) + i; }
static int v_edge(const svg_contour *c, int i, int j) { return (c->nx - 1) * c->ny + j * c->nx + i; }

static void edge_point(const iso_ctx *k, int e, double *px, double *py)
{
    const svg_contour *c = k->c;
    int horizontal = e < (c->nx - 1) * c->ny;
    int i0, j0, i1, j1;
    if (horizontal) {
        j0 = j1 = e / (c->nx - 1);
        i0 = e % (c->nx - 1);
        i1 = i0 + 1;
    } else {
        e -= (c->nx - 1) * c->ny;
        j0 = e / c->nx;
        i0 = i1 = e % c->nx;
        j1 = j0 + 1;
    }
    double v0 = c->f[j0 * c->nx + i0], v1 = c->f[j1 * c->nx + i1];
    double t = v1 != v0 ? (k->level - v0) / (v1 - v0) : 0.5;
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    double gi = i0 + t * (i1 - i0), gj = j0 + t * (j1 - j0);
    *px = LEFT + gi / (c->nx - 1) * PW;
    *py = TOP + PH - gj / (c->ny - 1) * PH;
}

static int add_segment(iso_ctx *k, int e0, int e1)
{
    if (k->nseg == k->cap) {
        int ncap = k->cap ? 2 * k->cap : 256;
        int *s = realloc(k->seg, sizeof *s * 2 * (size_t)ncap);
        if (!s)
            return -1;
        k->seg = s;
        k->cap = ncap;
    }
    int id = k->nseg++;
    k->seg[2 * id] = e0;
    k->seg[2 * id + 1] = e1;
    int ends[2] = {e0, e1};
    for (int a = 0; a < 2; a++) {
        int *slot = &k->edge_seg[2 * ends[a]];
        if (slot[0] < 0)
            slot[0] = id;
        else if (slot[1] < 0)
            slot[1] = id;
    }
    return 0;
}

/* The segments of one level in every cell. */
static int march(iso_ctx *k)
{
    const svg_contour *c = k->c;
    const double L = k->level;
    for (int j = 0; j + 1 < c->ny; j++)
        for (int i = 0; i + 1 < c->nx; i++) {
            double a = c->f[j * c->nx + i], b = c->f[j * c->nx + i + 1];
            double cc = c->f[(j + 1) * c->nx + i + 1], d = c->f[(j + 1) * c->nx + i];
            if (!(isfinite(a) && isfinite(b) && isfinite(cc) && isfinite(d)))
                continue;
            int sa = a >= L, sb = b >= L, sc = cc >= L, sd = d >= L;
            int edges[4] = {h_edge(c, i, j), v_edge(c, i + 1, j), h_edge(c, i, j + 1), v_edge(c, i, j)};
            int cross[4] = {sa != sb, sb != sc, sd != sc, sa != sd};
            int ids[4], n = 0;
            for (int e = 0; e < 4; e++)
                if (cross[e])
                    ids[n++] = e;
            int rc = 0;
            if (n == 2) {
                rc = add_segment(k, edges[ids[0]], edges[ids[1]]);
            } else if (n == 4) {
                /* saddle: corners a and c agree, b and d agree */
                int centre = (a + b + cc + d) / 4 >= L;
                if (centre == sa)
                    rc = add_segment(k, edges[0], edges[1]) | add_segment(k, edges[2], edges[3]);
                else
                    rc = add_segment(k, edges[3], edges[0]) | add_segment(k, edges[1], edges[2]);
            }
            if (rc)
                return -1;
        }
    return 0;
}

static int other_seg(const iso_ctx *k, int e, int s)
{
    const int *slot = &k->edge_seg[2 * e];
    return slot[0] == s ? slot[1] : slot[0];
}

static int other_end(const iso_ctx *k, int s, int e) { return k->seg[2 * s] == e ? k->seg[2 * s + 1] : k->seg[2 * s]; }

/* Join segments into polylines and write them as one path element. */
static int write_level(FILE *f, iso_ctx *k, const char *stroke)
{
    if (march(k) < 0)
        return -1;
    if (!k->nseg)
        return 0;
    char *seen = calloc((size_t)k->nseg, 1);
    if (!seen)
        return -1;
    fprintf(f, "<path fill=\"none\" stroke=\"%s\" stroke-width=\"0.9\" d=\"", stroke);
    for (int s0 = 0; s0 < k->nseg; s0++) {
        if (seen[s0])
            continue;
        /* walk back to an open end (or once round a loop) */
        int cur = s0, e = k->seg[2 * s0];
        for (;;) {
            int prev = other_seg(k, e, cur);
            if (prev < 0 || prev == s0 || seen[prev])
                break;
            e = other_end(k, prev, e);
            cur = prev;
        }
        double x, y;
        edge_point(k, e, &x, &y);
        fprintf(f, "M%.1f %.1f", x, y);
        for (;;) {
            seen[cur] = 1;
            e = other_end(k, cur, e);
            edge_point(k, e, &x, &y);
            fprintf(f, "L%.1f %.1f", x, y);
            int next = other_seg(k, e, cur);
            if (next < 0 || seen[next])
                break;
            cur = next;
        }
    }
    fputs("\"/>\n", f);
    free(seen);
    return 0;
}

/* Levels f_min + {1, 2, 5} x 10^e over the grid's range of f, from three
 * decades below the range, so the flat floor of a valley gets lines as well
 * as its steep walls; in the top decade every 1..9 x 10^e, so that an
 * objective whose range is small (Ackley, Rastrigin) shows its bumps. */
static int write_isolines(FILE *f, const svg_contour *c)
{
    if (!c->f)
        return 0;
    double lo = INFINITY, hi = -INFINITY;
    size_t cells = (size_t)c->nx * (size_t)c->ny;
    for (size_t i = 0; i < cells; i++)
        if (isfinite(c->f[i])) {
            lo = c->f[i] < lo ? c->f[i] : lo;
            hi = c->f[i] > hi ? c->f[i] : hi;
        }
    if (!(hi > lo))
        return 0;
    double range = hi - lo, levels[64];
    int nlev = 0, top = (int)floor(log10(range));
    static const double coarse[] = {1, 2, 5}, fine[] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    for (int e = top - 3; e <= top && nlev < 64; e++) {
        int nm = e == top ? 9 : 3;
        for (int m = 0; m < nm; m++) {
            double d = (e == top ? fine : coarse)[m] * pow(10, e);
            if (d < range && nlev < 64)
                levels[nlev++] = lo + d;
        }
    }
    iso_ctx k = {c, 0, NULL, 0, 0, NULL, 0};
    k.nedges = (c->nx - 1) * c->ny + c->nx * (c->ny - 1);
    k.edge_seg = malloc(sizeof *k.edge_seg * 2 * (size_t)k.nedges);
    if (!k.edge_seg)
        return -1;
    int rc = 0;
    fputs("<g clip-path=\"url(#plot-area)\">\n", f);
    for (int l = 0; l < nlev && rc == 0; l++) {
        /* low levels dark, high levels light */
        int grey = nlev > 1 ? 96 + (200 - 96) * l / (nlev - 1) : 128;
        char stroke[32];
        snprintf(stroke, sizeof stroke, "#%02x%02x%02x", grey, grey, grey);
        k.level = levels[l];
        k.nseg = 0;
        for (int e = 0; e < 2 * k.nedges; e++)
            k.edge_seg[e] = -1;
        rc = write_level(f, &k, stroke);
    }
    fputs("</g>\n", f);
    free(k.seg);
    free(k.edge_seg);
    return rc;
}

/* ---- output ------------------------------------------------------------------ */

static void write_star(FILE *f, double cx, double cy, double r)
{
    fputs("<polygon fill=\"black\" stroke=\"white\" stroke-width=\"1.2\" points=\"", f);
    for (int k = 0; k < 10; k++) {
        double a = -SVG_PI / 2 + k * SVG_PI / 5, rr = k % 2 ? r * 0.45 : r;
        fprintf(f, "%s%.2f,%.2f", k ? " " : "", cx + rr * cos(a), cy + rr * sin(a));
    }
    fputs("\"/>\n", f);
}

static void write_ring(FILE *f, double cx, double cy)
{
    fprintf(f, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"6\" fill=\"white\" stroke=\"black\" stroke-width=\"2\"/>\n", cx,
            cy);
}

static int write_map(FILE *f, const svg_contour *c)
{
    size_t longest = 14; /* "global minimum" */
    for (int i = 0; i < c->npaths; i++) {
        size_t len = strlen(c->paths[i].name);
        longest = len > longest ? len : longest;
    }
    int lw = 60 + 15 * (int)longest / 2, lx = LEFT + PW + GAP;
    int W = lx + lw + 16, H = TOP + PH + BOTTOM;
    const double x0 = LEFT, x1 = LEFT + PW, y0 = TOP + PH, y1 = TOP;
    /* The title centred over the plot, as wide as fits both ways; a long
     * one wraps and the canvas grows by its extra lines. */
    double cx = (x0 + x1) / 2, half = cx < W - cx ? cx : W - cx;
    svg_title tl;
    svg_title_layout(&tl, c->title, 2 * half - 24);
    int extra = (int)ceil(svg_title_extra(&tl));
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
               "font-family=\"sans-serif\" font-size=\"12\">\n", W, H + extra, W, H + extra);
    fprintf(f, "<defs><clipPath id=\"plot-area\"><rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\"/></clipPath>"
               "</defs>\n", LEFT, TOP, PW, PH);
    fprintf(f, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n", W, H + extra);
    svg_title_put(f, &tl, c->title, cx, 24, NULL);
    if (extra)
        fprintf(f, "<g transform=\"translate(0,%d)\">\n", extra);
    fprintf(f, "<text x=\"%.1f\" y=\"42\" text-anchor=\"middle\" fill=\"#555555\" font-size=\"11\">", (x0 + x1) / 2);
    put_text(f, c->note);
    fputs("</text>\n", f);
    if (write_isolines(f, c) < 0)
        return -1;
    /* ticks and labels */
    double t[32];
    char lab[64];
    int nt = ticks(c->xlo, c->xhi, t, 32);
    for (int k = 0; k < nt; k++) {
        double px = px_of(c, t[k]);
        fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"black\"/>\n", px, y0, px, y0 + 5);
        snprintf(lab, sizeof lab, "%.4g", t[k]);
        fprintf(f, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\">%s</text>\n", px, y0 + 18, lab);
    }
    nt = ticks(c->ylo, c->yhi, t, 32);
    for (int k = 0; k < nt; k++) {
        double py = py_of(c, t[k]);
        fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"black\"/>\n", x0 - 5, py, x0, py);
        snprintf(lab, sizeof lab, "%.4g", t[k]);
        fprintf(f, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"end\">%s</text>\n", x0 - 8, py + 4, lab);
    }
    fprintf(f, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"black\"/>\n", x0, y1,
            PW, PH);
    fprintf(f, "<text x=\"%.2f\" y=\"%d\" text-anchor=\"middle\">", (x0 + x1) / 2, H - 14);
    put_text(f, c->xlabel);
    fputs("</text>\n", f);
    fprintf(f, "<text transform=\"translate(20 %.2f) rotate(-90)\" text-anchor=\"middle\">", (y0 + y1) / 2);
    put_text(f, c->ylabel);
    fputs("</text>\n", f);
    /* paths, each ending in a dot of its colour */
    fputs("<g clip-path=\"url(#plot-area)\">\n", f);
    for (int i = 0; i < c->npaths; i++) {
        const contour_path *p = &c->paths[i];
        const char *col = svg_palette_colour(p->colour);
        int open = 0;
        double lastx = NAN, lasty = NAN;
        for (size_t k = 0; k < p->n; k++) {
            if (!isfinite(p->x[k]) || !isfinite(p->y[k])) {
                if (open)
                    fputs("\"/>\n", f);
                open = 0;
                continue;
            }
            if (!open)
                fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2.2\" stroke-linejoin=\"round\" "
                           "points=\"", col);
            lastx = clamp_px(px_of(c, p->x[k]));
            lasty = clamp_px(py_of(c, p->y[k]));
            fprintf(f, "%s%.2f,%.2f", open ? " " : "", lastx, lasty);
            open = 1;
        }
        if (open)
            fputs("\"/>\n", f);
        if (isfinite(lastx))
            fprintf(f, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"4\" fill=\"%s\" stroke=\"white\" stroke-width=\"1\"/>\n",
                    lastx, lasty, col);
    }
    fputs("</g>\n", f);
    for (int i = 0; i < c->nmarkers; i++) {
        const contour_marker *m = &c->markers[i];
        double px = px_of(c, m->x), py = py_of(c, m->y);
        if (px < x0 - 1 || px > x1 + 1 || py < y1 - 1 || py > y0 + 1)
            continue;
        if (m->kind == SVG_MARK_MINIMUM)
            write_star(f, px, py, 9);
        else
            write_ring(f, px, py);
    }
    /* legend beside the plot */
    int rows = c->npaths + 2;
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"white\" stroke=\"#999999\"/>\n", lx, TOP, lw,
            10 + 20 * rows);
    for (int i = 0; i < c->npaths; i++) {
        double yy = TOP + 20 + 20 * i;
        fprintf(f, "<line x1=\"%d\" y1=\"%.2f\" x2=\"%d\" y2=\"%.2f\" stroke=\"%s\" stroke-width=\"3\"/>\n", lx + 8,
                yy - 4, lx + 36, yy - 4, svg_palette_colour(c->paths[i].colour));
        fprintf(f, "<text x=\"%d\" y=\"%.2f\">", lx + 44, yy);
        put_text(f, c->paths[i].name);
        fputs("</text>\n", f);
    }
    double yy = TOP + 20 + 20 * c->npaths;
    write_ring(f, lx + 22, yy - 4);
    fprintf(f, "<text x=\"%d\" y=\"%.2f\">start</text>\n", lx + 44, yy);
    write_star(f, lx + 22, yy + 16, 9);
    fprintf(f, "<text x=\"%d\" y=\"%.2f\">global minimum</text>\n", lx + 44, yy + 20);
    if (extra)
        fputs("</g>\n", f);
    fputs("</svg>\n", f);
    return 0;
}

int svg_contour_end(svg_contour *c, const char *path)
{
    if (!c)
        return -1;
    FILE *f = fopen(path, "w");
    if (!f) {
        int e = errno;
        svg_contour_free(c);
        errno = e;
        return -1;
    }
    int ok = write_map(f, c) == 0;
    if (!ok)
        errno = ENOMEM;
    ok = !ferror(f) && ok;
    ok = fclose(f) == 0 && ok;
    svg_contour_free(c);
    return ok ? 0 : -1;
}
