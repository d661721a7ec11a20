"""Sweep benchmark (issue #6): how fast costcalc evaluates many configurations.

Measured on one core (the process is pinned to one CPU, NUMBA_NUM_THREADS=1, torch threads 1):
1. resolution sweeps of resnet50 through the engine's batched entry (``Compiled.run_many``):
   configurations per second for 1,000,000 square resolutions, a 1000 x 1000 grid of H and W,
   the same square inputs shuffled, and one full pass per input (``engine.evaluate_each``, the
   reference); then ``costcalc.sweep.sweep`` end to end (grid, grouping, exponents);
2. structural sweeps, where every point is a new graph: points per second including rebuilds;
3. one network analysed as it grows from 10 to 100,000 layers (synthetic specs generated in
   memory, loaded with ``costcalc.spec.load_text``): time per layer at each size;
4. costcalc's analysis of one network next to PyTorch's ``FlopCounterMode``, which must execute
   the model to count (the oracle's translation in costcalc/oracle/; same network, input
   and run), as a ratio; and whether the two FLOP counts agree.

Results (with machine facts and versions) go to reports/performance.md between the markers
``<!-- sweeps:begin -->`` and ``<!-- sweeps:end -->`` under "## Sweeps (issue #6)"; the rest of
the file is left as it is. Run: ``make bench`` or ``.venv/bin/python bench/bench_sweep.py
[--quick] [--no-report]``.
"""
from __future__ import annotations

import os

os.environ["NUMBA_NUM_THREADS"] = "1"        # before numba is imported: one core

import argparse  # noqa: E402
import gc  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numba  # noqa: E402
import numpy as np  # noqa: E402

from common import cpu_model, publish  # noqa: E402
from costcalc import __version__ as costcalc_version  # noqa: E402
from costcalc import engine, jit  # noqa: E402
from costcalc.analysis import analyze_model, summarize  # noqa: E402
from costcalc.spec import load, load_text  # noqa: E402
from costcalc.sweep import sweep  # noqa: E402

HEADING = "## Sweeps (issue #6)"


def pin_one_core():
    try:
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return f"pinned to CPU {cpu}"
    except (AttributeError, OSError):
        return "not pinned (no sched_setaffinity)"


def best_of(fn, reps):
    """Fastest of reps runs, with Python's garbage collector off while timing (as timeit)."""
    times = []
    for _ in range(reps):
        gc.collect()
        gc.disable()
        try:
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        finally:
            gc.enable()
    return min(times)


# ----------------------------------------------------------------------------- 1. resolution sweeps
def engine_rate(compiled, inputs, fn=None, reps=3):
    """Configurations per second of one batched call over inputs (best of reps):
    ``compiled.run_many(inputs)`` (output arrays allocated by each call), or ``fn`` with the
    same arguments as engine.evaluate_many."""
    n = len(inputs)
    out = {}
    if fn is None:
        compiled.run_many(inputs[:2])                       # compiled code loaded

        def call():
            out["r"] = compiled.run_many(inputs)
    else:
        totals = np.zeros((n, 7), dtype=np.int64)
        status = np.zeros((n, 2), dtype=np.int64)
        args = (compiled.codes, compiled.attrs, compiled.in_ptr, compiled.in_idx)
        fn(*args, inputs[:2], totals[:2], status[:2])

        def call():
            fn(*args, inputs, totals, status)
            out["r"] = (totals, status)
    seconds = best_of(call, reps)
    return (n / seconds, seconds) + tuple(out["r"])


def square(lo, n, c=3):
    r = np.arange(lo, lo + n, dtype=np.int64)
    return np.stack([np.full(n, c, dtype=np.int64), r, r], 1)


