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
The byte-plane tables serve the AVX-512 VBMI paths, which look up 64
bytes per instruction (vpermi2b, 128-byte tables) instead of gathering:

- Dequantization: the map's floats split into 4 planes of 256 bytes (byte k
  of every code's float), interleaved back into floats after the lookup.
- Quantization of a magnitude a = |y| (the sign is handled after): a's
  binade (biased exponent, every exponent below 102 merged, 127 and above
  merged) is cut into 2^k equal sub-buckets, k the fewest fraction bits that
  leave at most one midpoint per sub-bucket; the sub-buckets of all binades
  are numbered 0..219 (signed map) or 0..441 (unsigned: twice the levels).
  A 64-entry word table indexed by the exponent (mod 64) holds the shift
  s = 7 - k (15 for the merged binades) in bits 12-15 and, in bits 0-8, the
  base that makes (top 15 bits of a >> s) + base the sub-bucket's number
  mod 512. Per
  sub-bucket, byte planes hold j0 = the number of midpoints mid[1..255]
  below the sub-bucket and thr16, 16 bits of the midpoint inside it: its
  23 fraction bits shifted right by s (the bits above are the sub-bucket's,
  shared by every value in it), or 0xFFFF when it holds none. With key16
  the same 16 bits of a:
      y >= 0: code = j0 + (key16 > thr16)
      y <  0: code = max(254 - (j0 + (key16 > thr16)), 0)
  where key16 != thr16; a tie says nothing about the s bits below, and the
  binary search codes that group of 64 values instead (rare in real data:
  a value within 2^s units of the last place of a midpoint, or at the very
  top of an empty sub-bucket). The rule is the midpoints <= a for y >= 0 (a tie of the full
  keys goes up), and for y < 0 the midpoints <= -a, counted  the second by the symmetry of the signed map (mid[j] = -mid[255 - j] for
  j = 1..254, checked here): the midpoints <= -a are those whose mirror is
  >= a, 254 minus the count of those < a. The unsigned map has no negative
  values: every y < 0 (and -0) has code 0. Both are checked here against
  the binary search on every midpoint, its float neighbours and every
  sub-bucket edge.
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


L1_MIN_EXP = 101  # exponents <= this share the lowest entry (no midpoint there)


def f32_bits(x):
    return struct.unpack("<I", struct.pack("<f", x))[0]


def vbmi_tables(mids, signed):
    """The word table (64 entries) and the 3 byte planes (j0, thr16 bytes 0-1)."""
    finite = mids[1:256]
    if signed:
        for j in range(1, 255):
            assert mids[j] == -mids[255 - j], j
    pos = [m for m in finite if m > 0]
    l1 = [0] * 64
    j0s, thrs = [], []
    for e in range(L1_MIN_EXP, 128):
        inside = [m for m in pos if (f32_bits(m) >> 23) == e] if e > L1_MIN_EXP else []
        if e == L1_MIN_EXP:
            assert not [m for m in pos if (f32_bits(m) >> 23) <= e]
        if e == 127:
            assert not inside
        k = 0
        while len({(f32_bits(m) & 0x7FFFFF) >> (23 - k) for m in inside}) < len(inside):
            k += 1
        assert k <= 7
        off = len(j0s)
        if e in (L1_MIN_EXP, 127):
            s, base = 15, off
        else:
            s, base = 7 - k, (off - (e << k)) % 512
        l1[e % 64] = base | s << 12
        for sub in range(1 << k):
            lo = 0 if e == L1_MIN_EXP else (e << 23) | (sub << (23 - k))
            hi = (lo | ((1 << (23 - k)) - 1)) if L1_MIN_EXP < e < 127 else (L1_MIN_EXP << 23) - 1 if e == L1_MIN_EXP else 0x7F800000
            y_lo, y_hi = bits_f32(lo), bits_f32(hi)
            j0s.append(sum(1 for m in finite if m < y_lo))
            ins = [m for m in finite if y_lo <= m <= y_hi]
            assert len(ins) <= 1
            thrs.append((f32_bits(ins[0]) & 0x7FFFFF) >> s & 0xFFFF if ins else 0xFFFF)
    size = 256 if signed else 512
    assert len(j0s) <= size, len(j0s)
    j0s += [0] * (size - len(j0s))
    thrs += [0xFFFF] * (size - len(thrs))
    planes = [j0s] + [[(t >> (8 * b)) & 0xFF for t in thrs] for b in range(2)]
    return l1, planes


