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

typedef struct svg_chart svg_chart;

/* Number of colours in the palette; colour indices wrap around. */
#define SVG_PALETTE_SIZE 8

/* Start a chart; NULL when out of memory. log_y: logarithmic left axis. */
svg_chart *svg_chart_begin(const char *title, const char *xlabel, const char *ylabel, int log_y);

/* Add a series on the left axis (the data is copied). Returns 0 or -1. */
int svg_chart_add_series(svg_chart *c, const char *name, size_t n, const double *x, const double *y, int colour);

/* Give the chart a right-hand axis, and add series on it. */
void svg_chart_set_y2(svg_chart *c, const char *label, int log_y);
int svg_chart_add_series_y2(svg_chart *c, const char *name, size_t n, const double *x, const double *y, int colour);

/* Write the chart to path and free it. Returns 0, or -1 if the file cannot
 * be written (errno is set). c may be NULL (returns -1). */
int svg_chart_end(svg_chart *c, const char *path);

/* Free a chart without writing it. */
void svg_chart_free(svg_chart *c);

#endif
