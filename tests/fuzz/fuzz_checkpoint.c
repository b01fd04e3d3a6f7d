/* libFuzzer target: the checkpoint loader. A rejected image must leave the
 * optimizer exactly as it was; an accepted one must save back identically. */
#include "descent.h"
#include "repair.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static float p1[5], g1[5];
static double p2[3], g2[3];

static void check(const uint8_t *data, size_t size, int utilities);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check(data, size, 0);
    check(data, size, 1);
    uint8_t *fixed = repaired_frame(data, size);
    if (fixed) {
        check(fixed, size, 0);
        check(fixed, size, 1);
        free(fixed);
    }
    return 0;
}

/* utilities = 1: with gradient accumulation, EMA, SWA and Lookahead on,
 * whose buffers make the image's utilities section (seed1). */
static void check(const uint8_t *data, size_t size, int utilities)
{
    descent_optimizer *opt;
    descent_error err;
    if (descent_create_from_spec(&opt, "Adam(lr=0.01, amsgrad=True)", NULL, &err) < 0)
        abort();
    int a = descent_add_group(opt, NULL), b = descent_add_group_spec(opt, "lr=0.5");
    descent_add_tensor(opt, a, p1, g1, 5, DESCENT_F32);
    descent_add_tensor(opt, b, p2, g2, 3, DESCENT_F64);
    if (utilities && (descent_set_accumulation(opt, 2) < 0 || descent_set_ema(opt, 0.9) < 0 ||
                      descent_set_swa(opt, 1) < 0 || descent_set_lookahead(opt, 3, 0.5) < 0))
        abort();
    descent_step(opt);
    size_t before_len, after_len;
    descent_save_mem(opt, NULL, 0, &before_len);
    unsigned char *before = malloc(before_len), *after = malloc(before_len);
    descent_save_mem(opt, before, before_len, &before_len);
    if (descent_load_mem(opt, data, size) < 0) {
        descent_save_mem(opt, after, before_len, &after_len);
        if (after_len != before_len || memcmp(before, after, before_len) != 0)
            abort(); /* a rejected checkpoint changed the optimizer */
    } else {
        /* An accepted image saves back as the canonical image of the
         * state it loaded (every hyperparameter by name, in order: an older
         * image gains the arguments it lacked), which loads and saves back
         * byte for byte. */
        size_t len, len2;
        descent_save_mem(opt, NULL, 0, &len);
        unsigned char *again = malloc(len), *again2 = malloc(len);
        descent_save_mem(opt, again, len, &len);
        if (descent_load_mem(opt, again, len) < 0)
            abort(); /* the canonical image of an accepted state is refused */
        descent_save_mem(opt, again2, len, &len2);
        if (len2 != len || memcmp(again, again2, len) != 0)
            abort(); /* the canonical image does not round-trip */
        free(again);
        free(again2);
    }
    free(before);
    free(after);
    descent_destroy(opt);
}
