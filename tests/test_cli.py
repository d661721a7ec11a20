"""The command line: formats, JSON schema, thin commands, instant --help."""
import csv
import io
import json
import os
import subprocess
import sys

import pytest


def test_summary_json_schema(run_cli):
    code, out, err = run_cli("summary", "inception-bottleneck", "--format", "json")
    assert code == 0, err
    d = json.loads(out)
    assert set(d["totals"]) >= {"params", "trainable_params", "macs", "flops", "activations"}
    layer = {x["name"]: x for x in d["layers"]}["3x3"]
    assert set(layer) >= {"name", "op", "inputs", "output_shape", "params", "macs", "flops"}
    assert layer["inputs"] == ["3x3/reduce"]
    assert layer["output_shape"] == [128, 28, 28]
    assert layer["macs"] == 28 * 28 * 128 * 9 * 96
    assert d["totals"]["macs"] == sum(x["macs"] for x in d["layers"])
    assert d["totals"]["flops"] == 2 * d["totals"]["macs"] + d["totals"]["other_ops"]


def test_summary_csv_and_markdown(run_cli):
    code, out, _ = run_cli("summary", "conv5x5-bottleneck", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["layer"] for r in rows] == ["5x5/reduce", "5x5", "TOTAL"]
    assert int(rows[-1]["MACs"]) == 28 * 28 * 16 * 192 + 28 * 28 * 32 * 25 * 16
    code, out, _ = run_cli("summary", "conv5x5-bottleneck", "--format", "markdown")
    assert "| layer" in out and "|---" in out.replace(" ", "").replace(":", "")


def test_summary_table_shows_exact_numbers_and_conventions(run_cli):
    code, out, _ = run_cli("summary", "conv5x5")
    assert code == 0
    assert "120,422,400" in out and "153,600" in out
    assert "MAC = one multiply-accumulate" in out


def test_batch_multiplies_macs_not_params(run_cli):
    _, one, _ = run_cli("summary", "conv5x5", "--format", "json")
    _, four, _ = run_cli("summary", "conv5x5", "--format", "json", "--batch", "4")
    one, four = json.loads(one)["totals"], json.loads(four)["totals"]
    assert four["macs"] == 4 * one["macs"] and four["activations"] == 4 * one["activations"]
    assert four["params"] == one["params"]


def test_set_and_input_override(run_cli):
    _, out, _ = run_cli("summary", "conv5x5", "--set", "filters=8", "--input", "16x10x10",
                        "--format", "json")
    d = json.loads(out)
    assert d["input_shape"] == [16, 10, 10]
    assert d["totals"]["macs"] == 10 * 10 * 8 * 25 * 16


def test_compare_prints_ratios(run_cli):
    code, out, _ = run_cli("compare", "conv5x5", "conv5x5-bottleneck")
    assert code == 0
    assert "9.68x fewer" in out          # 120,422,400 / 12,443,648 = 9.677...
    code, out, _ = run_cli("compare", "conv3x3-standard", "conv3x3-separable")
    assert "8.84x fewer" in out          # 462,422,016 / 52,283,392 = 8.844...
    code, out, _ = run_cli("compare", "inception-naive", "inception-bottleneck", "--format", "json")
    d = json.loads(out)
    assert d["specs"][1]["ratio_to_first"]["macs"] == pytest.approx(128049152 / 303464448)


def test_path_works_as_spec_name(run_cli, write_spec):
    p = write_spec("input: [4, 5, 5]\nlayers:\n  - {op: conv2d, filters: 2, kernel: 3}\n",
                   "mine.yaml")
    code, out, _ = run_cli("summary", str(p), "--format", "json")
    assert code == 0 and json.loads(out)["totals"]["macs"] == 3 * 3 * 2 * 9 * 4


def test_ops_lists_every_op_and_conventions(run_cli):
    from costcalc import ops
    code, out, _ = run_cli("ops")
    assert code == 0
    for name in ops.op_names():
        assert f"\n{name}:" in "\n" + out
    assert "FLOPs = 2 x MACs + other ops" in out
    code, out, _ = run_cli("ops", "--format", "json")
    assert {o["op"] for o in json.loads(out)["ops"]} == set(ops.op_names())


