"""Forward-pass benchmark: costcalc (``execute.run``) against PyTorch's CPU forward of the same
graph, weights and input (the oracle translation in costcalc/oracle/), in one process.

For each network and batch size: warm-up runs of both, then ``--reps`` timed runs of each,
interleaved (costcalc, pause, torch, pause, ...), median reported. Both run in float32 with the
weights generated before timing (``execute.model_weights``; ``execute.run(weights=...)``), so
the times are forward passes only (costcalc's include its executor's per-layer bookkeeping).
The pause between the two lets the BLAS/OpenMP worker threads of one library go idle before
the other starts (both spin for a while after their last call and would steal a core).

Also measured: the machine's sgemm peak (a large NumPy float32 matrix product; PyTorch's too),
costcalc's achieved GFLOP/s (2 x MACs / time) and its share of that peak, where costcalc's
time goes by op (the first network, each batch), and the depthwise kernel on its own
(``kernels.depthwise`` against ``F.conv2d(groups=C)``) at MobileNet's and Xception's shapes.
Results go to reports/performance.md, section "## Forward passes (issue #4)", keeping any
other section of that file.

Run: ``make bench`` (installs torch==2.13.0 into .venv first), or
``.venv/bin/python bench/bench_forward.py [--nets resnet50,vgg16] [--batches 1,8] [--reps 7]``.
The environment's OPENBLAS_CORETYPE (if set) is left alone; ``--autodetect-blas`` adds an
informational side run in a subprocess without it (OpenBLAS then picks its kernel itself).
"""
from __future__ import annotations

import argparse
import collections
import ctypes
import glob
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numba
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from costcalc import oracle as torch_oracle  # noqa: E402
from common import cpu_model, publish  # noqa: E402
from costcalc import __version__ as costcalc_version  # noqa: E402
from costcalc import execute, kernels  # noqa: E402
from costcalc.analysis import analyze_model  # noqa: E402
from costcalc.ops.conv import padded_input  # noqa: E402
from costcalc.spec import load  # noqa: E402

NETS = ["resnet50", "mobilenet", "vgg16", "inception-v3", "xception"]
DEPTHWISE_NETS = ["mobilenet", "xception"]     # their depthwise shapes: the kernel table
BATCHES = [1, 8]
SECTION = "## Forward passes (issue #4)"
PAUSE = 0.25          # seconds between switching libraries (see the module docstring)


# ----------------------------------------------------------------------------- machine facts
def cpu_flags():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                return " ".join(f for f in ("avx2", "fma", "avx512f", "avx512_bf16", "amx_tile")
                                if f in flags)
    except OSError:
        pass
    return "?"


def blas_info():
    """NumPy's BLAS: from threadpoolctl if installed, else from the bundled OpenBLAS itself."""
    try:
        from threadpoolctl import threadpool_info
        for info in threadpool_info():
            if info.get("user_api") == "blas":
                return (f"{info.get('internal_api')} {info.get('version')}, kernel "
                        f"{info.get('architecture')}, {info.get('num_threads')} threads "
                        "(threadpoolctl)")
    except ImportError:
        pass
    libdir = Path(np.__file__).resolve().parent.parent / "numpy.libs"
    for path in sorted(glob.glob(str(libdir / "*openblas*"))):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        parts = []
        for suffix in ("64_", "", "_"):
            for stem in ("scipy_openblas_get_config", "openblas_get_config"):
                fn = getattr(lib, stem + suffix, None)
                if fn is not None and not parts:
                    fn.restype = ctypes.c_char_p
                    parts.append(fn().decode())
            for stem in ("scipy_openblas_get_corename", "openblas_get_corename"):
                fn = getattr(lib, stem + suffix, None)
                if fn is not None and len(parts) == 1:
                    fn.restype = ctypes.c_char_p
                    parts.append("kernel " + fn().decode())
            for stem in ("scipy_openblas_get_num_threads", "openblas_get_num_threads"):
                fn = getattr(lib, stem + suffix, None)
                if fn is not None and len(parts) == 2:
                    parts.append(f"{fn()} threads")
        if parts:
            return ", ".join(parts) + f" ({os.path.basename(path)})"
    return "unknown (no threadpoolctl, no bundled OpenBLAS found)"


