"""Measured time for the contrast reports, recorded once so the reports stay reproducible.

`costcalc report --measure` calibrates this machine (roofline.calibrate, not saved as the
machine's profile), runs every case below with costcalc's forward pass and, when torch is
installed, PyTorch's on the same graph (each layer's best of REPEAT runs after a warm-up), and
records it all in the reports folder as data/measured.json. `costcalc report` and `report
--check` read that record and never measure, so the same record gives the same reports on any
machine; a record whose layers or MACs no longer match a case's spec is refused (re-measure).

Each case is a spec (name, --set values, input) or an in-memory module (the separable report's
one-layer pairs, rebuilt from their parameters): a case's key names it in the record.
"""
from __future__ import annotations

import datetime
import json
import math
import platform
from pathlib import Path

from .errors import CostcalcError, UsageError

MEASURED = "data/measured.json"      # inside the reports folder
FORMAT = 1
REPEAT = 5              # runs of each case at least (each layer's best counts)
CASE_SECONDS = 0.5      # ... and about this many seconds of runs per case
MAX_REPEAT = 200
# Networks whose own reports show measured time too (bench/bench_forward.py's set; mobilenet is
# a contrast case already)
NETWORKS = ("mobilenet", "resnet50", "vgg16", "inception-v3", "xception")
DTYPE = "float32"


class MeasuredError(CostcalcError):
    """A recorded measurement that cannot be used (path: what is wrong, what was expected)."""


def cases() -> dict:
    """{key: (spec or spec name, --set values)} of every case the reports measure: the contrast
    reports' cases and the NETWORKS."""
    from . import contrasts
    out = {name: (name, {}) for name in ("conv3x3-standard", "conv3x3-separable", "mobilenet",
                                         "mobilenet-conv", "conv5x5", "conv5x5-bottleneck",
                                         "inception-naive", "inception-bottleneck")}
    out.update({name: (name, {}) for name in NETWORKS})
    for m, n, k, f in contrasts.SEPARABLE_CASES:
        std, sep = contrasts.separable_specs(m, n, k, f)
        out[f"standard-{m}-{n}-{k}-{f}"] = (std, {})
        out[f"separable-{m}-{n}-{k}-{f}"] = (sep, {})
    for a, *_ in contrasts.TABLE6:
        if a != 1.0:
            out[f"mobilenet-alpha-{a}"] = ("mobilenet", {"alpha": a})
    for r, *_ in contrasts.TABLE7:
        if r != 224:
            out[f"mobilenet-resolution-{r}"] = ("mobilenet", {"resolution": r})
    return out


def case_summary(key: str):
    from .analysis import summarize
    spec, sets = cases()[key]
    return summarize(spec, sets)


def measure(repeat: int = REPEAT, seconds: float = 2.0, progress=None, torch: bool = True) -> dict:
    """Measure every case (see the module docstring); the record as a dict."""
    from . import roofline
    from .analysis import summarize
    profile = roofline.calibrate(seconds, save=False)
    timer = roofline.default_torch_timer() if torch else None
    record = {"format": FORMAT, "dtype": DTYPE, "batch": 1, "repeat": repeat,
              "case_seconds": CASE_SECONDS,
              "date": datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
              .isoformat(),
              "machine": {"cpu": roofline.cpu_model(), "python": platform.python_version(),
                          "blas": roofline._blas_name(), "torch": _torch_version(timer)},
              "profile": _profile_data(profile), "cases": {}}
    all_cases = cases()
    for k, (key, (spec, sets)) in enumerate(all_cases.items()):
        if progress:
            progress(k, len(all_cases), key)
        s = summarize(spec, sets)
        # small cases run more often: about CASE_SECONDS of runs each (best of them counts)
        _, once = roofline.measure_layers(spec, sets, None, 1, DTYPE, 0, 1)
        n = max(repeat, min(MAX_REPEAT, math.ceil(CASE_SECONDS / max(once, 1e-6))))
        times, run_s = roofline.measure_layers(spec, sets, None, 1, DTYPE, 0, n)
        if timer:
            roofline.pause()
        ttimes = (timer(s.model, batch=1, dtype=DTYPE, seed=0, repeat=n) if timer else {})
        record["cases"][key] = {
            "spec": s.id, "set": {n: v for n, v in sets.items()},
            "macs": s.totals["macs"], "run_s": run_s, "repeat": n,
            "layers": [[r.name, times[r.name], ttimes.get(r.name)] for r in s.layers]}
    return checked(record, MEASURED)


