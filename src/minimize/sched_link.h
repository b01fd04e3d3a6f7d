/* The schedule entry points used by the minimize and training code. They
 * are declared in descent.h and implemented by the schedule module; while
 * that module was being written they were referenced weakly. Now every
 * build has them. */
#ifndef DESCENT_SCHED_LINK_H
#define DESCENT_SCHED_LINK_H

#include "descent.h"

#define descent_schedules_linked() 1

#endif
