"""From MACs to time: bytes moved per layer, device profiles, and a roofline latency per layer.

The model (stated once here, in the README "From MACs to time" and in every rendered result):

- **bytes**: a layer reads each of its input tensors once and its weights once, and writes its
  output once, each element at the dtype's size (float32 4 bytes, float16 2, int8 1, float64 8).
  ``bytes_read`` = inputs + weights (every stored number of the layer, ``params``: batch-norm
  statistics included, read once per batch, not per sample), ``bytes_written`` = the output.
  ``intensity`` = FLOPs / (bytes_read + bytes_written).
  What this ignores: caches (a tensor that stays in cache between layers costs nothing in
  reality; a weight or input re-read because it does not fit costs more), fusion (a framework
  that fuses conv + batch norm + ReLU writes one tensor, not three), im2col buffers and Winograd
  transforms, workspace and scratch buffers, padding copies, and that views (flatten, reshape,
  dropout at inference) are free in most frameworks: here they move their tensor like any layer.
- **time**: per layer ``max(FLOPs / peak FLOP/s, bytes / bandwidth)`` (the roofline of Williams,
  Waterman and Patterson, CACM 52(4), 2009): the layer is **compute**-bound when FLOPs/peak is
  the larger (a tie counts as compute: the layer then runs at the peak), else **memory**-bound.
  The ridge point of a device is peak / bandwidth FLOP/byte. It ignores launch and framework
  overhead per layer (microseconds: larger than the prediction of most layers of a small network
  on a GPU), that kernels reach a fraction of the peak that depends on their shape, and overlap
  between layers.

Device profiles are YAML files (``costcalc/devices/*.yaml`` are the built-in ones, each citing its
sources; ``calibrate()`` writes this machine's; users write their own). The format::

    name: my-device            # required: a short id (the file of a built-in has this name)
    title: "My device"          # optional: a longer name
    kind: cpu                   # optional: cpu, gpu, soc, npu, other
    source: "where the numbers come from (datasheet URL, `costcalc calibrate`)"   # required
    peak_flops:                 # required: FLOP/s (int8: operations/s) per dtype, at least one
      float32: 19.5e+12         #   of float32, float64, float16, int8
    bandwidth: 1.555e+12        # required: main-memory bytes per second
    notes: "..."                # optional: how the numbers were derived
    measured: {...}             # optional: what calibrate measured (free-form)

Numbers may be written as YAML numbers or as text Python reads as a number ("19.5e12": YAML 1.1
reads an exponent without a sign as text). ``load_profile`` checks every field and reports a
mistake as ``file:line: ...``.
"""
from __future__ import annotations

from . import ops

import dataclasses
import datetime
import math
import os
import platform
import time
from pathlib import Path

from .analysis import BYTES_PER_ELEMENT, analyze_model, load_spec, parse_input, shown
from .errors import CostcalcError, UsageError
from .errors import shown as shown_value

DEVICES_DIR = Path(__file__).resolve().parent / "devices"
MACHINE = "this-machine"              # the calibrated profile's name
PROFILE_DTYPES = ("float32", "float64", "float16", "int8")
KINDS = ("cpu", "gpu", "soc", "npu", "other")
PROFILE_KEYS = ("name", "title", "kind", "source", "peak_flops", "bandwidth", "notes", "measured")
MEASURABLE = ("float32", "float64")   # the dtypes costcalc's forward pass (execute.run) runs in

# the models as the conventions state them (costcalc/ops/__init__.py, the one place)
BYTES_TEXT = "Bytes model: " + ops.conventions_entry("bytes")
MODEL_TEXT = ("Roofline model: " + ops.conventions_entry("roofline time") + " "
              + ops.conventions_entry("bytes"))


class ProfileError(CostcalcError):
    """A device profile that cannot be used (file:line: what is wrong, what was expected)."""


# ----------------------------------------------------------------------------- bytes per layer
@dataclasses.dataclass
class LayerBytes:
    name: str
    op: str
    input_bytes: int        # every input tensor once (x batch)
    weight_bytes: int       # every stored number of the layer once (not x batch)
    bytes_written: int      # the output once (x batch)
    flops: int              # x batch, as the summary
    macs: int

    @property
    def bytes_read(self) -> int:
        return self.input_bytes + self.weight_bytes

    @property
    def bytes(self) -> int:
        return self.bytes_read + self.bytes_written

    @property
    def intensity(self) -> float:
        """FLOPs per byte moved (0 for a layer that moves nothing, which no layer does)."""
        return self.flops / self.bytes if self.bytes else 0.0

    def as_dict(self) -> dict:
        return {"name": self.name, "op": self.op, "bytes_read": self.bytes_read,
                "bytes_written": self.bytes_written, "input_bytes": self.input_bytes,
                "weight_bytes": self.weight_bytes, "intensity": self.intensity}


def _itemsize(dtype) -> int:
    if not isinstance(dtype, str) or dtype not in BYTES_PER_ELEMENT:
        raise UsageError(f"unknown dtype '{shown(dtype)}'; expected one of: "
                         f"{', '.join(BYTES_PER_ELEMENT)}")
    return BYTES_PER_ELEMENT[dtype]


def _prod(shape) -> int:
    n = 1
    for v in shape:
        n *= int(v)
    return n


