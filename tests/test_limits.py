"""Every documented limit on spec input (errors.LIMITS) holds at its boundary: the limit passes,
one past it fails with a clean SpecError, fast and in little memory; real large specs still work."""
import json
import resource
import time

import pytest

from costcalc import errors
from costcalc.analysis import summarize
from costcalc.errors import LIMITS, SpecError, shown
from costcalc.expr import ExprError, evaluate
from costcalc.spec import load_text
from costcalc.yamlload import load_yaml

H = "input: [3, 8, 8]\nlayers:\n"


def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fails_fast(fn, *words, seconds=5.0, mb=300):
    before, t = rss_mb(), time.perf_counter()
    with pytest.raises((SpecError, ExprError)) as info:
        fn()
    assert time.perf_counter() - t < seconds
    assert rss_mb() - before < mb, "memory grew"
    text = str(info.value)
    assert "\n" not in text and len(text) < 600, text
    for w in words:
        assert w in text, (w, text)
    return text


def build(text):
    return load_text(text, "t.yaml").build()


# ----------------------------------------------------------------------------- layers
def test_layers_limit_with_a_repeat_row_is_checked_before_expanding():
    limit = LIMITS["layers"]
    # the input layer counts: limit - 1 repetitions make exactly `limit` layers (see below)
    fails_fast(lambda: build(H + f"  - {{name: r, op: relu, repeat: {limit}}}\n"),
               "2,000,000", seconds=1)
    fails_fast(lambda: build(H + "  - {name: r, op: relu, repeat: 1000000000}\n"),
               "repeat 1,000,000,000", seconds=1)


def test_layers_limit_exactly_passes():
    limit = LIMITS["layers"]
    m = build(H + f"  - {{name: r, op: relu, repeat: {limit - 1}}}\n")
    assert len(m.layers) == limit


def test_layers_limit_boundary_small(monkeypatch):
    from costcalc import spec
    monkeypatch.setattr(spec, "MAX_LAYERS", 50)
    assert len(build(H + "  - {name: r, op: relu, repeat: 49}\n").layers) == 50
    fails_fast(lambda: build(H + "  - {name: r, op: relu, repeat: 50}\n"), "50 layers")
    blk = ("input: [3, 8, 8]\nblocks:\n  u:\n    args: {k: 1}\n    layers:\n"
           "      - {name: a, op: relu, repeat: $k}\nlayers:\n  - {name: x, block: u, k: 7, "
           "repeat: %d}\n")
    assert len(build(blk % 7).layers) == 50               # 7 x 7 + input
    fails_fast(lambda: build(blk % 8), "would make over 50 layers")


def test_nested_repeats_fail_before_expanding():
    nest = "input: [3, 8, 8]\nblocks:\n  b0:\n    layers:\n      - {op: relu}\n"
    for k in range(1, 8):
        nest += f"  b{k}:\n    layers:\n      - {{name: x, block: b{k - 1}, repeat: 10}}\n"
    nest += "layers:\n  - {name: top, block: b7, repeat: 10}\n"     # 10^8 layers
    fails_fast(lambda: build(nest), "layer 'top'", "2,000,000", seconds=1, mb=50)


def test_nested_repeats_from_arguments_fail_early(monkeypatch):
    # Repeat counts from arguments are only known while expanding: the repeat is refused after
    # its second repetition shows what one makes, or as layers are appended: memory stays
    # bounded by the layer limit (here lowered so that the test is quick).
    from costcalc import spec
    monkeypatch.setattr(spec, "MAX_LAYERS", 20000)
    nest = "input: [3, 8, 8]\nblocks:\n  b0:\n    args: {k: 10}\n    layers:\n      - {op: relu}\n"
    for k in range(1, 8):
        nest += (f"  b{k}:\n    args: {{k: 10}}\n    layers:\n"
                 f"      - {{name: x, block: b{k - 1}, repeat: $k}}\n")
    nest += "layers:\n  - {name: top, block: b7, repeat: 10}\n"
    fails_fast(lambda: build(nest), "20,000", seconds=5, mb=100)