def bench_resolution(quick):
    n = 100_000 if quick else 1_000_000
    side = 316 if quick else 1000
    rows = []
    compiled = load("resnet50").build().compile()
    sq = square(32, n)
    rate, sec, tot, st = engine_rate(compiled, sq)
    assert (st[:, 0] == 0).all()
    rows.append((f"resnet50, {n:,} square resolutions 32..{31 + n} (sorted)", n, sec, rate))
    h, w = np.meshgrid(np.arange(32, 32 + side), np.arange(32, 32 + side), indexing="ij")
    grid = np.stack([np.full(h.size, 3), h.ravel(), w.ravel()], 1).astype(np.int64)
    rate, sec, _, _ = engine_rate(compiled, grid)
    rows.append((f"resnet50, {side} x {side} grid of H and W, 32..{31 + side}", len(grid), sec,
                 rate))
    shuffled = np.random.default_rng(6).permutation(sq)
    rate, sec, tot2, _ = engine_rate(compiled, shuffled)
    rows.append((f"resnet50, the same {n:,} square inputs shuffled", n, sec, rate))
    m = 20_000
    rate_ref, sec, tot_ref, _ = engine_rate(compiled, sq[:m], jit.engine().evaluate_each, reps=1)
    assert (tot_ref == tot[:m]).all(), "evaluate_many and evaluate_each disagree"
    rows.append((f"resnet50, reference: one full pass per input (evaluate_each), {m:,} inputs",
                 m, sec, rate_ref))
    for name in ("mobilenet", "inception-v3"):
        c = load(name).build().compile()
        k = n // 10
        rate, sec, _, _ = engine_rate(c, square(75, k))
        rows.append((f"{name} ({len(c)} layers), {k:,} square resolutions 75..{74 + k}", k, sec,
                     rate))
    # end to end through the public function (grid, grouping, one engine call, exponent fit)
    k = n // 10
    sweep("resnet50", resolution=f"32:{31 + 100}:1")                  # warm
    out = {}
    sec = best_of(lambda: out.update(r=sweep("resnet50", resolution=f"32:{31 + k}:1")), 3)
    assert (out["r"].state == 0).all()
    rows.append((f"resnet50, `sweep(resolution='32:{31 + k}:1')` end to end (no rendering)", k,
                 sec, k / sec))
    return rows, len(compiled), recomputed_layers(compiled, 32, 2000)


def recomputed_layers(compiled, lo, n):
    """Average layers a pass evaluates over square resolutions lo..lo+n-1 in order: up to and
    including the first cut whose output shape equals the previous resolution's."""
    _, _, cut = engine.graph_facts(compiled.in_ptr, compiled.in_idx, len(compiled))
    cuts = np.nonzero(cut)[0]
    prev, total = None, 0
    for r in range(lo, lo + n):
        shapes = compiled.run((3, r, r))[2]
        k = len(compiled)
        if prev is not None:
            same = (shapes[cuts] == prev[cuts]).all(axis=1)
            hit = cuts[same & (cuts + 1 < len(compiled))]
            k = int(hit[0]) + 1 if len(hit) else k
        total += k
        prev = shapes.copy()
    return total / n


# ----------------------------------------------------------------------------- 2. structural sweeps
def bench_structural(quick):
    cases = [
        ("resnet-cifar", {"depth": "8:1202:6" if not quick else "8:302:6"}, None),
        ("inception-bottleneck", {"c3r": "1:512:1" if not quick else "1:128:1"}, None),
        ("mobilenet", {"alpha": "0.05:2.0:0.05", "resolution": "128:224:32"}, None),
    ]
    from costcalc.sweep import parse_values
    rows = []
    for name, sets, res in cases:
        params = {k: parse_values(v) for k, v in sets.items()}
        sweep(name, {k: v[:2] for k, v in params.items()})           # warm
        out = {}
        sec = best_of(lambda: out.update(r=sweep(name, params, resolution=res)), 1)
        r = out["r"]
        rows.append((name + ": " + ", ".join(f"{k}={v}" for k, v in sets.items()), len(r),
                     r.builds, r.graphs, sec, len(r) / sec))
    return rows


# ----------------------------------------------------------------------------- 3. depth scaling
def deep_text(units):
    """A residual chain: a stem conv, then units x (conv 3x3, relu, add with the previous)."""
    rows = ["title: synthetic deep chain", "input: [16, 32, 32]", "layers:",
            "  - {name: a0, op: conv2d, filters: 16, kernel: 3, padding: same, bias: false}"]
    for k in range(1, units + 1):
        rows.append(f"  - {{name: c{k}, op: conv2d, filters: 16, kernel: 3, padding: same, "
                    f"bias: false}}")
        rows.append(f"  - {{name: r{k}, op: relu}}")
        rows.append(f"  - {{name: a{k}, op: add, inputs: [r{k}, a{k - 1}]}}")
    return "\n".join(rows) + "\n"


def repeat_text(units):
    return ("title: synthetic deep chain (repeat)\ninput: [16, 32, 32]\nblocks:\n  unit:\n"
            "    layers:\n"
            "      - {name: c, op: conv2d, filters: 16, kernel: 3, padding: same, bias: false}\n"
            "      - {name: r, op: relu}\n"
            "      - {name: a, op: add, inputs: [r, input]}\n"
            "layers:\n"
            "  - {name: a0, op: conv2d, filters: 16, kernel: 3, padding: same, bias: false}\n"
            f"  - {{name: u, block: unit, repeat: {units}}}\n")