def cpu_jiffies():
    """(busy, total) jiffies of the whole machine from /proc/stat, or None."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


def others_share(start, own_start):
    """Share of the machine's CPU time used by other processes since ``start`` (the benchmark
    shares its cores: a large share means the times are pessimistic for both libraries)."""
    end = cpu_jiffies()
    if start is None or end is None:
        return float("nan")
    hz = os.sysconf("SC_CLK_TCK")
    own = (sum(os.times()[:2]) - own_start) * hz
    busy, total = end[0] - start[0], end[1] - start[1]
    return max(busy - own, 0) / max(total, 1)


def wait_for_idle(max_wait=120.0, threshold=0.15):
    """Wait (up to max_wait s) until other processes use under ``threshold`` of the CPU."""
    t0 = time.perf_counter()
    while True:
        j0, own0 = cpu_jiffies(), sum(os.times()[:2])
        time.sleep(1.0)
        share = others_share(j0, own0)
        if not share > threshold or time.perf_counter() - t0 > max_wait:
            return share, time.perf_counter() - t0


def machine_facts():
    cores = os.cpu_count()
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = cores
    load1 = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return [
        ("CPU", f"{cpu_model()} ({cpu_flags()})"),
        ("cores", f"{cores} logical, {affinity} usable; load average before the run {load1:.2f}"),
        ("Python", platform.python_version()),
        ("NumPy", np.__version__),
        ("NumPy's BLAS", blas_info()),
        ("OPENBLAS_CORETYPE", os.environ.get("OPENBLAS_CORETYPE", "(not set)")),
        ("Numba", f"{numba.__version__}, {numba.get_num_threads()} threads"),
        ("PyTorch", f"{torch.__version__}, {torch.get_num_threads()} threads; {torch_backends()}"),
        ("costcalc", costcalc_version),
    ]


def torch_backends():
    """oneDNN (convolutions) and BLAS versions from torch's build configuration."""
    found = []
    for line in torch.__config__.show().splitlines():
        line = line.strip(" -")
        if line.startswith(("Intel(R) MKL-DNN", "oneDNN", "Intel(R) oneAPI Math Kernel")) \
                and line not in found:
            found.append(line.split(" for ")[0].replace("Intel(R) MKL-DNN", "oneDNN"))
    return "; ".join(found) or "backends unknown"