def layer_bytes(summary, dtype: str = "float32") -> list:
    """Bytes each layer of ``summary`` (analysis.Summary) moves at ``dtype``, in layer order:
    a list of LayerBytes (``bytes_read`` = inputs + weights, ``bytes_written`` = output,
    ``intensity`` = FLOPs / bytes). Inputs and outputs scale with the summary's batch, weights
    do not (read once per batch)."""
    size = _itemsize(dtype)
    batch = summary.batch
    shapes = {summary.model.layers[0].name: tuple(summary.model.input_shape)}
    out = []
    for row in summary.layers:
        shapes[row.name] = tuple(row.output_shape)
        # a layer may read one tensor twice (add(x, x)): read once per input, as listed
        inputs = sum(_prod(shapes[n]) for n in row.inputs) * batch * size
        out.append(LayerBytes(row.name, row.op, inputs, row.params * size,
                              _prod(row.output_shape) * batch * size, row.flops, row.macs))
    return out


def bytes_totals(rows) -> dict:
    """Totals of layer_bytes rows: bytes_read, bytes_written, flops, intensity (total FLOPs over
    total bytes: every tensor counted at each layer that reads or writes it)."""
    read = sum(r.bytes_read for r in rows)
    written = sum(r.bytes_written for r in rows)
    flops = sum(r.flops for r in rows)
    return {"bytes_read": read, "bytes_written": written, "bytes": read + written,
            "weight_bytes": sum(r.weight_bytes for r in rows), "flops": flops,
            "intensity": flops / (read + written) if read + written else 0.0}


def render_bytes(summary, dtype: str = "float32", fmt: str = "table") -> str:
    """The summary's layers with their bytes and intensity (``summary --columns bytes``)."""
    from .render import dumps, human_bytes, shape_text, table
    rows = layer_bytes(summary, dtype)
    tot = bytes_totals(rows)
    if fmt == "json":
        return dumps({"spec": summary.id, "dtype": dtype, "batch": summary.batch,
                      "model": BYTES_TEXT, "totals": tot,
                      "layers": [dict(r.as_dict(), output_shape=list(s.output_shape),
                                      flops=s.flops, macs=s.macs)
                                 for r, s in zip(rows, summary.layers)]})
    headers = ["layer", "op", "output (CxHxW)", "FLOPs", "bytes read", "bytes written",
               "FLOP/byte"]
    body = [[r.name, r.op, shape_text(s.output_shape), r.flops, r.bytes_read, r.bytes_written,
             round(r.intensity, 3)] for r, s in zip(rows, summary.layers)]
    if fmt == "csv":
        return table(headers, body + [["TOTAL", "", "", tot["flops"], tot["bytes_read"],
                                       tot["bytes_written"], round(tot["intensity"], 3)]], "csv")
    out = [f"## {summary.id}: bytes moved ({dtype})" if fmt == "markdown"
           else f"{summary.id}: bytes moved ({dtype})", "", table(headers, body, fmt), ""]
    lines = [f"Bytes read {tot['bytes_read']:,} ({human_bytes(tot['bytes_read'])}), written "
             f"{tot['bytes_written']:,} ({human_bytes(tot['bytes_written'])}); weights "
             f"{human_bytes(tot['weight_bytes'])}; FLOPs / byte {tot['intensity']:.2f}",
             BYTES_TEXT]
    out.extend(f"- {x}" for x in lines) if fmt == "markdown" else out.extend(lines)
    return "\n".join(out)


# ----------------------------------------------------------------------------- device profiles
@dataclasses.dataclass
class Profile:
    name: str
    source: object              # text or a list of texts
    peak_flops: dict            # dtype -> FLOP/s
    bandwidth: float            # bytes/s
    title: str = ""
    kind: str = ""
    notes: str = ""
    measured: dict | None = None
    path: Path | None = None
    builtin: bool = False

    def peak(self, dtype: str) -> float:
        _itemsize(dtype)
        if dtype not in self.peak_flops:
            have = ", ".join(self.peak_flops)
            hint = (" (`costcalc calibrate` measures float32 and float64 only)"
                    if self.name == MACHINE else "")
            raise UsageError(f"device '{self.name}' has no peak for {dtype} (it has {have})"
                             f"{hint}; expected --dtype {' or '.join(self.peak_flops)}, or a "
                             f"profile that lists {dtype}", self.path)
        return self.peak_flops[dtype]

    def ridge(self, dtype: str) -> float:
        """The intensity (FLOP/byte) above which a layer is compute-bound."""
        return self.peak(dtype) / self.bandwidth

    def as_dict(self) -> dict:
        d = {"name": self.name, "title": self.title, "kind": self.kind, "source": self.source,
             "peak_flops": dict(self.peak_flops), "bandwidth": self.bandwidth,
             "ridge": {k: v / self.bandwidth for k, v in self.peak_flops.items()}}
        if self.notes:
            d["notes"] = self.notes
        if self.measured:
            d["measured"] = self.measured
        d["file"] = str(self.path) if self.path else None
        return d


def machine_profile_path() -> Path:
    """Where calibrate() saves this machine's profile: $COSTCALC_DEVICE if set, else
    device.yaml in costcalc's cache folder ($COSTCALC_CACHE_DIR, or $XDG_CACHE_HOME/costcalc,
    or ~/.cache/costcalc)."""
    env = os.environ.get("COSTCALC_DEVICE")
    if env:
        return Path(env)
    from .jit import cache_dir
    return cache_dir() / "device.yaml"


