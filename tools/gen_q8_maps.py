#!/usr/bin/env python3
"""Write src/q8_maps.h: the 8-bit dynamic quantization maps of quantized
optimizer state (state_bits=8).

The maps follow the dynamic tree quantization of Dettmers et al. 2022,
"8-bit Optimizers via Block-wise Quantization" (ICLR 2022), section 2.2 and
appendix: a code is a sign bit (signed map only), then E zero bits that give
the decimal exponent (the value is scaled by 10^-E), then an indicator bit 1,
then the remaining F bits, a linear fraction in [0.1, 1]. The 2^F fraction
levels are the midpoints of 2^F equal sub-intervals of [0.1, 1]:

    value(E, k) = 10^-E * (0.1 + 0.9 * (k + 0.5) / 2^F),  k = 0 .. 2^F - 1

Signed map (exp_avg): F = 6 - E for E = 0..6, so 64 + 32 + ... + 1 = 127
magnitudes, each with both signs (254 codes), plus 0 and exactly 1.0.
Unsigned map (exp_avg_sq and other non-negative state): the sign bit is one
more fraction bit, F = 7 - E: 128 + 64 + ... + 2 = 254 codes, plus 0 and 1.0.
The value 1.0 is exact so a block's largest element (normalized to 1 by the
block's absmax) is stored exactly. Codes are the indices of the sorted map.

Rounding to the nearest code uses the midpoints between neighbouring codes
(a value on a midpoint goes up). Each midpoint is computed in double from the
two float codes and rounded to float; a 257th entry, NaN, ends the list
(no value compares >= it).

The bucket tables serve the vector quantizers: a normalized value y falls in
bucket (sign of y, top 15 bits of |y| below the sign: the exponent and 7
fraction bits), buckets with |y| < 2^-23 merged into bucket 0 and |y| >= 1
into the last one. No bucket holds more than one midpoint (checked here), so
with j0 = the largest j whose midpoint is <= the bucket's smallest value the
code is j0 + (y >= mid[j0 + 1]): one table read and one comparison instead
of a binary search, the same code. Within a bucket y's bits differ only in
the low 16, so the comparison is one of integers: an entry holds j0 in bits
0-7 and, in bits 8-24, the key of the bucket's midpoint (its low 16 bits,
complemented for negative values so the key ascends with y; 0x10000, above
every key, when the bucket holds none); the code is j0 + (key(y) >= that).
Run:  python3 tools/gen_q8_maps.py
"""
import os
import struct


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def build(signed):
    vals = [0.0, 1.0]
    for e in range(7):
        f = (6 - e) if signed else (7 - e)
        levels = 2 ** f
        for k in range(levels):
            v = 10.0 ** (-e) * (0.1 + 0.9 * (k + 0.5) / levels)
            vals.append(v)
            if signed:
                vals.append(-v)
    assert len(vals) == 256, len(vals)
    vals = sorted(f32(v) for v in vals)
    assert len(set(vals)) == 256
    mids = [float("-inf")] + [f32((vals[j - 1] + vals[j]) / 2.0) for j in range(1, 256)]
    return vals, mids


BUCKET_LOW_EXP = 103  # biased exponent of 2^-24: smaller |y| share bucket 0
BUCKETS = (127 - BUCKET_LOW_EXP) * 128 + 2  # per sign: bucket 0, then up to |y| = 1


def bits_f32(u):
    return struct.unpack("<f", struct.pack("<I", u))[0]


def buckets(mids):
    """j0 of every bucket, positive ones first (index b), then negative."""
    finite = mids[1:256]
    out = []
    for sign in (0, 1):
        for b in range(BUCKETS):
            if b == 0:
                lo_mag, hi_mag = 0, (BUCKET_LOW_EXP << 23) - 1
            else:
                k = b - 1 + (BUCKET_LOW_EXP << 7)
                lo_mag = k << 16
                hi_mag = ((k + 1) << 16) - 1 if b < BUCKETS - 1 else 0x7F800000
            if sign == 0:
                y_min, y_max = bits_f32(lo_mag), bits_f32(hi_mag)
            else:
                y_min, y_max = -bits_f32(hi_mag), -bits_f32(lo_mag)
            j0 = sum(1 for m in mids if m <= y_min) - 1
            inside = [m for m in finite if y_min < m <= y_max]
            assert len(inside) <= 1, (sign, b, inside)
            thr = 0x10000
            if inside:
                assert mids[j0 + 1] == inside[0] and 0 < b < BUCKETS - 1
                low = struct.unpack("<I", struct.pack("<f", inside[0]))[0] & 0xFFFF
                thr = 0xFFFF - low if sign else low
            out.append(j0 | thr << 8)
    return out


def c_hex(xs):
    return "\n".join("    " + ", ".join("0x%x" % x for x in xs[i:i + 10]) + "," for i in range(0, len(xs), 10))


def c_floats(xs):
    out = []
    for i in range(0, len(xs), 6):
        row = []
        for x in xs[i:i + 6]:
            if x == float("-inf"):
                row.append("-INFINITY")
            elif x != x:
                row.append("NAN")
            else:
                t = "%.9g" % x
                row.append(t + (".0f" if "." not in t and "e" not in t else "f"))
        out.append("    " + ", ".join(row) + ",")
    return "\n".join(out)


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    s, sm = build(True)
    u, um = build(False)
    sb, ub = buckets(sm), buckets(um)
    nan = float("nan")
    text = [
        "/* Generated by tools/gen_q8_maps.py; do not edit. The 8-bit dynamic",
        " * quantization maps (Dettmers et al. 2022) and the midpoints between",
        " * neighbouring codes; see the script for the formula. */",
        "#ifndef DESCENT_Q8_MAPS_H",
        "#define DESCENT_Q8_MAPS_H",
        "",
        "#include <math.h>",
        "",
        "static const float descent_q8_signed_map[256] = {",
        c_floats(s),
        "};",
        "static const float descent_q8_signed_mid[257] = {",
        c_floats(sm + [nan]),
        "};",
        "static const float descent_q8_unsigned_map[256] = {",
        c_floats(u),
        "};",
        "static const float descent_q8_unsigned_mid[257] = {",
        c_floats(um + [nan]),
        "};",
        "",
        "/* Buckets of the vector quantizers: exponent and top 7 fraction bits. */",
        "#define DESCENT_Q8_BUCKET_LOW_EXP %d" % BUCKET_LOW_EXP,
        "#define DESCENT_Q8_BUCKETS %d /* per sign */" % BUCKETS,
        "/* Each bucket's j0 | midpoint key << 8, positive y first. */",
        "static const int descent_q8_signed_bucket[%d] = {" % (2 * BUCKETS),
        c_hex(sb),
        "};",
        "static const int descent_q8_unsigned_bucket[%d] = {" % (2 * BUCKETS),
        c_hex(ub),
        "};",
        "",
        "#endif",
        "",
    ]
    with open(os.path.join(root, "src", "q8_maps.h"), "w") as fh:
        fh.write("\n".join(text))


if __name__ == "__main__":
    main()