# ----------------------------------------------------------------------------- measurements
def sgemm_peak(n=3072, reps=3):
    """GFLOP/s of an n x n float32 matrix product: NumPy (costcalc's BLAS) and PyTorch."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    out = {}
    for name, mm in (("numpy", lambda: a @ b),
                     ("torch", lambda ta=torch.from_numpy(a), tb=torch.from_numpy(b): ta @ tb)):
        mm()
        best = min(_timed(mm) for _ in range(reps))
        out[name] = 2 * n ** 3 / best / 1e9
        time.sleep(PAUSE)
    return out


def _timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def autodetect_run(nets, reps):
    """The same benchmark in a subprocess without OPENBLAS_CORETYPE, so that OpenBLAS picks its
    kernel for this CPU itself (batch 1). Informational: the main table keeps the environment."""
    if not nets:
        return None
    # this machine's notes: unset OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE together
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--json", "--nets", ",".join(nets),
           "--batches", "1", "--reps", str(reps)]
    print("side run without OPENBLAS_CORETYPE:", " ".join(cmd[1:]), flush=True)
    try:
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600,
                              check=True)
        return json.loads(done.stdout.strip().splitlines()[-1])
    except (subprocess.SubprocessError, ValueError, IndexError) as exc:
        print(f"side run failed: {exc}", flush=True)
        return None


def bench_net(name, batches, reps, seed=0, quiet=False):
    model = load(name).build()
    t = time.perf_counter()
    weights = execute.model_weights(model, seed, "float32")
    gen_seconds = time.perf_counter() - t
    graph = torch_oracle.TorchGraph(model, seed, "float32", weights=weights)
    rows = []
    for batch in batches:
        x = torch.from_numpy(torch_oracle.model_input(model, seed, batch, "float32"))

        def cc(keep=False):
            return execute.run(name, batch=batch, seed=seed, dtype="float32", keep_output=keep,
                               weights=weights)

        # warm-up (compiles or loads Numba's cache; PyTorch's first calls) and agreement check
        first = cc(keep=True)
        time.sleep(PAUSE)
        want = graph.forward(x).numpy()
        agree = float(np.abs(first.output - want).max() / max(np.abs(want).max(), 1e-30))
        time.sleep(PAUSE)
        for _ in range(2 if batch == 1 else 1):
            cc()
            graph.forward(x)
        time.sleep(PAUSE)
        cc_times, th_times, by_op = [], [], []
        for _ in range(reps):
            res = cc()
            cc_times.append(res.seconds)
            by_op.append(res.layers)
            time.sleep(PAUSE)
            th_times.append(_timed(lambda: graph.forward(x)))
            time.sleep(PAUSE)
        macs = sum(layer.macs for layer in res.layers)
        med = statistics.median(cc_times)
        layers_of_median = by_op[cc_times.index(sorted(cc_times)[len(cc_times) // 2])]
        rows.append(dict(net=name, batch=batch, input="x".join(map(str, model.input_shape)),
                         macs=macs, costcalc=med, torch=statistics.median(th_times),
                         costcalc_min=min(cc_times), torch_min=min(th_times),
                         agree=agree, layers=layers_of_median, weights_seconds=gen_seconds))
        if not quiet:
            print(f"  {name} batch {batch}: costcalc {med * 1e3:.1f} ms, torch "
                  f"{rows[-1]['torch'] * 1e3:.1f} ms, ratio {med / rows[-1]['torch']:.2f} "
                  f"(best runs {min(cc_times) / min(th_times):.2f})", flush=True)
    return rows


def op_breakdown(layers):
    """(op, seconds, share, GFLOP/s for ops with MACs, layers, layers fused into another) from
    one run's per-layer timings (a fused layer's time is in its head's row)."""
    secs = collections.defaultdict(float)
    macs = collections.defaultdict(int)
    count = collections.Counter()
    folded = collections.Counter()
    for layer in layers:
        secs[layer.op] += layer.seconds
        macs[layer.op] += layer.macs
        count[layer.op] += 1
        folded[layer.op] += getattr(layer, "fused_into", None) is not None
    total = sum(secs.values())
    return [(op, s, s / total, 2 * macs[op] / s / 1e9 if macs[op] and s else None, count[op],
             folded[op]) for op, s in sorted(secs.items(), key=lambda kv: (-kv[1], kv[0]))]


def depthwise_shapes(nets=DEPTHWISE_NETS):
    """Distinct (network, layer, input C x H x W, view) of the depthwise steps (depthwise and
    separable convolutions) of ``nets``, in order."""
    out, seen = [], set()
    for name in nets:
        model = load(name).build()
        summary = analyze_model(model, 1)
        shapes = [tuple(model.input_shape)] + [tuple(r.output_shape) for r in summary.layers]
        index = {layer.name: i for i, layer in enumerate(model.layers)}
        for layer in model.layers:
            if layer.op.name not in ("depthwise_conv2d", "separable_conv2d"):
                continue
            view = layer.op.view(layer.attrs)
            x = shapes[index[layer.inputs[0]]]
            key = (x, view.kernel_h, view.kernel_w, view.strides_h, view.strides_w,
                   view.dilation_h, view.dilation_w, str(layer.attrs.get("padding")))
            if key not in seen:
                seen.add(key)
                out.append((name, layer.name, x, view))
    return out