def builtin_profiles() -> list:
    """Names of the built-in profiles (costcalc/devices/*.yaml), sorted."""
    return sorted(p.stem for p in DEVICES_DIR.glob("*.yaml"))


def _number(value, where, what, example, path, line):
    if isinstance(value, str):
        try:
            value = float(value.strip().replace("_", ""))
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value) or value <= 0:
        raise ProfileError(f"{where} must be a positive number of {what} (for example "
                           f"{example}), got {shown_value(value)}", path, line)
    return float(value)


def parse_profile(data, path=None, builtin=False) -> Profile:
    """Check a profile's parsed YAML (an LDict from yamlload) and build the Profile."""
    from .yamlload import LDict
    line_of = (lambda d, k: d.key_line(k)) if isinstance(data, LDict) else (lambda d, k: None)
    top = getattr(data, "line", None) or None
    if not isinstance(data, dict):
        got = ("an empty file" if data is None else "a list" if isinstance(data, list)
               else shown_value(data))
        raise ProfileError("a device profile must be a mapping with name, source, peak_flops "
                           f"and bandwidth; got {got}", path, top or 1)
    for key in data:
        if key not in PROFILE_KEYS:
            raise ProfileError(f"unknown key '{shown(key)}' in a device profile; expected one of: "
                               f"{', '.join(PROFILE_KEYS)}", path, line_of(data, key))
    for key in ("name", "source", "peak_flops", "bandwidth"):
        if key not in data:
            raise ProfileError(f"a device profile needs '{key}' (name, source, peak_flops and "
                               "bandwidth are required)", path, top or 1)
    name = data["name"]
    if not isinstance(name, str) or not name.strip() or len(name) > 100:
        raise ProfileError(f"name must be a short text, got {shown(name)}", path,
                           line_of(data, "name"))
    source = data["source"]
    if isinstance(source, list):
        if not source or not all(isinstance(s, str) and s.strip() for s in source):
            raise ProfileError("source must be a text or a list of texts (where the numbers "
                               "come from)", path, line_of(data, "source"))
    elif not isinstance(source, str) or not source.strip():
        raise ProfileError(f"source must say where the numbers come from (a datasheet, a URL, "
                           f"`costcalc calibrate`), got {shown_value(source)}", path,
                           line_of(data, "source"))
    peaks = data["peak_flops"]
    if not isinstance(peaks, dict) or not peaks:
        raise ProfileError("peak_flops must be a mapping of dtype to FLOP/s with at least one of "
                           f"{', '.join(PROFILE_DTYPES)} (for example float32: 19.5e+12), got "
                           f"{shown(peaks)}", path, line_of(data, "peak_flops"))
    peak_flops = {}
    for dtype, value in peaks.items():
        if dtype not in PROFILE_DTYPES:
            raise ProfileError(f"peak_flops: unknown dtype '{shown(dtype)}'; expected one of: "
                               f"{', '.join(PROFILE_DTYPES)}", path, line_of(peaks, dtype))
        what = "operations/s" if dtype == "int8" else "FLOP/s"
        peak_flops[dtype] = _number(value, f"peak_flops.{dtype}", what, "19.5e+12", path,
                                    line_of(peaks, dtype))
    bandwidth = _number(data["bandwidth"], "bandwidth", "bytes per second", "1.555e+12", path,
                        line_of(data, "bandwidth"))
    texts = {}
    for key in ("title", "kind", "notes"):
        value = data.get(key, "")
        if not isinstance(value, str):
            raise ProfileError(f"{key} must be a text, got {shown(value)}", path,
                               line_of(data, key))
        texts[key] = value
    if texts["kind"] and texts["kind"] not in KINDS:
        raise ProfileError(f"kind '{shown(texts['kind'])}' is not one of {', '.join(KINDS)}",
                           path, line_of(data, "kind"))
    measured = data.get("measured")
    if measured is not None and not isinstance(measured, dict):
        raise ProfileError("measured must be a mapping (what calibrate measured)", path,
                           line_of(data, "measured"))
    return Profile(name.strip(), source, peak_flops, bandwidth, texts["title"], texts["kind"],
                   texts["notes"].strip(), dict(measured) if measured else None,
                   Path(path) if path else None, builtin)


def read_profile(path, builtin=False) -> Profile:
    from .yamlload import load_yaml
    p = Path(path)
    try:
        if not p.is_file():
            what = "is a directory" if p.is_dir() else "does not exist"
            raise UsageError(f"device profile '{shown(str(path))}' {what}; expected a profile "
                             f".yaml file or a built-in device ({', '.join(builtin_profiles())})")
        with open(p, "rb") as fh:
            data = fh.read((1 << 20) + 1)
    except OSError as exc:
        raise UsageError(f"cannot read device profile '{shown(str(path))}': {exc.strerror}") \
            from None
    if len(data) > 1 << 20:
        raise ProfileError("a device profile is at most 1 MiB", p)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProfileError(f"not UTF-8 text (byte {exc.start}); expected a YAML device profile",
                           p) from None
    return parse_profile(load_yaml(text, p), p, builtin)