def test_expansion_steps_limit():
    skip = "input: [3, 8, 8]\nblocks:\n  b0:\n    layers:\n      - {op: relu, when: false}\n"
    for k in range(1, 5):
        skip += f"  b{k}:\n    layers:\n      - {{name: x, block: b{k - 1}, repeat: 100}}\n"
    skip += "layers:\n  - {name: top, block: b4, repeat: 100}\n"
    fails_fast(lambda: build(skip), "5,000,000 rows", seconds=1)


def test_block_depth_limit():
    def nested(depth):
        text = "input: [3, 8, 8]\nblocks:\n  b0:\n    layers:\n      - {op: relu}\n"
        for k in range(1, depth + 1):
            text += f"  b{k}:\n    layers:\n      - {{name: x, block: b{k - 1}}}\n"
        return text + f"layers:\n  - {{name: top, block: b{depth}}}\n"
    limit = LIMITS["block_depth"]
    # nested(d) puts d + 1 block instances inside each other: b_d ... b0
    assert len(build(nested(limit - 1)).layers) == 2      # input and the one relu
    fails_fast(lambda: build(nested(limit)), f"nested deeper than {limit}")


def test_legit_100k_layer_repeat_row():
    t = time.perf_counter()
    s = summarize(load_text(H + "  - {name: r, op: relu, repeat: 100000}\n", "t.yaml"))
    assert s.totals["layers"] == 100000                       # 100,000 relu rows
    assert s.totals["params"] == 0
    assert time.perf_counter() - t < 60


def test_legit_100k_layer_block_repeated():
    text = ("input: [3, 8, 8]\nblocks:\n  b:\n    layers:\n      - {name: a, op: relu}\n"
            "      - {name: c, op: conv2d, filters: 3, kernel: 1}\n"
            "layers:\n  - {name: u, block: b, repeat: 50000}\n")
    s = summarize(load_text(text, "t.yaml"))
    assert s.totals["layers"] == 100000                       # 50,000 x (relu + conv)
    assert s.totals["params"] == 50000 * (3 * 3 + 3)          # 1x1 conv 3->3 with bias
    assert s.totals["macs"] == 50000 * 8 * 8 * 3 * 3


# ----------------------------------------------------------------------------- YAML
def test_spec_bytes_limit(tmp_path):
    from costcalc.yamlload import load_yaml_file
    limit = LIMITS["spec_bytes"]
    p = tmp_path / "big.yaml"
    body = H + "  - {op: relu}\n"
    p.write_bytes(body.encode() + b"#" * (limit - len(body)))
    assert load_yaml_file(p)["input"] == [3, 8, 8]
    p.write_bytes(body.encode() + b"#" * (limit - len(body) + 1))
    fails_fast(lambda: load_yaml_file(p), "larger than 16,777,216 bytes", seconds=2)


def test_yaml_depth_limit():
    limit = LIMITS["yaml_depth"]
    # the top mapping is level 1, the 'x' value adds (limit - 1) lists
    ok = "x: " + "[" * (limit - 1) + "]" * (limit - 1) + "\n"
    assert "x" in load_yaml(ok)
    bad = "x: " + "[" * limit + "]" * limit + "\n"
    fails_fast(lambda: load_yaml(bad), f"nested deeper than {limit}", seconds=1)
    fails_fast(lambda: load_yaml("x: " + "[" * 100000 + "]" * 100000), "nested deeper",
               seconds=1)


def test_alias_count_limit():
    limit = LIMITS["yaml_aliases"]
    head = "a: &a 1\nb: ["
    assert len(load_yaml(head + ", ".join(["*a"] * limit) + "]\n")["b"]) == limit
    fails_fast(lambda: load_yaml(head + ", ".join(["*a"] * (limit + 1)) + "]\n"),
               f"more than {limit} YAML aliases", seconds=1)


