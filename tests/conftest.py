import textwrap

import pytest

from costcalc import cli
from costcalc.analysis import summarize
from costcalc.spec import load_text


def spec_from(text, path="t.yaml"):
    return load_text(textwrap.dedent(text), path)


def one_layer(layer: str, input_shape, extra=""):
    """Summary of a spec with one layer row (YAML flow mapping) on ``input_shape``."""
    c, h, w = input_shape
    text = f"input: [{c}, {h}, {w}]\n{extra}layers:\n  - {layer}\n"
    return summarize(spec_from(text))


@pytest.fixture
def run_cli(capsys):
    """Run the CLI in-process: (exit code, stdout, stderr)."""
    def run(*args):
        code = 0
        try:
            cli.main(list(args))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        out = capsys.readouterr()
        return code, out.out, out.err
    return run


@pytest.fixture
def write_spec(tmp_path):
    def write(text, name="bad.yaml"):
        p = tmp_path / name
        p.write_text(textwrap.dedent(text))
        return p
    return write