def bench_depth(quick):
    sizes = [3, 33, 333, 3333] + ([] if quick else [33333])
    warm = load_text(deep_text(3), "warm.yaml").build()
    analyze_model(warm)                                                # Python path warm
    warm.compile().run(warm.input_shape, compiled=True)                # compiled code loaded
    rows = []
    for units in sizes:
        for kind, make in (("explicit rows", deep_text), ("one repeat row", repeat_text)):
            text = make(units)
            reps = 3 if units < 10000 else 1
            best = None
            for _ in range(reps):
                gc.collect()
                gc.disable()
                try:
                    t0 = time.perf_counter()
                    spec = load_text(text, "deep.yaml")
                    t1 = time.perf_counter()
                    model = spec.build()
                    t2 = time.perf_counter()
                    s = analyze_model(model)
                    t3 = time.perf_counter()
                finally:
                    gc.enable()
                times = (t1 - t0, t2 - t1, t3 - t2, t3 - t0)
                best = times if best is None or times[3] < best[3] else best
            assert s.totals["macs"] == (units + 1) * 32 * 32 * 16 * 9 * 16     # units + 1 convs
            rows.append((kind, s.totals["layers"], *best))
    return rows


# ----------------------------------------------------------------------------- 4. vs PyTorch
def bench_torch(nets, reps):
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    from costcalc import oracle as torch_oracle
    torch.set_num_threads(1)
    rows = []
    for name in nets:
        spec = load(name)
        summarize(spec)                                          # compiled code loaded
        t_cc = statistics.median(best_of(lambda: summarize(name), 1) for _ in range(reps))
        t_cc_loaded = statistics.median(best_of(lambda: summarize(spec), 1) for _ in range(reps))
        s = summarize(spec)
        model = s.model
        graph = torch_oracle.TorchGraph(model, 0, "float32")     # weights: not timed
        x = torch.from_numpy(torch_oracle.model_input(model, 0, 1, "float32"))
        counted = {}

        def count():
            with FlopCounterMode(display=False) as fc:
                graph.forward(x)
            counted["flops"] = fc.get_total_flops()
        count()
        t_torch = statistics.median(best_of(count, 1) for _ in range(reps))
        # FlopCounterMode counts 2 FLOPs per multiply-add of convolutions and matrix products
        conv_dense = sum(r.macs for r in s.layers if r.op in (
            "conv2d", "depthwise_conv2d", "separable_conv2d", "dense"))
        rows.append((name, "x".join(map(str, model.input_shape)), len(s.layers), t_cc,
                     t_cc_loaded, t_torch, counted["flops"], 2 * conv_dense))
    return rows, torch.__version__


# ----------------------------------------------------------------------------- report
def fmt_rate(x):
    return f"{x / 1e6:.2f} M/s" if x >= 1e6 else f"{x:,.0f}/s"


