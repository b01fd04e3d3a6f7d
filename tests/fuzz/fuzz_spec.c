/* libFuzzer target: the spec-string parser, through the public calls that
 * take spec text (optimizer specs and schedule specs). */
#include "descent.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    descent_error err;
    descent_hparams hp;
    descent_hparams_parse(&hp, text, &err);
    descent_optimizer *opt = NULL;
    /* Optimizer specs, Lookahead(optimizer=..., k=, alpha=) included. */
    if (descent_create_from_spec(&opt, text, NULL, &err) == 0)
        descent_destroy(opt);
    opt = NULL;
    if (descent_create_from_spec(&opt, "SGD(lr=0.1, momentum=0.9)", NULL, &err) == 0) {
        descent_add_group_spec(opt, text);
        descent_set_schedule(opt, text);
        for (int i = 0; i < 3; i++)
            descent_schedule_step(opt, 1.0);
        descent_destroy(opt);
    }
    double lr;
    descent_schedule_lr_at(text, 0.1, 7, &lr, &err);
    free(text);
    return 0;
}
