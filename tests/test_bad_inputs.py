"""The bad-input corpus: tests/bad/<class>/<case>.case, one file per case.

A case file is a header of ``# key: value`` lines, then (optionally) a line ``--- spec`` and the
spec text that the command reads as ``{spec}``:

    # cmd: summary {spec} --batch 3          (the costcalc arguments; {spec}: the spec's path,
                                              {tmp}: a fresh empty directory)
    # exit: 2                                 (default 2)
    # expect: layer 'c'                       (fragments stderr must contain; repeatable)
    # line: 4                                 (optional: stderr starts with <spec>:4: )
    # bytes: b"\\xff\\xfe..."                  (optional: the spec file's raw bytes, a Python
                                              bytes literal, instead of the text after --- spec)
    --- spec
    input: [3, 8, 8]
    ...

Every case must end with exactly one line on stderr containing each fragment, nothing on stdout,
the stated exit code, and never a traceback or "internal error".
"""
import ast
from pathlib import Path

import pytest

BAD = Path(__file__).parent / "bad"
CASES = sorted(BAD.glob("*/*.case"))


def parse_case(path):
    header, spec, raw = {"expect": []}, None, None
    lines = path.read_text(encoding="utf-8").split("\n")
    for k, line in enumerate(lines):
        if line.startswith("--- spec"):
            spec = "\n".join(lines[k + 1:])
            break
        if not line.startswith("#"):
            continue
        key, _, value = line[1:].strip().partition(":")
        value = value.strip()
        if key == "expect":
            header["expect"].append(value)
        elif key == "bytes":
            raw = ast.literal_eval(value)
        else:
            header[key] = value
    return header, spec, raw


def test_the_corpus_is_large():
    assert len(CASES) >= 200, len(CASES)


@pytest.mark.parametrize("path", CASES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_bad_input(run_cli, tmp_path, path):
    header, spec, raw = parse_case(path)
    spec_path = tmp_path / "case.yaml"
    if raw is not None:
        spec_path.write_bytes(raw)
    elif spec is not None:
        spec_path.write_text(spec, encoding="utf-8")
    tmp = tmp_path / "out"
    tmp.mkdir()
    args = [a.replace("{spec}", str(spec_path)).replace("{tmp}", str(tmp))
            for a in header["cmd"].split()]
    code, out, err = run_cli(*args)
    assert code == int(header.get("exit", 2)), err
    assert out == "", out[:500]
    assert "Traceback" not in err and "internal error" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err[:2000]
    assert len(lines[0]) < 600, "a message must not echo a huge value"
    if "line" in header:
        assert f"case.yaml:{header['line']}: " in lines[0], lines[0]
    for fragment in header["expect"]:
        assert fragment in lines[0], (fragment, lines[0])
