"""The Python API: the README's examples run (doctest), and the API returns what the command
line prints (one path)."""
import doctest
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import costcalc

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_api_examples_run():
    text = README.read_text()
    section = text[text.index("## Python API"):text.index("## Training costs")]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert blocks, "the README's API section has its examples in ```python blocks"
    parser = doctest.DocTestParser()
    test = parser.get_doctest("\n".join(blocks), {}, "README.md", str(README), 0)
    assert len(test.examples) >= 10
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    runner.run(test)
    assert runner.summarize(verbose=False).failed == 0


def test_api_module_doctests():
    from costcalc import api
    assert doctest.testmod(api).failed == 0


def test_the_issue_example():
    assert costcalc.analyze("resnet50").layers.macs.sum() == 3857973248


def test_api_and_cli_are_one_path(run_cli):
    code, out, _ = run_cli("summary", "mobilenet-v2", "--format", "json")
    assert code == 0
    cli = json.loads(out)
    a = costcalc.analyze("mobilenet-v2")
    assert cli["totals"] == {k: v for k, v in a.totals.items() if k in cli["totals"]}
    assert [r["name"] for r in cli["layers"]] == a.layers.name.tolist()
    assert [r["macs"] for r in cli["layers"]] == a.layers.macs.tolist()


def test_sums_and_groups_agree():
    a = costcalc.analyze("inception-v3", set={"classes": 10}, input=(3, 299, 299))
    assert a.by_op().macs.sum() == a.totals["macs"] == a.by_block(1).macs.sum()
    assert a.by_op().params.sum() == a.totals["params"]
    assert "<table" in a._repr_html_() and "inception-v3" in repr(a)


def test_import_costcalc_is_light():
    code = ("import sys, costcalc; bad = [m for m in ('pandas', 'numba', 'costcalc.api') "
            "if m in sys.modules]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    assert out.strip() == "[]"


def test_bad_api_input_is_a_costcalc_error():
    from costcalc.errors import CostcalcError
    with pytest.raises(CostcalcError, match="unknown spec"):
        costcalc.analyze("resnet5O")
    with pytest.raises(CostcalcError, match="depth must be a positive integer"):
        costcalc.analyze("resnet50").by_block(0)
    with pytest.raises(AttributeError):
        costcalc.no_such_function


def test_layers_carry_the_bytes_columns():
    """conv5x5: a 5x5 conv 192 -> 32 on 28x28 (no bias), float32: reads the input and the
    kernel, writes the output, 4 bytes each."""
    row = costcalc.analyze("conv5x5").layers.iloc[0]
    assert row.bytes_read == (192 * 28 * 28 + 5 * 5 * 192 * 32) * 4
    assert row.bytes_written == 32 * 28 * 28 * 4
    assert row.intensity == pytest.approx(row.flops / (row.bytes_read + row.bytes_written))
