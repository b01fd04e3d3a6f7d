/* LAMB's pass 1 on element `at` into lane k, over the locals of
 * lamb_pass1_body (lamb_kernel.h), whose lane loop (pass1_lanes.h)
 * includes it in its main loop and in its tail: m and v updated, and the
 * squares of p and u into the lanes. */
{
    T gi = g[at], pi = p[at];
    T mi = omb1 * gi + b1 * m[at];
    T vi = omb2 * (gi * gi) + b2 * v[at];
    m[at] = mi;
    v[at] = vi;
    T u = KERNEL_FN(lamb_u)(mi, vi, pi, bc1, bc2, eps_root, eps, wd);
    ps[k] += (double)pi * (double)pi;
    us[k] += (double)u * (double)u;
}