def vbmi_code(l1, planes, mids, signed, y):
    """The code the VBMI quantizer computes for the float y, in integers;
    None where its 16-bit keys tie and the binary search decides."""
    ub = f32_bits(y)
    neg, a = ub >> 31, ub & 0x7FFFFFFF
    m = a >> 16
    ent = l1[max(m >> 7, L1_MIN_EXP) % 64]
    s = ent >> 12
    idx = ((m >> s) + ent) & 0x1FF
    thr = planes[1][idx] | planes[2][idx] << 8
    key = ((m << (16 - s)) | ((a & 0xFFFF) >> s)) & 0xFFFF
    if key == thr:
        return None
    c = (planes[0][idx] + (key > thr)) & 0xFF
    if neg:
        return max(254 - c, 0) if signed else 0
    return c


def search_code(mids, y):
    j = 0
    step = 128
    while step:
        j += step if y >= mids[j + step] else 0
        step >>= 1
    return j


def check_vbmi(l1, planes, mids, signed):
    vals = [0.0, -0.0, 1.0, -1.0, bits_f32(0x3F800001), bits_f32(0xBF800001), bits_f32(1), bits_f32(0x80000001)]
    for m in mids[1:256]:
        u = f32_bits(m)
        for d in range(-3, 4):
            vals.append(bits_f32((u + d) & 0xFFFFFFFF))
    for e in range(90, 128):
        for f in range(0, 128):
            u = (e << 23) | (f << 16)
            vals += [bits_f32(u), bits_f32(u - 1), bits_f32(u | 0xFFFF)]
    for v in list(vals):
        vals.append(-v)
    mids_ext = mids + [float("nan")]
    ties = 0
    for y in vals:
        if y != y or abs(y) > 1.5:
            continue
        want = search_code(mids_ext, y)
        got = vbmi_code(l1, planes, mids, signed, y)
        assert got == want or got is None, (signed, y, got, want)
        ties += got is None
    assert 0 < ties < len(vals) // 2, ties  # the checks reach both rules


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
    sl1, sp = vbmi_tables(sm, True)
    ul1, up = vbmi_tables(um, False)
    check_vbmi(sl1, sp, sm, True)
    check_vbmi(ul1, up, um, False)

    def planes_c(name, planes):
        return ["static const unsigned char %s[%d][%d] = {" % (name, len(planes), len(planes[0]))] + \
            ["    {\n%s\n    }," % c_hex(p) for p in planes] + ["};"]

    def map_planes(vals):
        words = [f32_bits(v) for v in vals]
        return [[(w >> (8 * b)) & 0xFF for w in words] for b in range(4)]
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
        "/* The VBMI paths' tables (see the script): each map's floats as 4 byte",
        " * planes; the quantizers' exponent table and sub-bucket planes (j0,",
        " * then the midpoint's fraction bits 0-7, 8-15, 16-23). */",
        "#define DESCENT_Q8_L1_MIN_EXP %d" % L1_MIN_EXP,
    ] + planes_c("descent_q8_signed_map_planes", map_planes(s)) + \
        planes_c("descent_q8_unsigned_map_planes", map_planes(u)) + [
        "static const unsigned short descent_q8_signed_l1[64] = {",
        c_hex(sl1),
        "};",
        "static const unsigned short descent_q8_unsigned_l1[64] = {",
        c_hex(ul1),
        "};",
    ] + planes_c("descent_q8_signed_sub", sp) + planes_c("descent_q8_unsigned_sub", up) + [
        "",
        "#endif",
        "",
    ]
    with open(os.path.join(root, "src", "q8_maps.h"), "w") as fh:
        fh.write("\n".join(text))


if __name__ == "__main__":
    main()
