#!/usr/bin/env python3
"""Which object files of the library call which (from `nm`), and the cycles
among them: `tools/object_deps.py build/CMakeFiles/descent.dir/src`.

An edge a -> b means a.o has an undefined symbol that b.o defines. Files
directly under src/ must form no cycle, and no cycle may cross a folder
(a folder's plugins calling their own driver, as src/schedule/* does, is
one folder). Prints the edges with --edges; exits 1 when a cycle is found."""
import os
import subprocess
import sys


def objects(root):
    for base, _, files in os.walk(root):
        for f in files:
            if f.endswith(".o"):
                path = os.path.join(base, f)
                yield os.path.relpath(path, root)[: -len(".c.o")], path


def symbols(path):
    out = subprocess.run(["nm", path], capture_output=True, text=True, check=True).stdout
    defined, undefined = set(), set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "U":
            undefined.add(parts[1])
        elif len(parts) == 3 and parts[1] in "TDBR":
            defined.add(parts[2])
    return defined, undefined


def folder(name):
    return os.path.dirname(name)


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    root = args[0] if args else "build/CMakeFiles/descent.dir/src"
    objs = dict(objects(root))
    syms = {name: symbols(path) for name, path in objs.items()}
    owner = {}
    for name, (defined, _) in syms.items():
        for s in defined:
            owner[s] = name
    edges = {name: set() for name in syms}
    for name, (_, undefined) in syms.items():
        for s in undefined:
            if s in owner and owner[s] != name:
                edges[name].add(owner[s])
    if "--edges" in sys.argv:
        for a in sorted(edges):
            for b in sorted(edges[a]):
                print(f"{a} -> {b}")
    # Strongly connected components (Tarjan); a component of more than one
    # file is a cycle. Within one folder below src/ it is allowed.
    index, low, stack, on, comps = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            comps.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    bad = [c for c in comps if len(c) > 1 and (len({folder(x) for x in c}) > 1 or folder(c[0]) == "")]
    for c in bad:
        print("cycle:", " ".join(c))
    if not bad:
        print(f"no cycle among {len(edges)} object files")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
