/* Adafactor's 1-D pass 1 on element `at` into lane k, over the locals of
 * af_flat1_body (adafactor_kernel.h), whose lane loop (pass1_lanes.h)
 * includes it in its main loop and in its tail: variance =
 * lerp(variance, G^2, w), and the squares of p and
 * U = G / sqrt(max(variance, eps1^2)) into the lanes. */
{
    T gi = sign * g[at], pi = p[at];
    T vi = KERNEL_FN(lerp)(var[at], gi * gi, w);
    var[at] = vi;
    vi = vi < eps1_sq ? eps1_sq : vi;
    T u = ((T)1 / SQRT(vi)) * gi;
    ps[k] += (double)pi * (double)pi;
    us[k] += (double)u * (double)u;
}
