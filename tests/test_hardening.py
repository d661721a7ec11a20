"""Hostile command-line input and numeric edge cases that a corpus case file cannot express:
closed or full stdout, FIFOs and symlink loops as spec paths, report I/O errors, the memory
estimate of `run` against measured RSS, one overflow rule for summary, sweep and run."""
import errno
import json
import os
import subprocess
import sys

import numpy as np
import pytest

EXE = os.path.join(os.path.dirname(sys.executable), "costcalc")


def one_line_error(code, out, err):
    assert code == 2, err
    assert out == ""
    assert "Traceback" not in err and "internal error" not in err, err
    assert len(err.strip().splitlines()) == 1, err


# ----------------------------------------------------------------------------- stdout
def test_closed_stdout_is_an_error():
    r = subprocess.run(["bash", "-c", f"'{EXE}' summary conv5x5 >&-"], capture_output=True,
                       text=True)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "standard output is closed" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_full_stdout_is_an_error():
    with open("/dev/full", "w") as full:
        r = subprocess.run([EXE, "summary", "resnet50"], stdout=full, stderr=subprocess.PIPE,
                           text=True)
    assert r.returncode == 2, r.stderr
    assert "cannot write the output" in r.stderr and "No space left" in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_stdout_failing_mid_write(run_cli, monkeypatch):
    class Broken:
        def write(self, text):
            raise OSError(errno.EIO, "Input/output error")

        def flush(self):
            pass

    import costcalc.cli as cli
    monkeypatch.setattr(cli.sys, "stdout", Broken())
    code, _, err = run_cli("summary", "conv5x5")
    assert code == 2 and "Input/output error" in err and "Traceback" not in err


# ----------------------------------------------------------------------------- spec paths
def test_fifo_as_spec_path(run_cli, tmp_path):
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    code, out, err = run_cli("summary", str(fifo))       # must not block reading it
    one_line_error(code, out, err)
    assert "is a FIFO" in err and "expected a path to a .yaml file" in err


def test_symlink_loop_as_spec_path(run_cli, tmp_path):
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.symlink_to(b)
    b.symlink_to(a)
    for cmd in ("summary", "run", "sweep"):
        code, out, err = run_cli(cmd, str(a))
        one_line_error(code, out, err)
        assert "symbolic link loop" in err


def test_directory_as_spec_path_in_compare(run_cli, tmp_path):
    code, out, err = run_cli("compare", "conv5x5", str(tmp_path))
    one_line_error(code, out, err)
    assert "is a directory" in err


# ----------------------------------------------------------------------------- report I/O
def _no_tmp(folder):
    return not list(folder.rglob("*.tmp"))


def test_report_disk_full_leaves_nothing(run_cli, tmp_path, monkeypatch):
    from costcalc import report
    calls = []

    def full(path, text):
        calls.append(path)
        if len(calls) == 2:                    # the second file: the disk fills up mid-way
            with open(path, "w") as f:
                f.write(text[:10])
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        report.__dict__["_real_write"](path, text)

    monkeypatch.setitem(report.__dict__, "_real_write", report._write_text)
    monkeypatch.setattr(report, "_write_text", full)
    out = tmp_path / "r"
    code, stdout, err = run_cli("report", "conv5x5", "resnet18", "--out", str(out))
    one_line_error(code, stdout, err)
    assert "No space left on device" in err and str(calls[1].name) in err
    assert _no_tmp(out) and not list(out.glob("*.md"))      # nothing half-written