def bench_depthwise(batches, reps, rounds=3):
    """The depthwise kernel alone: ``kernels.depthwise`` (what the executor runs, without its
    fused epilogue) against ``torch.nn.functional.conv2d(groups=C)``, both on the same padded
    float32 input and 3x3 filters (multiplier 1). Per shape: ``rounds`` rounds of ``reps``
    calls of each library (a pause between libraries), median call."""
    rows = []
    rng = np.random.default_rng(0)
    for net, layer, (c, h, w), v in depthwise_shapes():
        for batch in batches:
            x = rng.standard_normal((batch, c, h, w), dtype=np.float32)
            wt = rng.standard_normal((c, 1, v.kernel_h, v.kernel_w), dtype=np.float32)
            xp, ho, wo = padded_input(x, v)
            args = (v.strides_h, v.strides_w, v.dilation_h, v.dilation_w, ho, wo)
            tx, tw = torch.from_numpy(np.ascontiguousarray(xp)), torch.from_numpy(wt)

            def cc():
                return kernels.depthwise(xp, wt, *args)

            def th():
                return torch.nn.functional.conv2d(tx, tw, stride=(v.strides_h, v.strides_w),
                                                  dilation=(v.dilation_h, v.dilation_w),
                                                  groups=c)

            with torch.no_grad():
                diff = float(np.abs(cc() - th().numpy()).max())
                th()
                cc_t, th_t = [], []
                for _ in range(rounds):
                    cc_t += [_timed(cc) for _ in range(reps)]
                    time.sleep(PAUSE / 5)
                    th_t += [_timed(th) for _ in range(reps)]
                    time.sleep(PAUSE / 5)
            rows.append(dict(net=net, layer=layer, input=f"{c}x{h}x{w}", batch=batch,
                             stride=v.strides_h, output=f"{ho}x{wo}",
                             costcalc=statistics.median(cc_t), torch=statistics.median(th_t),
                             best=min(cc_t) / min(th_t), diff=diff))
            print(f"  depthwise {net} {layer} {c}x{h}x{w} s{v.strides_h} batch {batch}: "
                  f"costcalc {rows[-1]['costcalc'] * 1e3:.3f} ms, torch "
                  f"{rows[-1]['torch'] * 1e3:.3f} ms, ratio "
                  f"{rows[-1]['costcalc'] / rows[-1]['torch']:.2f}", flush=True)
    return rows


