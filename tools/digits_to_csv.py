#!/usr/bin/env python3
"""Convert scikit-learn's copy of the UCI handwritten digits to data/digits.csv.

Usage: python3 tools/digits_to_csv.py [SOURCE.csv.gz] [OUT.csv]

SOURCE defaults to Debian's python3-sklearn file
/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz, which
holds 1797 rows of 64 pixel counts (0..16) followed by the label, without a
header. The output adds the header p0..p63,label and keeps every value as
the integer it is. Only the standard library is used.
"""
import gzip
import sys

SOURCE = "/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz"


def main(argv):
    src = argv[1] if len(argv) > 1 else SOURCE
    out = argv[2] if len(argv) > 2 else "data/digits.csv"
    rows = 0
    with gzip.open(src, "rt") as fin, open(out, "w", newline="\n") as fout:
        fout.write(",".join(["p%d" % i for i in range(64)] + ["label"]) + "\n")
        for line in fin:
            line = line.strip()
            if not line:
                continue
            values = [int(float(v)) for v in line.split(",")]
            if len(values) != 65:
                sys.exit("%s:%d: expected 65 values, got %d" % (src, rows + 1, len(values)))
            fout.write(",".join(str(v) for v in values) + "\n")
            rows += 1
    print("wrote %s: %d rows" % (out, rows))


if __name__ == "__main__":
    main(sys.argv)