def test_report_permission_denied(run_cli, tmp_path, monkeypatch):
    from costcalc import report

    def denied(path, text):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(report, "_write_text", denied)
    code, out, err = run_cli("report", "conv5x5", "--out", str(tmp_path))
    one_line_error(code, out, err)
    assert "Permission denied" in err and "conv5x5.md.tmp" in err and _no_tmp(tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_report_read_only_folder(run_cli, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        code, out, err = run_cli("report", "conv5x5", "--out", str(ro))
    finally:
        ro.chmod(0o755)
    one_line_error(code, out, err)
    assert "ro" in err and _no_tmp(ro)


def test_report_directory_in_the_way(run_cli, tmp_path):
    (tmp_path / "conv5x5.md").mkdir()
    code, out, err = run_cli("report", "conv5x5", "--out", str(tmp_path))
    one_line_error(code, out, err)
    assert "conv5x5.md" in err and "directory" in err and _no_tmp(tmp_path)


def test_report_file_in_place_of_folder(run_cli, tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    code, out, err = run_cli("report", "conv5x5", "--out", str(f))
    one_line_error(code, out, err)
    assert "it is a file, not a folder" in err
    code, out, err = run_cli("report", "conv5x5", "--out", str(f / "sub"))
    one_line_error(code, out, err)


# ----------------------------------------------------------------------------- one rule
def test_batch_overflow_same_in_summary_and_run(run_cli):
    _, _, s = run_cli("summary", "resnet50", "--batch", "1000000000000")
    _, _, r = run_cli("run", "resnet50", "--batch", "1000000000000")
    assert s == r and "MACs x batch" in s


def test_peak_bytes_overflow_same_in_summary_and_sweep(run_cli, write_spec):
    # peak 2^62 elements fits int64; x 4 bytes does not: sweep printed 0 peak bytes
    p = write_spec("input: [1, 1, 8]\nlayers:\n  - {name: r, op: relu}\n")
    big = 2**61
    code, out, err = run_cli("sweep", str(p), "--input", f"1x1x8,{big}", "--format", "json")
    assert code == 0, err
    points = json.loads(out)["points"]
    assert points[0]["status"] == "ok"
    assert points[1]["status"] == "overflow" and points[1]["totals"] is None
    code, _, s = run_cli("summary", str(p), "--input", f"1x1x{big}")
    assert code == 2 and s.strip().endswith(points[1]["reason"])
    code, out, _ = run_cli("sweep", str(p), "--input", f"1x1x8,{big}", "--format", "csv")
    assert ",0," not in out.splitlines()[2]


def test_sweep_and_summary_agree_on_a_total_overflow(run_cli, write_spec):
    p = write_spec("input: [1, 1, 1]\nparams: {u: 4}\nlayers:\n"
                   "  - {name: a, op: dense, units: $u, bias: false}\n"
                   "  - {name: b, op: dense, units: 1, bias: false}\n")
    code, out, err = run_cli("sweep", str(p), "--set", f"u=4,{2**62}", "--format", "json")
    assert code == 0, err
    bad = json.loads(out)["points"][1]
    assert bad["status"] == "overflow"
    _, _, s = run_cli("summary", str(p), "--set", f"u={2**62}")
    assert s.strip().endswith(bad["reason"])


def test_library_rejects_bad_numbers():
    from costcalc.analysis import compare, summarize
    from costcalc.errors import UsageError
    from costcalc.execute import plan
    with pytest.raises(UsageError):
        summarize("conv5x5", batch=True)
    with pytest.raises(UsageError):
        compare(["conv5x5", "conv5x5-bottleneck"], depth=0)
    with pytest.raises(UsageError):
        plan("conv5x5", seed=-1)
    with pytest.raises(UsageError):
        plan("conv5x5", seed=2**64)


def test_help_still_works(run_cli):
    code, out, _ = run_cli("sweep", "--help")
    assert code == 0 and "--yes" in out


def test_usage_errors_are_one_line(run_cli):
    for args in (["summary", "conv5x5", "--format", "xml"], ["summary"], ["nope"],
                 ["summary", "conv5x5", "--batch", "x" * 100000]):
        code, out, err = run_cli(*args)
        one_line_error(code, out, err)
        assert err.startswith("costcalc: ") and len(err) < 600


# ----------------------------------------------------------------------------- sweep guard
def test_sweep_guard_counts_work_not_points(run_cli):
    code, out, err = run_cli("sweep", "resnet50", "--set", "classes=1:9000000:1")
    one_line_error(code, out, err)
    assert "graph build" in err and "--yes" in err


def test_sweep_guard_stops_a_table_that_does_not_fit(monkeypatch):
    from costcalc import sweep
    from costcalc.errors import UsageError
    monkeypatch.setattr(sweep, "_available_bytes", lambda: 1 << 30)
    with pytest.raises(UsageError, match="GiB to build its table output"):
        sweep.sweep("conv5x5", None, "192x1:1000:1x1:1000:1", confirm=True)


# ----------------------------------------------------------------------------- weights
def test_chunked_weights_equal_one_draw():
    from costcalc.execute import WEIGHT_CHUNK, make_weights

    class Op:
        @staticmethod
        def param_shapes(a, x):
            return [("k", (3, WEIGHT_CHUNK // 2 + 7), "fan_in"), ("b", (WEIGHT_CHUNK + 3,), "small"),
                    ("g", (5,), "positive")]

    got = make_weights(Op, None, None, 7, 3, np.float32)
    rng = np.random.default_rng([7, 3])
    want = [np.asarray(rng.standard_normal((3, WEIGHT_CHUNK // 2 + 7))
                       * np.sqrt(2.0 / (WEIGHT_CHUNK // 2 + 7)), np.float32),
            np.asarray(rng.normal(0.0, 0.1, WEIGHT_CHUNK + 3), np.float32),
            np.asarray(rng.uniform(0.5, 1.5, 5), np.float32)]
    for g, w in zip(got, want):
        assert np.array_equal(g, w)


# ----------------------------------------------------------------------------- memory
RSS = r"""
import gc, json, resource, sys
from costcalc import execute, kernels
name, shape, batch = sys.argv[1], sys.argv[2], int(sys.argv[3])
execute.run(name, None, sys.argv[4], 1)          # compile/load the kernels at a small size
kernels.release_scratch()
model, summary = execute.plan(name, None, shape, batch)
est = execute.memory_estimate(model, summary, batch)
gc.collect()


def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024


# Loading or compiling the kernels (LLVM) may have peaked above what the run needs: reset the
# high-water mark to the current RSS (Linux >= 4.0) so ru_maxrss measures this run alone.
try:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    base = status("VmRSS")
except OSError:
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
execute.run(name, None, shape, batch)
peak = max(status("VmHWM") or 0, 0)
grew = peak - base
print(json.dumps({"estimate": est, "measured": grew, "base": base}))
"""


@pytest.mark.parametrize("name,shape,batch,warm", [
    ("vgg16", "3x224x224", 1, "3x32x32"),        # Winograd scratch, fc6's 103 M weights
    ("vgg16", "3x112x112", 4, "3x32x32"),        # Winograd at a batch
])
def test_memory_estimate_against_measured_rss(name, shape, batch, warm):
    r = subprocess.run([sys.executable, "-c", RSS, name, shape, str(batch), warm],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["estimate"] >= d["measured"], d
    assert d["estimate"] <= 3 * d["measured"], d
