/* A lane's per-group values (lr, initial_lr, momentum, OneCycleLR's
 * phases), shared by the driver and every schedule kind. */
#include "schedule.h"

/* torch.optim.lr_scheduler.LRScheduler.__init__: on a fresh start,
 * group.setdefault('initial_lr', group['lr']) for every group, once. */
void sched_setdefault_initial(sched_lane *l, int ng)
{
    if (*l->initial_set != 0)
        return;
    for (int g = 0; g < ng; g++)
        l->initial_lr[g] = l->lr[g];
    *l->initial_set = 1;
}

void sched_lane_copy(sched_lane *dst, const sched_lane *src, int ng)
{
    for (int g = 0; g < ng; g++) {
        dst->lr[g] = src->lr[g];
        dst->initial_lr[g] = src->initial_lr[g];
        if (dst->momentum && src->momentum)
            dst->momentum[g] = src->momentum[g];
        for (int k = 0; k < 4; k++)
            dst->onecycle[4 * g + k] = src->onecycle[4 * g + k];
    }
    *dst->initial_set = *src->initial_set;
}