def test_alias_expansion_limit():
    limit = LIMITS["yaml_alias_nodes"]
    # *a stands for a list of 99 scalars: 100 values; 1000 uses copy 100,000 values
    anchor = "a: &a [" + ", ".join(["1"] * 99) + "]\n"
    assert load_yaml(anchor + "b: [" + ", ".join(["*a"] * (limit // 100)) + "]\n")
    anchor2 = "a: &a [" + ", ".join(["1"] * 100) + "]\n"       # 101 values
    fails_fast(lambda: load_yaml(anchor2 + "b: [" + ", ".join(["*a"] * (limit // 100)) + "]\n"),
               "alias bomb", seconds=1)


def test_billion_laughs_fails_in_well_under_a_second():
    bomb = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    prev = "a"
    for ch in "bcdefghi":
        bomb += f"{ch}: &{ch} [{','.join(['*' + prev] * 9)}]\n"
        prev = ch
    text = fails_fast(lambda: load_text(bomb), "alias bomb", seconds=0.5, mb=20)
    assert "<spec>:" in text


def test_numbers_at_the_int64_boundary():
    assert load_yaml("x: 9223372036854775807")["x"] == 2 ** 63 - 1
    assert load_yaml("x: -9223372036854775808")["x"] == -2 ** 63
    fails_fast(lambda: load_yaml("x: 9223372036854775808"), "64-bit")
    fails_fast(lambda: load_yaml("x: " + "9" * 100000), "64-bit", seconds=1)
    for v in (".inf", "-.inf", ".nan", "1.0e+400"):
        fails_fast(lambda: load_yaml(f"x: {v}"), "not a finite number")


def test_dates_stay_text_and_json_works(tmp_path, run_cli):
    p = tmp_path / "d.yaml"
    p.write_text("params:\n  released: 2024-01-01\nsource: {paper: x, date: 2015-12-10}\n" + H
                 + "  - {op: relu}\n")
    code, out, err = run_cli("summary", str(p), "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["params_set"]["released"] == "2024-01-01"


# ----------------------------------------------------------------------------- expressions
def test_expression_length_limit():
    limit = LIMITS["expr_chars"]
    ok = "1" + "+1" * ((limit - 1) // 2)
    assert len(ok) <= limit and evaluate(ok, {}) == (limit + 1) // 2
    bad = "1" * (limit + 1)
    fails_fast(lambda: evaluate(bad, {}), f"at most {limit:,}")


def test_string_and_list_limits():
    s, n = LIMITS["string_chars"], LIMITS["list_items"]
    assert len(evaluate(f"'a'*{s}", {})) == s
    fails_fast(lambda: evaluate(f"'a'*{s + 1}", {}), f"{s:,} characters")
    fails_fast(lambda: evaluate("'a'*10**10", {}), "characters", seconds=0.5, mb=20)
    assert len(evaluate(f"[0]*{n}", {})) == n
    fails_fast(lambda: evaluate(f"[0]*{n + 1}", {}), f"{n:,} items")
    fails_fast(lambda: evaluate("[0]*10**9", {}), "items", seconds=0.5, mb=20)
    fails_fast(lambda: evaluate("s+s", {"s": "a" * (s // 2 + 1)}), "characters")


def test_integer_limit_and_powers():
    assert evaluate("2**62 + (2**62 - 1)", {}) == 2 ** 63 - 1
    fails_fast(lambda: evaluate("2**62 + 2**62", {}), "64-bit")
    assert evaluate("-2**62 - 2**62", {}) == -2 ** 63
    for e in ("2**64**64", "(10**60)**60", "(2**32)**2", "10**19", "2**100000", "9**9**9"):
        fails_fast(lambda: evaluate(e, {}), seconds=0.5, mb=20)
    assert evaluate("2**62", {}) == 2 ** 62
    assert evaluate("(-2)**63", {}) == -2 ** 63


def test_no_function_values_leave_the_evaluator():
    for e in ("max", "str", "auto"):
        text = fails_fast(lambda: evaluate(e, {"auto": print}), "is a function")
        assert "<" not in text
    fails_fast(lambda: evaluate("float('inf')", {}), "finite")


def test_shown_is_short_and_never_builds_huge_text():
    assert len(shown("x" * 10_000_000)) < 200
    assert "digits" in shown(10 ** 5000)
    assert len(shown([0] * 10 ** 6)) < 200
    assert shown(5) == "5" and shown("a") == "'a'"
    assert shown(max) == "a function"


def test_limits_are_listed_in_the_readme():
    from pathlib import Path
    readme = (Path(errors.__file__).resolve().parent.parent / "specs" / "README.md").read_text()
    for name in LIMITS:
        assert f"`{name}`" in readme, name