def load_profile(name_or_path=None) -> Profile:
    """A device profile: a built-in name (``builtin_profiles()``), a path to a .yaml profile,
    a Profile (returned as is), or None / 'this-machine' for the calibrated profile of this
    machine (an error if calibrate() has not saved one yet: latency() calibrates then)."""
    if isinstance(name_or_path, Profile):
        return name_or_path
    if name_or_path is None or name_or_path == MACHINE:
        path = machine_profile_path()
        if not path.is_file():
            raise UsageError(f"this machine has no profile yet ({path}); expected `costcalc "
                             "calibrate` first, or --device with a built-in profile "
                             f"({', '.join(builtin_profiles())}) or a profile file")
        return read_profile(path)
    text = str(name_or_path)
    if text.endswith((".yaml", ".yml")) or "/" in text or os.sep in text:
        return read_profile(text)
    if text in builtin_profiles():
        return read_profile(DEVICES_DIR / f"{text}.yaml", builtin=True)
    raise UsageError(f"unknown device '{shown(text)}'; expected a built-in profile "
                     f"({', '.join(builtin_profiles())}), {MACHINE} (calibrated), or a path to "
                     "a profile .yaml file")


def machine_profile(calibrate_if_missing: bool = True, seconds: float = 2.0) -> Profile:
    """This machine's profile; calibrated and saved once when there is none yet."""
    path = machine_profile_path()
    if path.is_file() or not calibrate_if_missing:
        return load_profile(MACHINE)
    return calibrate(seconds=seconds, path=path)


def render_profiles(fmt: str = "table") -> str:
    """The built-in profiles (and this machine's, if calibrated) with their peaks."""
    from .render import dumps, table
    profiles = [load_profile(n) for n in builtin_profiles()]
    if machine_profile_path().is_file():
        profiles.append(load_profile(MACHINE))
    if fmt == "json":
        return dumps([p.as_dict() for p in profiles])
    headers = (["device", "title", "kind"]
               + [f"{d} G{'OP' if d == 'int8' else 'FLOP'}/s" for d in PROFILE_DTYPES]
               + ["GB/s", "ridge float32"])
    rows = [[p.name, p.title, p.kind] + [round(p.peak_flops[d] / 1e9, 1)
                                          if d in p.peak_flops else None
                                          for d in PROFILE_DTYPES]
            + [round(p.bandwidth / 1e9, 1),
               round(p.ridge("float32"), 1) if "float32" in p.peak_flops else None]
            for p in profiles]
    return table(headers, rows, fmt)


def render_profile(profile: Profile, fmt: str = "table") -> str:
    """One profile (what calibrate prints)."""
    from .render import dumps, table
    if fmt == "json":
        return dumps(profile.as_dict())
    headers = ["dtype", "peak GFLOP/s", "bandwidth GB/s", "ridge FLOP/byte"]
    rows = [[d, round(v / 1e9, 2), round(profile.bandwidth / 1e9, 2),
             round(v / profile.bandwidth, 2)] for d, v in profile.peak_flops.items()]
    if fmt == "csv":
        return table(headers, rows, "csv")
    src = profile.source if isinstance(profile.source, str) else "; ".join(profile.source)
    out = [f"{profile.name}: {profile.title}".rstrip(": "), "", table(headers, rows, fmt), "",
           f"Source: {src}"]
    if profile.path:
        out.append(f"File: {profile.path}")
    return "\n".join(out)


# ----------------------------------------------------------------------------- calibration
def _last_level_cache_bytes() -> int:
    """The largest CPU cache (the last level) from sysfs; 32 MiB when unknown."""
    best = 0
    for index in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*"):
        try:
            text = (index / "size").read_text().strip().upper()
            scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
            best = max(best, int(text.rstrip("KMG")) * scale)
        except (OSError, ValueError):
            continue
    return best or 32 << 20


def _load_average():
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):
        return None


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def _blas_name() -> str:
    try:
        import numpy as np
        cfg = np.show_config(mode="dicts")
        blas = cfg.get("Build Dependencies", {}).get("blas", {})
        return f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:       # noqa: BLE001 - informational only
        return "unknown"


_STREAM = None


def _stream_kernels():
    """STREAM's copy (a = b) and triad (a = b + s*c), parallel over the machine's threads."""
    global _STREAM
    if _STREAM is None:
        from numba import njit, prange

        @njit(parallel=True, cache=True)
        def copy(a, b):
            for i in prange(a.size):
                a[i] = b[i]

        @njit(parallel=True, cache=True)
        def triad(a, b, c, s):
            for i in prange(a.size):
                a[i] = b[i] + s * c[i]

        _STREAM = (copy, triad)
    return _STREAM


def measure_gemm(dtype: str = "float32", seconds: float = 0.5, n_min: int = 0) -> dict:
    """Peak FLOP/s of NumPy's matrix product (the BLAS costcalc's convolutions use) in
    ``dtype``: n x n products (2 n^3 FLOPs each), n chosen from a probe so that one product
    takes about a sixth of the budget (from max(512, n_min) to 3072, a multiple of 64), repeated
    for ``seconds``; the best run counts."""
    import numpy as np
    dt = np.dtype(dtype)
    rng = np.random.default_rng(0)

    def best_of(n, budget, min_runs):
        a = rng.standard_normal((n, n)).astype(dt)
        b = rng.standard_normal((n, n)).astype(dt)
        c = np.empty((n, n), dtype=dt)
        np.matmul(a, b, out=c)                         # warm-up: threads, pages
        best, runs, t_end = math.inf, 0, time.perf_counter() + budget
        while runs < min_runs or time.perf_counter() < t_end:
            t0 = time.perf_counter()
            np.matmul(a, b, out=c)
            best = min(best, time.perf_counter() - t0)
            runs += 1
        return best, runs

    probe, _ = best_of(512, 0.0, 3)
    rate = 2 * 512 ** 3 / max(probe, 1e-9)
    n = int((rate * seconds / 6 / 2) ** (1 / 3) / 64) * 64
    n = min(max(n, 512, n_min), 3072)
    best, runs = best_of(n, seconds, 3)
    return {"n": n, "runs": runs, "best_s": best, "flops_per_s": 2 * n ** 3 / best}


