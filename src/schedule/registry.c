/* The list of schedules: adding one means adding its table and a line here. */
#include "schedule.h"

extern const sched_kind sched_kind_steplr, sched_kind_multisteplr, sched_kind_exponentiallr,
    sched_kind_polynomiallr, sched_kind_linearlr, sched_kind_constantlr, sched_kind_cycliclr,
    sched_kind_onecyclelr, sched_kind_cosineannealinglr, sched_kind_cosineannealingwarmrestarts,
    sched_kind_reducelronplateau, sched_kind_sequentiallr, sched_kind_chainedscheduler,
    sched_kind_linearwarmup, sched_kind_exponentialwarmup, sched_kind_untunedlinearwarmup,
    sched_kind_untunedexponentialwarmup, sched_kind_gradualwarmup, sched_kind_constantwithwarmup,
    sched_kind_linearwithwarmup, sched_kind_cosinewithwarmup, sched_kind_cosinewithhardrestartswithwarmup,
    sched_kind_polynomialdecaywithwarmup, sched_kind_inversesqrt, sched_kind_warmupstabledecay,
    sched_kind_lambdalr, sched_kind_multiplicativelr;

const sched_kind *const sched_kinds[] = {
    &sched_kind_steplr,
    &sched_kind_multisteplr,
    &sched_kind_exponentiallr,
    &sched_kind_polynomiallr,
    &sched_kind_cycliclr,
    &sched_kind_onecyclelr,
    &sched_kind_cosineannealinglr,
    &sched_kind_cosineannealingwarmrestarts,
    &sched_kind_reducelronplateau,
    &sched_kind_linearlr,
    &sched_kind_constantlr,
    &sched_kind_sequentiallr,
    &sched_kind_chainedscheduler,
    &sched_kind_linearwarmup,
    &sched_kind_exponentialwarmup,
    &sched_kind_untunedlinearwarmup,
    &sched_kind_untunedexponentialwarmup,
    &sched_kind_gradualwarmup,
    &sched_kind_constantwithwarmup,
    &sched_kind_linearwithwarmup,
    &sched_kind_cosinewithwarmup,
    &sched_kind_cosinewithhardrestartswithwarmup,
    &sched_kind_polynomialdecaywithwarmup,
    &sched_kind_inversesqrt,
    &sched_kind_warmupstabledecay,
};

const int sched_kind_count = (int)(sizeof sched_kinds / sizeof sched_kinds[0]);

/* The kinds whose function is a C callback (lambda.c): found by name like
 * the others, but not listed among the schedules a spec string can name. */
const sched_kind *const sched_callback_kinds[] = {
    &sched_kind_lambdalr,
    &sched_kind_multiplicativelr,
};

const int sched_callback_kind_count = (int)(sizeof sched_callback_kinds / sizeof sched_callback_kinds[0]);
