/* A small deterministic SVG line-chart writer: one or two y axes (the
 * second on the right), linear or log scales, ticks, labels and a legend,
 * colours from the Okabe-Ito palette (safe for colour-blind readers).
 *
 *     svg_chart *c = svg_chart_begin("lr schedule", "step", "lr", 0);
 *     svg_chart_add_series(c, "lr", n, x, y, 0);
 *     svg_chart_set_y2(c, "momentum", 0);
 *     svg_chart_add_series_y2(c, "momentum", n, x, m, 1);
 *     if (svg_chart_end(c, "out.svg") < 0) ...   (writes the file, frees c)
 *
 * The same data always gives the same bytes. Non-finite points (and
 * non-positive ones on a log axis) break the line. */
#ifndef DESCENT_CLI_SVG_H
#define DESCENT_CLI_SVG_H

#include <stddef.h>
#include <stdio.h>

typedef struct svg_chart svg_chart;

/* Number of colours in the palette; colour indices wrap around. */
#define SVG_PALETTE_SIZE 8

/* Start a chart; NULL when out of memory. log_y: logarithmic left axis. */
svg_chart *svg_chart_begin(const char *title, const char *xlabel, const char *ylabel, int log_y);

/* Add a series on the left axis (the data is copied). Returns 0 or -1. */
int svg_chart_add_series(svg_chart *c, const char *name, size_t n, const double *x, const double *y, int colour);

/* Add a dashed series on the left axis (e.g. validation beside training). */
int svg_chart_add_series_dashed(svg_chart *c, const char *name, size_t n, const double *x, const double *y,
                                int colour);

/* Make the left axis cover v as well as the data (once there is data; up
 * to 4 values): 0 for a rate or a loss, or headroom above the largest. */
void svg_chart_include_y(svg_chart *c, double v);

/* Ticks on the x axis at whole numbers only (epochs, steps). */
void svg_chart_integer_x(svg_chart *c);

/* Put the legend under the plot (the canvas grows) instead of over its
 * top right corner: for charts with many or long-named series. */
void svg_chart_legend_below(svg_chart *c);

/* Write s[0..n) as XML/HTML text: <, >, & and " as entities, and ' too
 * when apostrophe is set (HTML attribute values quoted either way). The one
 * escape of the command's SVG and HTML writers. */
void svg_put_escaped(FILE *f, const char *s, size_t n, int apostrophe);

/* The palette colour of index colour (wrapping), as "#RRGGBB". */
const char *svg_palette_colour(int colour);

/* Give the chart a right-hand axis, and add series on it. */
void svg_chart_set_y2(svg_chart *c, const char *label, int log_y);
int svg_chart_add_series_y2(svg_chart *c, const char *name, size_t n, const double *x, const double *y, int colour);

/* Write the chart to path and free it. Returns 0, or -1 if the file cannot
 * be written (errno is set). c may be NULL (returns -1). */
int svg_chart_end(svg_chart *c, const char *path);

/* Free a chart without writing it. */
void svg_chart_free(svg_chart *c);

/* ---- titles that fit -------------------------------------------------------- */

/* A title laid out to fit `width` pixels: wrapped at spaces and after
 * commas into at most SVG_TITLE_LINES lines, at font size 15, else 12,
 * else 10 (estimating 0.6 em a character, wider than sans-serif's
 * average); a line that may still be too wide is squeezed into the width
 * with textLength, so no text ever reaches past the picture's edge. */
#define SVG_TITLE_LINES 4
typedef struct svg_title {
    int font, lines;
    size_t start[SVG_TITLE_LINES], len[SVG_TITLE_LINES];
    double width;
} svg_title;

void svg_title_layout(svg_title *t, const char *text, double width);
/* Height the title takes below its first baseline's line. */
double svg_title_extra(const svg_title *t);
/* Write it centred on cx, the first baseline at y. */
void svg_title_put(FILE *f, const svg_title *t, const char *text, double cx, double y, const char *attrs);
/* Text, squeezed to at most width pixels at font size font when it may
 * be wider (textLength); x, anchor as SVG's. */
void svg_text_fitted(FILE *f, double x, double y, const char *anchor, int font, double width, const char *text);

/* ---- contour maps with paths (svg_contour.c) ----------------------------- */

/* A map of a function of two variables over [xlo, xhi] x [ylo, yhi]:
 * iso-lines of f at log-spaced levels above its minimum on the grid (so
 * narrow valleys show), found by marching squares; optional paths (one
 * palette colour each, named in a legend beside the plot), marked points
 * (minima as stars, starts as rings), axes with ticks and labels.
 *
 *     svg_contour *c = svg_contour_begin("rosenbrock", "x", "y", -2, 2, -1, 3);
 *     svg_contour_set_grid(c, nx, ny, f);     f[j * nx + i] at (x_i, y_j)
 *     svg_contour_add_path(c, "Adam(lr=0.1)", n, xs, ys, 0);
 *     svg_contour_add_marker(c, 1, 1, SVG_MARK_MINIMUM);
 *     if (svg_contour_end(c, "out.svg") < 0) ...   (writes the file, frees c)
 *
 * x_i = xlo + i (xhi - xlo) / (nx - 1), likewise y_j. Paths are drawn
 * clipped to the plot area; a non-finite point breaks a path. The same input
 * always gives the same bytes. */
typedef struct svg_contour svg_contour;

enum { SVG_MARK_MINIMUM = 0, SVG_MARK_START = 1 };

svg_contour *svg_contour_begin(const char *title, const char *xlabel, const char *ylabel, double xlo, double xhi,
                               double ylo, double yhi);
/* The grid (copied); nx, ny >= 2. Returns 0 or -1. */
int svg_contour_set_grid(svg_contour *c, int nx, int ny, const double *f);
int svg_contour_add_path(svg_contour *c, const char *name, size_t n, const double *x, const double *y, int colour);
int svg_contour_add_marker(svg_contour *c, double x, double y, int kind);
/* A line of small print under the title (e.g. the level spacing). */
int svg_contour_set_note(svg_contour *c, const char *note);
int svg_contour_end(svg_contour *c, const char *path);
void svg_contour_free(svg_contour *c);

#endif
