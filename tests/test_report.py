"""Reports: deterministic, checked against the committed ones, numbers traceable."""
import re
from pathlib import Path

import pytest

from costcalc import report
from costcalc.analysis import summarize

ROOT = Path(__file__).resolve().parent.parent


def test_build_is_deterministic():
    assert report.build(["conv5x5", "resnet50"]) == report.build(["conv5x5", "resnet50"])


def test_committed_reports_are_up_to_date():
    assert report.check(ROOT / "reports") == []


def test_check_names_the_file_and_first_differing_line(tmp_path, monkeypatch):
    report.write(tmp_path)
    # a spec changes without regenerating: shadow conv5x5 with 16 filters instead of 32
    specs = tmp_path / "specs"
    specs.mkdir()
    text = (ROOT / "specs" / "conv5x5.yaml").read_text().replace("filters: 32 ", "filters: 16 ")
    (specs / "conv5x5.yaml").write_text(text)
    monkeypatch.setenv("COSTCALC_SPECS", str(specs))
    problems = report.check(tmp_path)
    assert any(p.startswith(str(tmp_path / "conv5x5.md") + ":") and "out of date" in p
               for p in problems), problems
    assert any(str(tmp_path / "README.md") in p for p in problems)


def test_check_reports_a_missing_file(tmp_path):
    report.write(tmp_path)
    (tmp_path / "vgg16.md").unlink()
    assert any("vgg16.md: missing" in p for p in report.check(tmp_path))


def test_spec_report_numbers():
    text = report.spec_report("vgg16")
    # VGG16: the three fully connected layers hold most parameters but few MACs
    s = summarize("vgg16")
    fc = [r for r in s.layers if r.op == "dense"]
    fc_params = sum(r.params for r in fc)
    assert fc_params == (7 * 7 * 512 * 4096 + 4096) + (4096 * 4096 + 4096) + (4096 * 1000 + 1000)
    assert fc_params / s.totals["params"] > 0.85
    assert sum(r.macs for r in fc) / s.totals["macs"] < 0.01
    row = next(line for line in text.splitlines() if line.startswith("| dense"))
    assert f"{fc_params:,}" in row


def test_resnet50_stages_in_report():
    text = report.spec_report("resnet50")
    for stage in ("conv2", "conv3", "conv4", "conv5"):
        assert re.search(rf"^\| {stage} +\|", text, re.M), stage


MERMAID_KINDS = ("flowchart", "xychart-beta", "pie", "graph")


def mermaid_blocks(text):
    return re.findall(r"```mermaid\n(.*?)```", text, re.S)


@pytest.mark.parametrize("path", sorted((ROOT / "reports").glob("*.md")), ids=lambda p: p.name)
def test_mermaid_blocks_are_well_formed(path):
    for block in mermaid_blocks(path.read_text()):
        lines = block.strip().splitlines()
        assert lines[0].split()[0] in MERMAID_KINDS, lines[0]
        if lines[0].startswith("flowchart"):
            nodes = set()
            for line in lines[1:]:
                m = re.match(r'\s+(n\d+)\["[^"]*"\]$', line)
                e = re.match(r"\s+(n\d+) --> (n\d+)$", line)
                assert m or e, line
                if m:
                    nodes.add(m.group(1))
                else:
                    assert e.group(1) in nodes and e.group(2) in nodes, line
        if lines[0] == "xychart-beta":
            xs = re.search(r"x-axis .*\[(.*)\]", block).group(1)
            ys = re.search(r"(?:bar|line) \[(.*)\]", block).group(1)
            assert len(re.findall(r'"[^"]*"', xs)) == len(ys.split(","))