def _torch_version(timer):
    if timer is None:
        return None
    import torch
    return torch.__version__


def _profile_data(profile) -> dict:
    d = {"name": profile.name, "title": profile.title, "kind": profile.kind,
         "source": profile.source, "peak_flops": dict(profile.peak_flops),
         "bandwidth": profile.bandwidth}
    if profile.notes:
        d["notes"] = profile.notes
    return d


def dumps(record: dict) -> str:
    """The record as stored (without what checked() adds)."""
    return json.dumps({k: v for k, v in record.items() if k not in ("device", "path")},
                      indent=1) + "\n"


def load_measured(path) -> dict | None:
    """The record at ``path`` (validated), or None when there is none."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise MeasuredError(f"{path}: cannot be read as JSON ({exc}); expected the record "
                            "`costcalc report --measure` writes") from None
    return checked(record, path)


def checked(record, path) -> dict:
    """The record validated, with its profile parsed (record["device"]) and its path noted."""
    problem = _problem(record)
    if problem:
        raise MeasuredError(f"{path}: {problem}; expected the record `costcalc report --measure`"
                            " writes (run it again)")
    from .roofline import parse_profile
    try:
        device = parse_profile(record["profile"], path)
    except CostcalcError as exc:
        raise MeasuredError(f"{path}: profile: {exc}") from None
    return {**record, "device": device, "path": str(path)}


def _problem(r) -> str | None:
    if not isinstance(r, dict) or r.get("format") != FORMAT:
        return f"not a format-{FORMAT} record"
    if r.get("dtype") != DTYPE or r.get("batch") != 1:
        return f"recorded for dtype {r.get('dtype')!r}, batch {r.get('batch')!r}"
    if not isinstance(r.get("profile"), dict) or not isinstance(r.get("cases"), dict):
        return "no 'profile' or 'cases'"
    if not _seconds(r.get("case_seconds")) or isinstance(r.get("repeat"), bool) \
            or not isinstance(r.get("repeat"), int) or r["repeat"] < 1:
        return "'case_seconds' must be positive seconds and 'repeat' a positive integer"
    if not isinstance(r.get("machine"), dict) or not isinstance(r.get("date"), str):
        return "no 'machine' or 'date'"
    for key, c in r["cases"].items():
        rows = c.get("layers") if isinstance(c, dict) else None
        if not isinstance(rows, list) or not all(
                isinstance(x, list) and len(x) == 3 and isinstance(x[0], str)
                and _seconds(x[1]) and (x[2] is None or _seconds(x[2])) for x in rows):
            return f"case '{key}': 'layers' must be [name, costcalc seconds, PyTorch seconds " \
                   "or null] rows with positive finite seconds"
    return None


def _seconds(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0


def case_times(record, key: str, summary):
    """({layer: costcalc seconds}, {layer: PyTorch seconds} or None) of a recorded case,
    refused unless it was recorded for this summary's layers and MACs."""
    c = record["cases"].get(key)
    where = record.get("path", MEASURED)
    if c is None:
        raise MeasuredError(f"{where}: no case '{key}'; expected a record of every case the "
                            "reports measure (run `costcalc report --measure`)")
    names = [x[0] for x in c["layers"]]
    want = [r.name for r in summary.layers]
    if names != want or c.get("macs") != summary.totals["macs"]:
        raise MeasuredError(f"{where}: case '{key}' was measured on {len(names)} layers and "
                            f"{c.get('macs')} MACs, but {summary.id} now has {len(want)} layers "
                            f"and {summary.totals['macs']} MACs; expected a fresh measurement "
                            "(run `costcalc report --measure`)")
    mine = {x[0]: x[1] for x in c["layers"]}
    theirs = {x[0]: x[2] for x in c["layers"]}
    return mine, (theirs if all(v is not None for v in theirs.values()) else None)


def case_result(record, key: str, summary, device=None):
    """roofline.predict of a recorded case: predicted on ``device`` (default: the machine as
    calibrated when recorded) with the recorded times next to it."""
    from .roofline import predict
    mine, theirs = case_times(record, key, summary)
    return predict(summary, record["device"] if device is None else device, DTYPE, mine, theirs)


def check_options(repeat) -> None:
    if isinstance(repeat, bool) or not isinstance(repeat, int) or not 1 <= repeat <= 100:
        raise UsageError(f"--repeat must be an integer from 1 to 100, got {repeat!r}")
