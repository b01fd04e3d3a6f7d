#!/usr/bin/env python3
"""Draw docs/img/architecture.svg: the layers of descent, the step pipeline
and the checkpoint sections. usage: tools/architecture_svg.py > docs/img/architecture.svg"""

W, H = 880, 640
out = []


def box(x, y, w, h, title, lines=(), fill="#eef3fb", stroke="#3b5b92"):
    out.append(f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="6" fill="{fill}" stroke="{stroke}"/>')
    out.append(f'<text x="{x + w / 2}" y="{y + 18}" text-anchor="middle" font-weight="bold">{title}</text>')
    for i, line in enumerate(lines):
        out.append(f'<text x="{x + w / 2}" y="{y + 36 + 15 * i}" text-anchor="middle" font-size="12">{line}</text>')


def arrow(x1, y1, x2, y2):
    out.append(f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="#444" marker-end="url(#a)"/>')


def label(x, y, text, size=13, anchor="start", weight="normal"):
    out.append(f'<text x="{x}" y="{y}" font-size="{size}" text-anchor="{anchor}" font-weight="{weight}">{text}</text>')


# Layers, top calls down.
label(20, 28, "Layers (each calls only layers below it)", 15, weight="bold")
box(20, 40, 400, 50, "cli/  ·  examples/  ·  bench/", ["the descent command, programs"], "#f6f6f6", "#777")
box(20, 110, 190, 66, "src/models/", ["trainer, networks", "(public + accessors)"])
box(230, 110, 190, 66, "src/minimize/", ["L-BFGS, CMA-ES, ...", "minimizer kinds"])
box(20, 196, 190, 66, "src/schedule/", ["driver + kinds", "attach via hooks table"])
box(230, 196, 190, 66, "src/mpi/", ["descent_mpi", "(own library)"])
box(20, 282, 400, 66, "core: src/*.c", ["optimizer.c (registration) · step.c (pipeline)",
                                        "storage.c · bf16.c · q8state.c · utils.c · checkpoint.c"])
box(20, 368, 400, 50, "src/optim/*.c", ["one file per optimizer: a descent_algo table"])
for x in (115, 325):
    arrow(x, 90, x, 108)
arrow(115, 262, 115, 280)
arrow(325, 262, 325, 280)
arrow(220, 348, 220, 366)
label(20, 440, "optimizer.c never calls src/schedule/: it calls opt->schedule_ops", 12)

# The step pipeline.
label(460, 28, "descent_step (src/step.c)", 15, weight="bold")
stages = [("1 gate", "non-finite check before a write"), ("2 gradient", "caller's, or accumulated mean"),
          ("3 coefficients", "algo->prepare once per tensor"), ("4 update", "storage->run per chunk"),
          ("5 verdict", "REPORT: first non-finite value"), ("6 after the step", "Lookahead, EMA, clear sum")]
y = 40
for i, (t, d) in enumerate(stages):
    box(460, y, 260, 46, t, [d], "#fdf3e6", "#a8671b")
    if i + 1 < len(stages):
        arrow(590, y + 46, 590, y + 56)
    y += 56
box(740, 208, 125, 80, "adapters", ["f32 · f64", "whole-tensor", "bf16 · q8"], "#eaf6ec", "#2f7d3b")
arrow(720, 231, 738, 240)
label(730, 380, "early returns (skipped,", 11)
label(730, 394, "accumulated) still leave", 11)
label(730, 408, "through the one return", 11)

# Checkpoint sections.
label(20, 480, "A checkpoint (checkpoint.c orders the sections)", 15, weight="bold")
secs = [("frame", "magic, version, flags"), ("groups", "hparams by name"), ("tensors", "scalars, state"),
        ("schedule", "its own bytes"), ("utilities", "sum, EMA, SWA"), ("CRC-32", "of all before")]
x = 20
for t, d in secs:
    box(x, 492, 135, 54, t, [d], "#f3eefb", "#6a4a9c")
    x += 142
label(20, 576, "Each module writes and reads its own section; loading checks the whole image before it changes", 12)
label(20, 592, "anything, so a rejected file leaves the optimizer as it was.", 12)

print(f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
      f'font-family="sans-serif" font-size="13">')
print('<defs><marker id="a" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
      'orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#444"/></marker></defs>')
print(f'<rect width="{W}" height="{H}" fill="white"/>')
print("\n".join(out))
print("</svg>")