def test_list_shows_specs(run_cli):
    code, out, _ = run_cli("list", "--format", "json")
    names = {r["spec"] for r in json.loads(out)}
    assert {"conv5x5", "inception-naive", "inception-bottleneck"} <= names


def test_help_does_not_import_numba_or_pandas():
    code = ("import sys; from costcalc import cli\n"
            "try:\n    cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
            "bad = [m for m in ('numba', 'pandas', 'costcalc.engine') if m in sys.modules]\n"
            "assert not bad, bad")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "compare" in r.stdout


def test_console_script_and_module_entry():
    exe = os.path.join(os.path.dirname(sys.executable), "costcalc")
    r = subprocess.run([exe, "summary", "compress-1x1", "--format", "json"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["totals"]["macs"] == 64 * 64 * 20 * 100
    r = subprocess.run([sys.executable, "-m", "costcalc", "summary", "nope"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.startswith("costcalc: unknown spec 'nope'")


def test_readme_states_the_conventions_verbatim():
    from pathlib import Path
    from costcalc import ops
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert ops.CONVENTIONS.rstrip() in readme
    assert "make test" in readme and "make demo" in readme


def test_readme_shows_real_output(run_cli):
    import re
    from pathlib import Path
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    for cmd in ("compare inception-naive inception-bottleneck", "summary conv5x5-bottleneck"):
        shown = re.search(r"\$ costcalc " + re.escape(cmd) + r"\n(.*?)\n```", readme, re.S)
        assert shown, cmd
        _, out, _ = run_cli(*cmd.split())
        assert shown.group(1).rstrip() == out.rstrip(), cmd


@pytest.mark.parametrize("args,words", [
    (["run", "conv5x5", "--dtype", "float16x"], ["unknown dtype 'float16x'", "float32"]),
    (["run", "vgg16", "--input", "3x8x8"], ["vgg16.yaml:16", "input 3x8x8", "at least 32"]),
    (["run", "alexnet", "--input", "3x8x8"], ["alexnet.yaml:", "larger than its input"]),
    (["run", "vgg16", "--batch", "1000000"], ["GiB", "--batch"]),
])
def test_run_rejects_bad_requests_before_work(run_cli, args, words):
    code, out, err = run_cli(*args)
    assert code == 2 and out == "" and "Traceback" not in err
    for w in words:
        assert w in err, (w, err)


def test_run_counting_mode_reports_equal(run_cli):
    code, out, err = run_cli("run", "conv5x5-bottleneck", "--count", "--input", "192x7x7",
                             "--format", "json")
    assert code == 0, err
    d = json.loads(out)
    # 7*7*16*192 + 7*7*32*5*5*16: same padding keeps 7x7
    assert d["executed_macs"] == d["macs"] == 7 * 7 * 16 * 192 + 7 * 7 * 32 * 25 * 16
    assert d["peak_activations_measured"] == d["peak_activations_analytic"]


def test_run_shows_fused_layers_and_no_fuse_runs_each_layer(run_cli):
    import json
    code, out, err = run_cli("run", "resnet18", "--input", "3x33x33", "--format", "json")
    assert code == 0, err
    layers = {x["name"]: x for x in json.loads(out)["layers"]}
    # conv1: conv -> batch norm -> relu, each the only reader of the one before
    assert layers["conv1_bn"]["fused_into"] == layers["conv1_relu"]["fused_into"] == "conv1_conv"
    assert layers["conv1_bn"]["seconds"] == 0.0 and layers["conv1_conv"]["fused_into"] is None
    code, out, _ = run_cli("run", "resnet18", "--input", "3x33x33")
    assert code == 0 and "computed in" in out and "--no-fuse runs every layer" in out
    code, out, _ = run_cli("run", "resnet18", "--input", "3x33x33", "--no-fuse", "--format",
                           "json")
    assert code == 0 and all(x["fused_into"] is None and x["seconds"] > 0
                             for x in json.loads(out)["layers"])
