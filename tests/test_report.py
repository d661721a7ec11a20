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


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """Every report written once (with its charts: about half a minute); tests copy it."""
    out = tmp_path_factory.mktemp("reports")
    report.write(out)
    return out


@pytest.fixture
def fresh(written, tmp_path):
    import shutil
    out = tmp_path / "reports"
    shutil.copytree(written, out)
    return out


def test_check_names_the_file_and_first_differing_line(fresh, tmp_path, monkeypatch):
    # a spec changes without regenerating: shadow conv5x5 with 16 filters instead of 32
    specs = tmp_path / "specs"
    specs.mkdir()
    text = (ROOT / "specs" / "conv5x5.yaml").read_text().replace("filters: 32 ", "filters: 16 ")
    (specs / "conv5x5.yaml").write_text(text)
    monkeypatch.setenv("COSTCALC_SPECS", str(specs))
    problems = report.check(fresh)
    assert any(p.startswith(str(fresh / "conv5x5.md") + ":") and "out of date" in p
               for p in problems), problems
    assert any(str(fresh / "README.md") in p for p in problems)


def test_check_reports_a_missing_file(fresh):
    (fresh / "vgg16.md").unlink()
    assert any("vgg16.md: missing" in p for p in report.check(fresh))


def test_a_written_folder_is_up_to_date_and_has_every_chart(written):
    assert report.check(written) == []
    svgs = sorted(p.name for p in (written / "charts").glob("*.svg"))
    assert svgs == sorted(p.name[:-5] + ".svg" for p in (written / "charts").glob("*.json"))
    networks = [n for n in report.available() if report.load(n).kind == "network"]
    for n in networks:
        assert f"{n}-roofline.svg" in svgs and f"{n}-time-by-op.svg" in svgs
        assert f"](charts/{n}-roofline.svg)" in (written / f"{n}.md").read_text()


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
