/* Placeholder until the schedule module lands: no schedule attached. */
#include "internal.h"

void descent_schedule_free(descent_optimizer *opt);
void descent_schedule_restart(descent_optimizer *opt);
size_t descent_schedule_save(const descent_optimizer *opt, unsigned char *buf, size_t cap);
int descent_schedule_load(descent_optimizer *opt, const unsigned char *buf, size_t len, int apply,
                          descent_error *err);

void descent_schedule_free(descent_optimizer *opt) { (void)opt; }
void descent_schedule_restart(descent_optimizer *opt) { (void)opt; }
size_t descent_schedule_save(const descent_optimizer *opt, unsigned char *buf, size_t cap)
{
    (void)opt; (void)buf; (void)cap;
    return 0;
}
int descent_schedule_load(descent_optimizer *opt, const unsigned char *buf, size_t len, int apply,
                          descent_error *err)
{
    (void)opt; (void)buf; (void)apply;
    if (len != 0)
        return descent_fail(err, DESCENT_ERR_CHECKPOINT, "checkpoint has a schedule, the optimizer has none");
    return 0;
}
