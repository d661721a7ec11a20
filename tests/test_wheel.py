"""A wheel installed into a fresh venv, outside the source tree, lists and summarises every spec
(issue 14: the zoo ships as package data, costcalc.zoo). The venv borrows the dependencies
(numpy, numba, pandas, ...) of the test environment through a .pth file, so nothing is
downloaded; costcalc itself comes only from the wheel."""
import json
import os
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheel")
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                            "--no-build-isolation", "-w", str(tmp / "dist"), str(ROOT)],
                           capture_output=True, text=True, cwd=tmp)
    if build.returncode != 0:
        pytest.fail(f"building the wheel failed: {build.stderr[-2000:]}")
    wheel = next((tmp / "dist").glob("costcalc-*.whl"))
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    purelib = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()"
                              "['purelib'])"], capture_output=True, text=True,
                             check=True).stdout.strip()
    deps = [p for p in site.getsitepackages() + [sysconfig.get_paths()["purelib"]]
            if os.path.isdir(p)]
    Path(purelib, "borrowed_deps.pth").write_text("\n".join(dict.fromkeys(deps)) + "\n")
    subprocess.run([str(py), "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
                    str(wheel)], check=True, cwd=tmp)
    return venv, tmp


def run(venv, cwd, *args):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "COSTCALC_SPECS")}
    return subprocess.run([str(venv / "bin" / "costcalc"), *args], capture_output=True,
                          text=True, cwd=cwd, env=env)


def test_the_wheel_is_the_one_imported(installed):
    venv, tmp = installed
    out = subprocess.run([str(venv / "bin" / "python"), "-c",
                          "import costcalc; print(costcalc.__file__)"], capture_output=True,
                         text=True, cwd=tmp, check=True).stdout
    assert str(venv) in out and str(ROOT) not in out


def test_list_and_summarise_every_spec_from_elsewhere(installed):
    venv, tmp = installed
    listed = run(venv, tmp, "list", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    names = [r["spec"] for r in json.loads(listed.stdout)]
    want = sorted(p.stem for p in (ROOT / "specs").glob("*.yaml"))
    assert set(want) <= set(names) and "efficientnet-b3" in names
    assert not any("cannot load" in r["title"] for r in json.loads(listed.stdout))
    code = ("import json, sys; from costcalc.analysis import summarize; "
            "names = json.loads(sys.argv[1]); "
            "print(json.dumps({n: summarize(n).totals['macs'] for n in names}))")
    out = subprocess.run([str(venv / "bin" / "python"), "-c", code, json.dumps(names)],
                         capture_output=True, text=True, cwd=tmp)
    assert out.returncode == 0, out.stderr[-2000:]
    macs = json.loads(out.stdout)
    assert macs["resnet50"] == 3857973248 and all(v > 0 for v in macs.values())
    one = run(venv, tmp, "summary", "mobilenet-v2")
    assert one.returncode == 0 and "MACs: 300,774,272" in one.stdout       # Table 2 written out
    rep = run(venv, tmp, "report", "--out", str(tmp / "reports"))
    assert rep.returncode == 0, rep.stderr
    assert (tmp / "reports" / "efficientnet-scaling.md").is_file()
    page = run(venv, tmp, "report", "--html", str(tmp / "html"), "resnet50")
    assert page.returncode == 0, page.stderr
    assert "dagre" in (tmp / "html" / "resnet50.html").read_text()     # the vendored layout