def render(facts, res_rows, res_layers, recomputed, struct_rows, depth_rows, torch_rows,
           torch_version, wall):
    out = [HEADING, "",
           "Written by `bench/bench_sweep.py` (`make bench`). " + "; ".join(
               f"{k}: {v}" for k, v in facts + [("torch", torch_version)]) + ".", "",
           f"### Resolution sweeps, one core (resnet50: {res_layers} layers)", "",
           "| configurations | points | seconds | configurations / s |", "|---|---:|---:|---:|"]
    for label, n, sec, rate in res_rows:
        out.append(f"| {label} | {n:,} | {sec:.3f} | **{fmt_rate(rate)}** |")
    out += ["", "`Compiled.run_many` visits inputs sorted by (C, H, W) and stops each pass at the "
            "first cut (a layer after which only its output is alive) whose shape is the "
            "previous pass's: the rest of the graph is unchanged, and its counts and memory "
            "profile come from suffix sums kept from earlier passes (results identical to one "
            "full pass per input, checked here and in tests/test_sweep.py). A 1-pixel step "
            f"of resnet50's resolution recomputes {recomputed:.1f} of its {res_layers} layers on "
            "average.", "",
            "### Structural sweeps (every point a new graph), one core", "",
            "| sweep | points | builds | graphs | seconds | points / s |",
            "|---|---:|---:|---:|---:|---:|"]
    for label, n, builds, graphs, sec, rate in struct_rows:
        out.append(f"| {label} | {n:,} | {builds:,} | {graphs:,} | {sec:.2f} | "
                   f"**{rate:,.0f}** |")
    out += ["", "Each build expands the spec (Python) and compiles it to arrays; points of one "
            "graph share one batched engine call. A point whose `require:` check fails is a "
            "row with its reason and no build.", "",
            "### One network, 10 to 100,000 layers, one core", "",
            "A residual chain (conv 3x3 + ReLU + add per unit) written out row by row in YAML "
            "(\"explicit rows\"), or as one `repeat:` row; analysis = load_text + build + "
            "`analyze_model` (compile, engine pass, per-layer rows).", "",
            "| spec text | layers | load s | build s | analyse s | total s | µs per layer |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    for kind, layers, t_load, t_build, t_an, total in depth_rows:
        out.append(f"| {kind} | {layers:,} | {t_load:.4f} | {t_build:.4f} | {t_an:.4f} | "
                   f"{total:.4f} | {total / layers * 1e6:.1f} |")
    by_kind: dict = {}
    for kind, layers, *_rest, total in depth_rows:
        by_kind.setdefault(kind, []).append((layers, total))
    notes = []
    for kind, pts in by_kind.items():
        big = [p for p in pts if p[0] >= 1000]
        if len(big) >= 2:
            (l0, t0), (l1, t1) = big[0], big[-1]
            notes.append(f"{kind}: {t1 / l1 * 1e6:.1f} µs per layer at {l1:,} layers vs "
                         f"{t0 / l0 * 1e6:.1f} at {l0:,} ({t1 / l1 / (t0 / l0):.2f}x)")
    out += ["", "Linear growth: the time per layer stays flat from 1,000 layers up (" +
            "; ".join(notes) + "). With explicit rows the YAML loader (pure-Python PyYAML "
            "keeping line numbers) is most of the time.", "",
            "### One network: costcalc's analysis vs PyTorch FlopCounterMode (one core)", "",
            "| network | input | layers | costcalc (load + analyse) ms | costcalc (loaded spec) "
            "ms | PyTorch FlopCounterMode forward ms | ratio | ratio (loaded spec) | FLOPs "
            "agree |", "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for name, shape, layers, t_cc, t_loaded, t_torch, tf, cf in torch_rows:
        agree = "yes" if tf == cf else f"no ({tf:,} vs {cf:,})"
        out.append(f"| {name} | {shape} | {layers} | {t_cc * 1e3:.1f} | {t_loaded * 1e3:.1f} | "
                   f"{t_torch * 1e3:.1f} | **{t_torch / t_cc:.1f}x** | "
                   f"{t_torch / t_loaded:.0f}x | {agree} |")
    out += ["", "Same process, same network and input (batch 1, float32); medians. PyTorch runs "
            "the forward pass of the oracle graph (costcalc/oracle/; its weight set-up is "
            "not timed) under `torch.utils.flop_counter.FlopCounterMode`, which counts 2 FLOPs "
            "per multiply-add of convolutions and matrix products: \"FLOPs agree\" compares that "
            "with 2 x costcalc's conv and dense MACs. Ratio = PyTorch time / costcalc time "
            "(load + analyse: reading the YAML spec is most of it for MobileNet); loaded spec: "
            "`summarize(spec)` of a spec already loaded.", "",
            "All times in this section: Python's garbage collector off while timing (as timeit); "
            "best of several runs for the engine, medians for the PyTorch comparison.", "",
            f"Benchmark wall time: {wall:.0f} s."]
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    ap.add_argument("--no-report", action="store_true", help="print only; leave the report")
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args(argv)
    start = time.perf_counter()
    pinned = pin_one_core()
    facts = [("CPU", f"{cpu_model()} ({os.cpu_count()} logical CPUs; {pinned})"),
             ("OS", f"{platform.system()} {platform.release()}"),
             ("Python", platform.python_version()), ("NumPy", np.__version__),
             ("Numba", numba.__version__), ("costcalc", costcalc_version),
             ("NUMBA_NUM_THREADS", os.environ["NUMBA_NUM_THREADS"])]
    for k, v in facts:
        print(f"{k}: {v}", flush=True)
    res_rows, res_layers, recomputed = bench_resolution(args.quick)
    for row in res_rows:
        print(f"{row[0]}: {fmt_rate(row[3])}", flush=True)
    struct_rows = bench_structural(args.quick)
    for row in struct_rows:
        print(f"{row[0]}: {row[1]} points, {row[2]} builds, {row[5]:,.0f} points/s", flush=True)
    depth_rows = bench_depth(args.quick)
    for row in depth_rows:
        print(f"{row[0]}, {row[1]:,} layers: {row[5]:.3f} s ({row[5] / row[1] * 1e6:.1f} "
              "us/layer)", flush=True)
    torch_rows, torch_version = bench_torch(["resnet50", "mobilenet", "inception-v3"], args.reps)
    for row in torch_rows:
        print(f"{row[0]}: costcalc {row[3] * 1e3:.1f} ms, torch {row[5] * 1e3:.1f} ms, ratio "
              f"{row[5] / row[3]:.1f}x", flush=True)
    section = render(facts, res_rows, res_layers, recomputed, struct_rows, depth_rows,
                     torch_rows, torch_version, time.perf_counter() - start)
    publish("sweeps", section, write=not args.no_report)


if __name__ == "__main__":
    main()