def measure_bandwidth(seconds: float = 0.5, array_bytes: int | None = None) -> dict:
    """Main-memory bytes/s by STREAM's copy and triad kernels (McCalpin): float64 arrays of
    ``array_bytes`` each (default 4x the last-level cache, STREAM's rule, or 1x it when the
    budget is under a second), counted as STREAM counts (copy 2 words, triad 3 words per
    element; the write-allocate read is not counted). Best run of each within ``seconds``."""
    import numba
    import numpy as np
    llc = _last_level_cache_bytes()
    if array_bytes is None:
        array_bytes = (4 if seconds >= 1 else 1) * llc
    n = max(array_bytes // 8, 1 << 16)
    copy, triad = _stream_kernels()
    a = np.zeros(n)
    b = np.ones(n)
    c = np.full(n, 2.0)
    copy(a, b)                                           # compile (cached) and first touch
    triad(a, b, c, 3.0)
    best = {"copy": math.inf, "triad": math.inf}
    runs, t_end = 0, time.perf_counter() + seconds
    while runs < 2 or time.perf_counter() < t_end:
        t0 = time.perf_counter()
        copy(a, b)
        t1 = time.perf_counter()
        triad(a, b, c, 3.0)
        t2 = time.perf_counter()
        best["copy"] = min(best["copy"], t1 - t0)
        best["triad"] = min(best["triad"], t2 - t1)
        runs += 1
    return {"array_bytes": int(n * 8), "last_level_cache_bytes": llc, "runs": runs,
            "threads": numba.get_num_threads(),
            "copy": 2 * 8 * n / best["copy"], "triad": 3 * 8 * n / best["triad"]}


def calibrate(seconds: float = 2.0, path=None, save: bool = True) -> Profile:
    """Measure this machine and (``save``) write its profile to ``path`` (default
    machine_profile_path()): peak FLOP/s per dtype by NumPy matrix products in float32 and
    float64 (measure_gemm), bandwidth by STREAM's triad (measure_bandwidth). ``seconds`` is the
    budget of the timed loops: half for the products, in rounds of about 0.3 s (at most 10)
    with the dtypes interleaved, half for the memory kernels; allocation, first touch of the
    arrays and compiling the kernels come on top (about a second the first time). These are
    attained peaks of this software on this machine, below the datasheet peak; a shared
    machine measures less (the load average is recorded, and noted when it is high)."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) \
            or not math.isfinite(seconds) or not 0 < seconds <= 600:
        raise UsageError(f"--seconds must be a number above 0 and at most 600, got "
                         f"{shown(seconds)}")
    # the products in rounds, the dtypes interleaved: on a shared machine each dtype then gets
    # several chances at a quiet moment (the best round counts)
    rounds = max(1, min(10, int(seconds / 0.3)))
    load_before = _load_average()
    gemm: dict = {}
    rates: dict = {d: [] for d in MEASURABLE}
    for _ in range(rounds):
        for d in MEASURABLE:
            g = measure_gemm(d, seconds / 2 / len(MEASURABLE) / rounds,
                             gemm[d]["n"] if d in gemm else 0)
            rates[d].append(float(g["flops_per_s"]))
            if d not in gemm or g["flops_per_s"] > gemm[d]["flops_per_s"]:
                gemm[d] = g
    for d in MEASURABLE:
        gemm[d]["rounds"] = [round(r / 1e9, 2) for r in rates[d]]     # GFLOP/s of each round
    stream = measure_bandwidth(seconds / 2)
    load_after = _load_average()
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()
    cpus = os.cpu_count()
    load = max(x for x in (load_before, load_after, 0.0) if x is not None)
    busy = (f" The machine was busy while measured (load average {load:.1f} on {cpus} CPUs): "
            "these peaks are low and vary between runs; calibrate again when it is idle."
            if cpus and load > 0.5 * cpus else "")
    measured = {
        "date": now, "seconds": float(seconds), "cpu": cpu_model(), "logical_cpus": cpus,
        "python": platform.python_version(), "blas": _blas_name(),
        "load_average": [load_before, load_after],
        "gemm": {d: {k: (float(v) if isinstance(v, float) else v) for k, v in g.items()}
                 for d, g in gemm.items()},
        "stream": {k: (float(v) if isinstance(v, float) else v) for k, v in stream.items()},
    }
    profile = Profile(
        name=MACHINE, title=f"{cpu_model()} ({cpus} logical CPUs), measured",
        kind="cpu",
        source=(f"measured on this machine by `costcalc calibrate` ({now}): peak = best NumPy "
                "n x n matrix product per dtype (2 n^3 FLOPs), bandwidth = best STREAM triad "
                f"(a = b + s*c, 24 bytes per element) over three arrays of "
                f"{stream['array_bytes'] / 2**20:.0f} MiB each (last-level cache "
                f"{stream['last_level_cache_bytes'] / 2**20:.0f} MiB)"),
        peak_flops={d: float(g["flops_per_s"]) for d, g in gemm.items()},
        bandwidth=float(stream["triad"]),
        notes=("Attained, not datasheet, peaks: the BLAS's best matrix product and the memory "
               "kernel's best run on this machine while it was measured (other processes "
               "lower both). float16 and int8 are not measured (NumPy has no fast kernels for "
               "them)." + busy),
        measured=measured)
    if save:
        profile.path = save_profile(profile, path)
    return profile


def save_profile(profile: Profile, path=None) -> Path:
    """Write a profile as YAML (the documented format); returns the path."""
    import yaml
    path = Path(path) if path is not None else machine_profile_path()
    data = {"name": profile.name, "title": profile.title, "kind": profile.kind,
            "source": profile.source, "peak_flops": dict(profile.peak_flops),
            "bandwidth": profile.bandwidth}
    if profile.notes:
        data["notes"] = profile.notes
    if profile.measured:
        data["measured"] = profile.measured
    text = ("# costcalc device profile (format: costcalc/roofline.py, README \"From MACs to "
            "time\")\n" + yaml.safe_dump(data, sort_keys=False, width=96))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
    except OSError as exc:
        raise UsageError(f"cannot write the device profile to {path}: {exc.strerror}; expected "
                         "a writable folder (set COSTCALC_DEVICE to another file)") from None
    return path


# ----------------------------------------------------------------------------- latency
@dataclasses.dataclass
class LatencyResult:
    summary: object
    profile: Profile
    dtype: str
    layers: list            # dicts, one per layer (see latency())
    by_op: list             # dicts, one per op type, in order of predicted time
    totals: dict
    measured: bool
    notes: list

    @property
    def id(self):
        return self.summary.id


# PyTorch's per-layer time on the oracle graph: a function (model, batch=, dtype=, seed=,
# repeat=) -> {layer name: seconds}. None: costcalc.oracle.layer_times when torch is installed
# (imported only then); a test or a user may set another, or pass torch_timer= to latency().
TORCH_TIMER = None


def pause():
    """Let the BLAS's worker threads go idle before the other library runs (OpenBLAS's spin
    for a while after their last call and would take a core from PyTorch's; bench does the
    same)."""
    time.sleep(0.25)


def default_torch_timer():
    """The PyTorch timer latency --measure uses: TORCH_TIMER, else the oracle's when torch is
    installed, else None (no PyTorch column)."""
    if TORCH_TIMER is not None:
        return TORCH_TIMER
    import importlib.util
    if importlib.util.find_spec("torch") is None:
        return None
    from .oracle import layer_times
    return layer_times


def measure_layers(spec, overrides=None, input_shape=None, batch=1, dtype="float32", seed=0,
                   repeat=3):
    """Per-layer seconds of costcalc's forward pass (execute.run): weights made once, one
    warm-up run (compiles the kernels), then ``repeat`` runs; each layer's best of them.
    Layers run one at a time (``fuse=False``), so each layer's time is its own, as the roofline
    model predicts it; the default executor folds batch norm and activations into the
    convolution before them and is faster as a whole (reports/performance.md).
    Returns ({layer name: seconds}, best whole-run seconds)."""
    from . import execute
    if isinstance(repeat, bool) or not isinstance(repeat, int) or not 1 <= repeat <= 1000:
        raise UsageError(f"--repeat must be an integer from 1 to 1000, got {shown(repeat)}")
    model, _ = execute.plan(spec, overrides, input_shape, batch, dtype, seed)
    weights = execute.model_weights(model, seed, dtype)
    best: dict = {}
    run_best = math.inf
    for k in range(repeat + 1):
        res = execute.run(spec, overrides, input_shape, batch=batch, seed=seed, dtype=dtype,
                          weights=weights, fuse=False)
        if k == 0:
            continue
        run_best = min(run_best, res.seconds)
        for row in res.layers:
            best[row.name] = min(best.get(row.name, math.inf), row.seconds)
    return best, run_best


def _err(predicted, measured):
    return predicted / measured - 1 if measured else None


def latency(name, overrides=None, input_shape=None, batch: int = 1, dtype: str = "float32",
            device=None, measure: bool = False, repeat: int = 3, seed: int = 0,
            torch_timer=None, torch: bool = True) -> LatencyResult:
    """Roofline time of every layer of a spec on a device profile, and (``measure``) costcalc's
    measured forward pass next to it.

    Per layer (``result.layers``): flops, macs, bytes_read, bytes_written, intensity,
    compute_s = FLOPs / peak, memory_s = bytes / bandwidth, predicted_s = the larger, bound
    ('compute' if compute_s >= memory_s else 'memory'), share (of the predicted total); with
    ``measure``: measured_s (best of ``repeat`` runs of execute.run after a warm-up), error =
    predicted_s / measured_s - 1, and torch_s: PyTorch's time for the layer on the oracle graph
    (``torch_timer``, else ``default_torch_timer()``: when torch is installed; ``torch=False``
    leaves it out). ``result.by_op`` sums them per op type, with each op's share of
    MACs next to its share of predicted and measured time (MACs as a proxy for time).
    ``device``: a built-in name, a profile path or Profile; None: this machine's profile
    (calibrated and saved once if missing)."""
    _itemsize(dtype)
    if measure and dtype not in MEASURABLE:
        raise UsageError(f"--measure runs costcalc's forward pass, which computes in "
                         f"{' or '.join(MEASURABLE)}; got --dtype {dtype} (predict it without "
                         "--measure)")
    profile = machine_profile() if device is None else load_profile(device)
    from .analysis import check_batch
    check_batch(batch)
    spec = load_spec(name)
    if measure:
        from . import execute
        _, summary = execute.plan(spec, overrides, input_shape, batch, dtype, seed)
    else:
        model = spec.build(overrides, parse_input(input_shape))
        summary = analyze_model(model, batch, dtype)
    if not measure:
        return predict(summary, profile, dtype)
    times, run_s = measure_layers(spec, overrides, input_shape, batch, dtype, seed, repeat)
    notes = []
    ttimes = None
    timer = torch_timer if torch_timer is not None else (default_torch_timer() if torch
                                                          else None)
    if timer is None and torch:
        notes.append("PyTorch is not installed: no PyTorch column (`make oracle` or `pip "
                     "install torch`, its CPU build).")
    if timer is not None:
        pause()
        ttimes = timer(summary.model, batch=batch, dtype=dtype, seed=seed, repeat=repeat)
    if profile.name != MACHINE:
        notes.append(f"Measured on this machine, predicted for {profile.name}: compare "
                     "them with this machine's profile (`costcalc calibrate`).")
    notes.append(f"Measured: costcalc's forward pass (execute.run, {dtype}, batch {batch}), "
                 f"each layer's best of {repeat} runs after a warm-up, one layer at a time (no "
                 "fusion); a layer's time includes the executor's per-layer bookkeeping "
                 "(microseconds).")
    return predict(summary, profile, dtype, times, ttimes, run_s, notes)


def compare_times(summaries, overrides=None, input_shape=None, batch: int = 1, device=None,
                  measure: bool = False, torch: bool = True, repeat: int = 3) -> list:
    """Each compared spec's time (analysis.compare): predicted on ``device`` (None: this
    machine's profile), and with ``measure`` costcalc's and PyTorch's measured times (sums of
    each layer's best of ``repeat`` runs, float32). One dict per spec: device, predicted_s,
    memory_bound_share, and measured_s, torch_s (None when not measured)."""
    profile = machine_profile() if device is None else load_profile(device)
    out = []
    for s in summaries:
        own = {k: v for k, v in (overrides or {}).items() if k in s.spec.defaults}
        if measure:
            r = latency(s.spec, own, input_shape, batch, "float32", profile, True, repeat,
                        torch=torch)
        else:
            r = predict(s, profile, "float32")
        t = r.totals
        out.append({"device": profile.name, "predicted_s": t["predicted_s"],
                    "memory_bound_share": t["memory_bound_share"],
                    "measured_s": t.get("measured_s"), "torch_s": t.get("torch_s")})
    return out


def predict(summary, device, dtype: str = "float32", measured=None, torch_times=None,
            run_s=None, notes=()) -> LatencyResult:
    """The roofline prediction for an analysed model (``analysis.summarize``) on a device
    (a Profile, a built-in name or a profile path), and, given {layer name: seconds} of
    ``measured`` (costcalc) and ``torch_times`` (PyTorch), those next to it. latency() is this
    after loading, analysing and measuring; the reports call it on summaries they already
    have (see latency() for the fields)."""
    _itemsize(dtype)
    profile = device if isinstance(device, Profile) else load_profile(device)
    peak = profile.peak(dtype)
    bw = profile.bandwidth
    measure = measured is not None
    layers = []
    for r in layer_bytes(summary, dtype):
        compute_s = r.flops / peak
        memory_s = r.bytes / bw
        layers.append({"name": r.name, "op": r.op, "macs": r.macs, "flops": r.flops,
                       "bytes_read": r.bytes_read, "bytes_written": r.bytes_written,
                       "intensity": r.intensity, "compute_s": compute_s, "memory_s": memory_s,
                       "predicted_s": max(compute_s, memory_s),
                       "bound": "compute" if compute_s >= memory_s else "memory"})
    total = sum(x["predicted_s"] for x in layers)
    for x in layers:
        x["share"] = x["predicted_s"] / total if total else 0.0
        if measure:
            x["measured_s"] = measured[x["name"]]
            x["error"] = _err(x["predicted_s"], x["measured_s"])
            if torch_times is not None:
                x["torch_s"] = torch_times.get(x["name"])
    torch_total = (sum(x["torch_s"] or 0.0 for x in layers) if measure and torch_times
                   is not None else None)
    macs_total = sum(x["macs"] for x in layers)
    measured_total = sum(x["measured_s"] for x in layers) if measure else None
    ops: dict = {}
    for x in layers:
        e = ops.setdefault(x["op"], {"op": x["op"], "layers": 0, "macs": 0, "flops": 0,
                                     "bytes": 0, "predicted_s": 0.0, "compute_bound": 0,
                                     "memory_bound": 0})
        e["layers"] += 1
        e["macs"] += x["macs"]
        e["flops"] += x["flops"]
        e["bytes"] += x["bytes_read"] + x["bytes_written"]
        e["predicted_s"] += x["predicted_s"]
        e[f"{x['bound']}_bound"] += 1
        if measure:
            e["measured_s"] = e.get("measured_s", 0.0) + x["measured_s"]
            if "torch_s" in x:
                e["torch_s"] = e.get("torch_s", 0.0) + (x["torch_s"] or 0.0)
    by_op = sorted(ops.values(), key=lambda e: -e["predicted_s"])
    for e in by_op:
        e["mac_share"] = e["macs"] / macs_total if macs_total else 0.0
        e["predicted_share"] = e["predicted_s"] / total if total else 0.0
        if measure:
            e["measured_share"] = e["measured_s"] / measured_total if measured_total else 0.0
            e["error"] = _err(e["predicted_s"], e["measured_s"])
            if torch_total:
                e["torch_share"] = e["torch_s"] / torch_total
    n_mem = sum(x["bound"] == "memory" for x in layers)
    totals = {"layers": len(layers), "macs": macs_total,
              "flops": sum(x["flops"] for x in layers),
              "bytes": sum(x["bytes_read"] + x["bytes_written"] for x in layers),
              "predicted_s": total,
              "compute_bound_layers": len(layers) - n_mem, "memory_bound_layers": n_mem,
              "memory_bound_share": (sum(x["predicted_s"] for x in layers
                                         if x["bound"] == "memory") / total if total else 0.0),
              "peak_flops": peak, "bandwidth": bw, "ridge": peak / bw}
    if measure:
        totals.update({"measured_s": measured_total, "measured_run_s": run_s,
                       "error": _err(total, measured_total)})
        if torch_total is not None:
            totals["torch_s"] = torch_total
    return LatencyResult(summary, profile, dtype, layers, by_op, totals, measure,
                         [MODEL_TEXT, *notes])


def latency_dict(result: LatencyResult) -> dict:
    s = result.summary
    return {"spec": s.id, "title": s.spec.title, "input_shape": list(s.input_shape),
            "batch": s.batch, "dtype": result.dtype, "device": result.profile.as_dict(),
            "model": MODEL_TEXT, "measured": result.measured, "notes": result.notes,
            "totals": result.totals, "by_op": result.by_op, "layers": result.layers}


def _us(seconds):
    return None if seconds is None else round(seconds * 1e6, 3)


def _pct(x):
    return None if x is None else round(100 * x, 1)


def render_latency(result: LatencyResult, fmt: str = "table") -> str:
    """Per-layer and per-op tables of latency() in table, markdown, csv or json."""
    from .render import dumps, shape_text, table
    if fmt == "json":
        return dumps(latency_dict(result))
    m = result.measured
    has_torch = any("torch_s" in x for x in result.layers)
    if fmt == "csv":
        keys = ["name", "op", "macs", "flops", "bytes_read", "bytes_written", "intensity",
                "compute_s", "memory_s", "predicted_s", "bound", "share"]
        if m:
            keys += ["measured_s", "error"] + (["torch_s"] if has_torch else [])
        return table(keys, [[x.get(k) for k in keys] for x in result.layers], "csv")
    headers = ["layer", "op", "FLOPs", "bytes", "FLOP/byte", "bound", "predicted µs", "share %"]
    if m:
        headers += ["measured µs", "error %"] + (["PyTorch µs"] if has_torch else [])
    rows = []
    for x in result.layers:
        row = [x["name"], x["op"], x["flops"], x["bytes_read"] + x["bytes_written"],
               round(x["intensity"], 2), x["bound"], _us(x["predicted_s"]), _pct(x["share"])]
        if m:
            row += [_us(x["measured_s"]), _pct(x["error"])]
            if has_torch:
                row.append(_us(x.get("torch_s")))
        rows.append(row)
    oh = ["op", "layers", "MACs %", "predicted %", "predicted µs", "memory-bound layers"]
    if m:
        oh += ["measured %", "measured µs", "error %"] + (["PyTorch µs"] if has_torch else [])
    orows = []
    for e in result.by_op:
        row = [e["op"], e["layers"], _pct(e["mac_share"]), _pct(e["predicted_share"]),
               _us(e["predicted_s"]), e["memory_bound"]]
        if m:
            row += [_pct(e["measured_share"]), _us(e["measured_s"]), _pct(e["error"])]
            if has_torch:
                row.append(_us(e.get("torch_s")))
        orows.append(row)
    s, p, t = result.summary, result.profile, result.totals
    title = (f"{s.id}: roofline latency on {p.name} ({result.dtype}, input "
             f"{shape_text(s.input_shape)}, batch {s.batch})")
    lines = [f"Device {p.name}: peak {t['peak_flops'] / 1e9:,.1f} GFLOP/s ({result.dtype}), "
             f"bandwidth {t['bandwidth'] / 1e9:,.1f} GB/s, ridge {t['ridge']:.1f} FLOP/byte",
             f"Predicted: {t['predicted_s'] * 1e3:.4f} ms; {t['memory_bound_layers']} of "
             f"{t['layers']} layers memory-bound ({_pct(t['memory_bound_share'])}% of the "
             "predicted time)"]
    if m:
        err = t["error"]
        lines.append(f"Measured (costcalc): {t['measured_s'] * 1e3:.4f} ms (sum of the layers' "
                     f"best; best whole run {t['measured_run_s'] * 1e3:.4f} ms); prediction "
                     f"error {_pct(err)}%")
        if "torch_s" in t:
            lines.append(f"Measured (PyTorch, oracle graph): {t['torch_s'] * 1e3:.4f} ms")
    lines += result.notes
    src = p.source if isinstance(p.source, str) else "; ".join(p.source)
    lines.append(f"Device source: {src}")
    head = f"## {title}" if fmt == "markdown" else title
    out = [head, "", table(headers, rows, fmt), "", table(oh, orows, fmt), ""]
    out.extend(f"- {x}" for x in lines) if fmt == "markdown" else out.extend(lines)
    return "\n".join(out)
