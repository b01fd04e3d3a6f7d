/* PyTorch syntax pasted into specs, argument checks, and numerics that must
 * stay finite on finite input (LAMB's trust ratio on a frozen tensor). */
#include "descent.h"
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Parses spec; expects success (want == NULL) or an error containing want. */
static void spec_case(const char *spec, const char *want)
{
    descent_hparams hp;
    descent_error err;
    memset(&err, 0, sizeof err);
    int rc = descent_hparams_parse(&hp, spec, &err);
    if (!want)
        CHECK(rc == 0, "%s: %s", spec, err.message);
    else
        CHECK(rc < 0 && strstr(err.message, want), "%s: rc %d, message '%s', wanted '%s'", spec, rc,
              rc < 0 ? err.message : "", want);
}

static void test_pasted_syntax(void)
{
    /* Arguments that only pick a torch implementation change nothing. */
    spec_case("NAdam(lr=0.01, decoupled_weight_decay=True, foreach=False)", NULL);
    spec_case("Adam(lr=1e-3, weight_decay=0.1, decoupled_weight_decay=True, fused=None)", NULL);
    spec_case("SGD(lr=0.1, foreach=None, capturable=False, differentiable=False, fused=False)", NULL);
    spec_case("AdamW(lr=0.1, foreach=True)", NULL);
    spec_case("SGD(lr=0.1, foreach=1)", "foreach must be None, True or False");
    spec_case("SGD(lr=0.1, foreach=False, foreach=None)", "given twice");
    /* A leading params argument, as torch.optim constructors take it. */
    spec_case("SGD(params, lr=0.1)", "drop it");
    spec_case("Adam(model.parameters(), lr=0.1)", "drop it");
    spec_case("Adam([p], lr=0.1)", "drop it");
    /* One argument by position and by keyword. */
    spec_case("SGD(0.1, lr=0.2)", "given twice");
    spec_case("Adam(0.1, (0.9, 0.99), betas=(0.5, 0.5))", "given twice");
    spec_case("SGD(0.1, momentum=0.9)", NULL);
    /* torch 2.x arguments */
    spec_case("RAdam(decoupled_weight_decay=True, weight_decay=0.1)", NULL);
    spec_case("NAdam(lr=0.01, legacy_mu_product=True)", NULL);
    spec_case("AdamW(decoupled_weight_decay=True)", "no argument 'decoupled_weight_decay'");
}

/* Issue 18: default LAMB on f32 reached -inf after ~865 zero-gradient
 * steps (the trust ratio ||p|| / ||u|| above FLT_MAX). */
static void test_lamb_frozen(void)
{
    for (int f64 = 0; f64 <= 1; f64++) {
        descent_optimizer *opt;
        descent_error err;
        int rc = descent_create_from_spec(&opt, "LAMB()", NULL, &err);
        CHECK(rc == 0, "%s", err.message);
        if (rc < 0)
            return;
        float p32[4] = {1, -2, 0.5f, 3}, g32[4] = {0.1f, -0.2f, 0.3f, 0.4f};
        double p64[4] = {1, -2, 0.5, 3}, g64[4] = {0.1, -0.2, 0.3, 0.4};
        size_t n = 4;
        int g = descent_add_group(opt, NULL);
        CHECK(descent_add_tensor_shaped(opt, g, f64 ? (void *)p64 : (void *)p32, f64 ? (void *)g64 : (void *)g32, 1,
                                        &n, f64 ? DESCENT_F64 : DESCENT_F32) == 0,
              "%s", descent_errmsg(opt));
        descent_step(opt);
        memset(g32, 0, sizeof g32);
        memset(g64, 0, sizeof g64);
        int bad_step = -1;
        for (int s = 0; s < 3000 && bad_step < 0; s++) {
            descent_step(opt);
            for (int j = 0; j < 4; j++)
                if (!isfinite(f64 ? p64[j] : p32[j]))
                    bad_step = s;
        }
        CHECK(bad_step < 0, "LAMB %s: non-finite parameter after %d zero-gradient steps", f64 ? "f64" : "f32",
              bad_step + 1);
        descent_destroy(opt);
    }
}

int main(void)
{
    test_pasted_syntax();
    test_lamb_frozen();
    return t_done();
}