# ----------------------------------------------------------------------------- report
def render(facts, peak, rows, breakdowns, reps, seconds, side=None, depthwise=None):
    out = [SECTION, "",
           "Generated by `make bench` (`bench/bench_forward.py`); numbers are from one run on "
           "the machine below and move by several percent between runs (the machine is shared).",
           "",
           "What is timed: `costcalc.execute.run` (float32, weights generated beforehand with "
           "`execute.model_weights` and passed as `weights=`, so only the forward pass and the "
           "executor's per-layer bookkeeping count) against the same graph written with "
           "`torch.nn.functional` (`costcalc/oracle/`) with the very same weights and input, "
           "under `torch.no_grad()`, in the same process. Warm-up runs first, then "
           f"{reps} runs of each, interleaved, with a {PAUSE:g} s pause between libraries; the "
           "median is shown. Ratio = costcalc / PyTorch (below 1: costcalc is faster). "
           "GFLOP/s = 2 x analytic MACs / time; peak = NumPy float32 matrix product "
           "(the BLAS costcalc's convolutions use). costcalc's convolutions are im2col + one "
           "GEMM per sample (on maps under 100 outputs at a batch: one GEMM over the whole "
           "batch's columns), except 3x3 stride-1 ones on large maps, which use Winograd "
           "F(2x2, 3x3) a band of tile rows at a time (fewer multiplies, so their GFLOP/s can "
           "pass the sgemm peak); 3x3 depthwise ones run a Numba kernel on one thread (a "
           "Numba thread pool started after a BLAS call competes with OpenBLAS's spinning "
           "threads, and with PyTorch's in this process; see the depthwise table below).", "",
           "Fused epilogues (`execute.run(fuse=True)`, the default; counting mode never fuses): "
           "a convolution (conv2d, depthwise, separable) whose own activation is linear "
           "computes, in its output pass (on each sample's output right after its product, "
           "or on each band of Winograd tile rows as it is written), its bias and the layers "
           "that follow it while each is the single consumer "
           "of the one before: a batch_norm (inference: a scale and a shift per channel), a "
           "relu or relu6, and a two-input residual add whose other input is already computed "
           "(then the relu after the add). An add that no convolution takes in takes in its "
           "own relu. A conv's own relu/relu6 runs in the same pass. The math is the "
           "layer-by-layer math, rounded where the separate layers round (the outputs are "
           "bit-identical to `fuse=False`). Per-layer time: the convolution's row holds the time "
           "of everything its pass computed; each layer folded into it has 0.0 s and "
           "`fused_into` = the convolution's name (the op tables below count such layers).", "",
           "### Machine", "", "| | |", "|---|---|"]
    out += [f"| {k} | {v} |" for k, v in facts]
    out += ["", f"sgemm peak (3072 x 3072 float32 product): NumPy {peak['numpy']:.0f} GFLOP/s, "
                f"PyTorch {peak['torch']:.0f} GFLOP/s.", "",
            "### Times", "",
            "| network | input | batch | MACs | costcalc ms | PyTorch ms | ratio | "
            "ratio of best runs | costcalc GFLOP/s | % of sgemm peak | PyTorch GFLOP/s | "
            "max rel. diff |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        cc_gf = 2 * r["macs"] / r["costcalc"] / 1e9
        th_gf = 2 * r["macs"] / r["torch"] / 1e9
        out.append(f"| {r['net']} | {r['input']} | {r['batch']} | {r['macs'] / 1e9:.2f} G | "
                   f"{r['costcalc'] * 1e3:.1f} | {r['torch'] * 1e3:.1f} | "
                   f"**{r['costcalc'] / r['torch']:.2f}** | "
                   f"{r['costcalc_min'] / r['torch_min']:.2f} | {cc_gf:.0f} | "
                   f"{100 * cc_gf / peak['numpy']:.0f}% | {th_gf:.0f} | {r['agree']:.1e} |")
    out += ["", "Max rel. diff: the largest |costcalc - PyTorch| over the output, relative to "
                "the largest |PyTorch| output (float32). These networks end in a softmax, which "
                "random weights often saturate (0.0e+00); tests/test_oracle.py compares every "
                "layer and the logits, in float64 to 1e-9.", ""]
    if side:
        out += ["### Side run: OpenBLAS's own choice of kernel", "",
                "This machine's environment sets OPENBLAS_CORETYPE (and OPENBLAS_L2_SIZE), which "
                "pin NumPy's OpenBLAS to an older kernel (above; kept in tests and CI as the "
                "machine's notes ask). The same forward passes in a subprocess with both unset, as "
                f"those notes allow for benchmarks: OpenBLAS then runs {side['blas'].split('kernel ')[-1].split(',')[0]}"
                f" kernels; sgemm peak {side['peak']:.0f} GFLOP/s. Other processes used "
                f"{100 * side['others']:.0f}% of the CPU meanwhile.", "",
                "| network | batch | costcalc ms | PyTorch ms | ratio | ratio of best runs |",
                "|---|---:|---:|---:|---:|---:|"]
        for r in side["rows"]:
            out.append(f"| {r['net']} | {r['batch']} | {r['costcalc'] * 1e3:.1f} | "
                       f"{r['torch'] * 1e3:.1f} | **{r['costcalc'] / r['torch']:.2f}** | "
                       f"{r['costcalc_min'] / r['torch_min']:.2f} |")
        out.append("")
    for name, batch, layers in breakdowns or ():
        out += [f"### Where costcalc's time goes ({name}, batch {batch}, one median run)", "",
                "| op | ms | share | GFLOP/s | layers | of them fused into a convolution or add |",
                "|---|---:|---:|---:|---:|---:|"]
        for op, s, share, gf, n, folded in op_breakdown(layers):
            out.append(f"| {op} | {s * 1e3:.2f} | {100 * share:.0f}% | "
                       f"{'' if gf is None else f'{gf:.0f}'} | {n} | {folded} |")
        out.append("")
    if depthwise:
        out += ["### The depthwise kernel on its own", "",
                "`kernels.depthwise` (3x3: `depthwise3x3_into`, one Numba thread; what the "
                "executor runs, here without a fused epilogue) against PyTorch's "
                "`F.conv2d(groups=C)` (oneDNN, "
                f"{torch.get_num_threads()} threads), on the same padded float32 input (the "
                "padding is not timed) and filters, at every distinct depthwise shape of "
                f"{' and '.join(DEPTHWISE_NETS)} (Xception's: the depthwise step of its "
                "separable convolutions). Per row: 3 rounds of "
                f"{reps} calls of each, alternating, median call. Ratio = costcalc / PyTorch.",
                "", "| network | first layer | input | stride | output | batch | costcalc ms | "
                    "PyTorch ms | ratio | ratio of best calls | max abs diff |",
                "|---|---|---|---:|---|---:|---:|---:|---:|---:|---:|"]
        for r in depthwise:
            out.append(f"| {r['net']} | {r['layer']} | {r['input']} | {r['stride']} | "
                       f"{r['output']} | {r['batch']} | {r['costcalc'] * 1e3:.3f} | "
                       f"{r['torch'] * 1e3:.3f} | **{r['costcalc'] / r['torch']:.2f}** | "
                       f"{r['best']:.2f} | {r['diff']:.1e} |")
        out.append("")
    out += [f"Benchmark wall time: {seconds:.0f} s.", ""]
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nets", default=",".join(NETS))
    ap.add_argument("--batches", default=",".join(map(str, BATCHES)))
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--no-report", action="store_true", help="print only; leave the report")
    ap.add_argument("--autodetect-blas", action="store_true",
                    help="also time resnet50 and vgg16 (batch 1) in a subprocess without "
                         "OPENBLAS_CORETYPE, so that OpenBLAS picks its own kernel (informational)")
    ap.add_argument("--max-wait", type=float, default=120.0,
                    help="seconds to wait for other processes to go idle before timing")
    ap.add_argument("--no-depthwise", action="store_true",
                    help="skip the table of the depthwise kernel on its own")
    ap.add_argument("--json", action="store_true", help=argparse.SUPPRESS)  # side-run output
    args = ap.parse_args(argv)
    start = time.perf_counter()
    nets, batches = args.nets.split(","), [int(b) for b in args.batches.split(",")]
    if args.json:           # the side run: times only, as JSON on stdout
        j0, own0 = cpu_jiffies(), sum(os.times()[:2])
        rows = [r for name in nets for r in bench_net(name, batches, args.reps, quiet=True)]
        print(json.dumps({"blas": blas_info(), "peak": sgemm_peak()["numpy"],
                          "others": others_share(j0, own0),
                          "rows": [{k: v for k, v in r.items() if k != "layers"}
                                   for r in rows]}))
        return
    facts = machine_facts()
    for k, v in facts:
        print(f"{k}: {v}")
    idle_share, waited = wait_for_idle(args.max_wait)
    print(f"other processes' CPU share before starting: {100 * idle_share:.0f}% "
          f"(waited {waited:.0f} s)")
    j0, own0 = cpu_jiffies(), sum(os.times()[:2])
    peak = sgemm_peak()
    print(f"sgemm peak: numpy {peak['numpy']:.0f} GFLOP/s, torch {peak['torch']:.0f} GFLOP/s")
    rows = []
    for name in nets:
        rows += bench_net(name, batches, args.reps)
    busy = others_share(j0, own0)
    side = None
    if args.autodetect_blas and os.environ.get("OPENBLAS_CORETYPE"):
        side = autodetect_run(nets=[n for n in ("resnet50", "mobilenet", "vgg16") if n in nets],
                              reps=args.reps)
    depthwise = None if args.no_depthwise else bench_depthwise(batches, max(args.reps, 5))
    breakdowns = [(r["net"], r["batch"], r["layers"]) for r in rows if r["net"] == nets[0]]
    facts.append(("other processes", f"{100 * busy:.0f}% of the machine's CPU time during the "
                                     f"timed runs ({100 * idle_share:.0f}% just before)"))
    section = render(facts, peak, rows, breakdowns, args.reps, time.perf_counter() - start, side,
                     depthwise)
    publish("forward", section, write=not args.no_report)


if __name__ == "__main__":
    main()
