/* The schedule entry points are declared in descent.h and implemented by
 * the schedule module. Referenced weakly so that the minimize and training
 * code link in a tree where that module has not landed; each caller checks
 * descent_schedules_linked() and reports "schedules are not available". */
#ifndef DESCENT_SCHED_LINK_H
#define DESCENT_SCHED_LINK_H

#include "descent.h"

#if defined(__GNUC__)
#pragma weak descent_set_schedule
#pragma weak descent_schedule_step
#pragma weak descent_schedule_needs_metric
#define descent_schedules_linked() (descent_set_schedule != NULL && descent_schedule_step != NULL)
#else
#define descent_schedules_linked() 1
#endif

#endif
