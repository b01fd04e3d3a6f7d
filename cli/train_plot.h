/* descent train --plot: training and validation loss against epoch, as an
 * SVG line chart (svg.h). */
#ifndef DESCENT_CLI_TRAIN_PLOT_H
#define DESCENT_CLI_TRAIN_PLOT_H

#include "descent.h"

typedef struct train_plot train_plot;

/* NULL when out of memory. */
train_plot *train_plot_begin(void);

/* Record one epoch. Returns 0 or -1 (out of memory). */
int train_plot_add(train_plot *p, const descent_epoch_result *r);

/* Write the chart, titled with the model and optimizer specs, to path
 * (nothing when path is NULL or no epoch was recorded) and free p.
 * The y axis is logarithmic when the losses span more than a decade.
 * Returns 0, or -1 with errno set. */
int train_plot_end(train_plot *p, const char *model, const char *optimizer, const char *path);

#endif
