"""Every user mistake: one clear line with file:line and layer, exit 2, never a traceback."""
import pytest

GOOD_HEAD = "input: [3, 8, 8]\nlayers:\n"

CASES = [
    # (spec text, line the error must point at, words the message must contain)
    ("input: [3, 8, 8]\nlayers:\n  - {op: relu\n", 4, ["YAML syntax error"]),
    ("input: [3, 8, 8]\ninput: [3, 4, 4]\nlayers:\n  - {op: relu}\n", 2,
     ["duplicate key 'input'", "line 1"]),
    (GOOD_HEAD + "  - {name: c, op: conv2dd, filters: 4, kernel: 3}\n", 3,
     ["unknown op 'conv2dd'", "did you mean 'conv2d'", "known ops:", "max_pool2d"]),
    (GOOD_HEAD + "  - {name: r, op: relu, inputs: nothere}\n", 3,
     ["layer 'r'", "unknown input 'nothere'"]),
    (GOOD_HEAD + "  - {name: r, op: relu}\n  - {name: r, op: relu}\n", 4,
     ["duplicate layer name 'r'", "first defined on line 3"]),
    (GOOD_HEAD + "  - {name: a, op: relu, inputs: b}\n  - {name: b, op: relu, inputs: a}\n", 3,
     ["layer 'a'", "input 'b' is defined later", "cycle"]),
    (GOOD_HEAD + "  - {name: c, op: conv2d, kernel: 3}\n", 3,
     ["layer 'c'", "needs attribute 'filters'"]),
    (GOOD_HEAD + "  - name: c\n    op: conv2d\n    filters: four\n    kernel: 3\n", 5,
     ["layer 'c'", "attribute 'filters'", "expected an integer", "'four'"]),
    (GOOD_HEAD + "  - {name: c, op: conv2d, filters: 4, kernel: 3, stride: 2}\n", 3,
     ["has no attribute 'stride'", "did you mean 'strides'"]),
    (GOOD_HEAD + "  - {name: c, op: conv2d, filters: 4, kernel: 3}\n"
     "  - {name: s, op: add, inputs: [c, input]}\n", 4,
     ["layer 's'", "4x6x6", "3x8x8"]),
    (GOOD_HEAD + "  - {name: p, op: max_pool2d, kernel: 2}\n"
     "  - {name: k, op: concat, inputs: [p, input]}\n", 4,
     ["layer 'k'", "3x4x4", "3x8x8", "height and width"]),
    (GOOD_HEAD + "  - {name: big, op: conv2d, filters: 4, kernel: 11}\n", 3,
     ["layer 'big'", "window 11x11", "larger than its input 3x8x8"]),
    (GOOD_HEAD + "  - {name: c, op: conv2d, filters: 0, kernel: 3}\n", 3,
     ["expected an integer >= 1, got 0"]),
    ("input: [3, 0, 8]\nlayers:\n  - {op: relu}\n", 1, ["input must be [C, H, W] of positive"]),
    (GOOD_HEAD + "  - {name: c, op: conv2d, filters: 4, kernel: 3, groups: 2}\n", 3,
     ["input channels 3 are not divisible by groups=2"]),
    (GOOD_HEAD + "  - {name: d, op: dense, units: 4}\n", 3,
     ["dense expects a flat input", "3x8x8", "flatten"]),
    (GOOD_HEAD + "  - {name: b, block: nope}\n", 3, ["unknown block 'nope'"]),
    ("input: [3, 8, 8]\nblocks:\n  unit:\n    args: {filters: ~}\n    layers:\n"
     "      - {op: conv2d, filters: $filters, kernel: 1}\nlayers:\n  - {name: u, block: unit}\n",
     8, ["block 'unit' needs argument 'filters'"]),
    ("input: [3, 8, 8]\nlayerz: []\nlayers:\n  - {op: relu}\n", 2,
     ["unknown key 'layerz'", "did you mean 'layers'"]),
    (GOOD_HEAD + "  - {name: c, op: conv2d, filters: $nope, kernel: 1}\n", 3,
     ["unknown name 'nope'"]),
    (GOOD_HEAD + "  - {name: r, op: relu, inputs: [input, input]}\n", 3,
     ["relu takes 1 input(s), got 2"]),
    ("input: [3, 8, 8]\nlayers:\n  - {name: c, op: conv2d, filters: 4, kernel: 3}\n"
     "expect:\n  - {quantity: mcas, value: 3, source: x}\n", 5, ["unknown quantity 'mcas'"]),
    ("input: [3, 8, 8]\nblocks:\n  unit:\n    args: {n: 4}\n    layers:\n"
     "      - {op: relu}\nlayers:\n  - {name: u, block: unit}\n", 4,
     ["argument name 'n' is reserved"]),
    (GOOD_HEAD + "  - {name: r, op: relu, when: 'x > 1'}\n", 3,
     ["when must be true/false or an expression"]),
]


@pytest.mark.parametrize("text,line,words", CASES, ids=[c[2][0][:40] for c in CASES])
def test_bad_spec(run_cli, write_spec, text, line, words):
    path = write_spec(text)
    code, out, err = run_cli("summary", str(path))
    assert code == 2, err
    assert out == ""                                    # nothing half-written
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert f"bad.yaml:{line}: " in lines[0], err
    for w in words:
        assert w in lines[0], (w, err)


@pytest.mark.parametrize("args,words", [
    (["summary", "resnet5"], ["unknown spec 'resnet5'", "did you mean"]),
    (["summary", "inception-naiv"], ["did you mean 'inception-naive'"]),
    (["summary", "conv5x5", "--set", "filter=3"], ["unknown parameter 'filter'",
                                                   "did you mean 'filters'"]),
    (["summary", "conv5x5", "--set", "filters=abc"], ["parameter 'filters' expects an integer"]),
    (["summary", "conv5x5", "--set", "filters"], ["not name=value"]),
    (["summary", "conv5x5", "--input", "3x224"], ["--input '3x224' is not CxHxW"]),
    (["summary", "conv5x5", "--input", "0x5x5"], ["is not CxHxW"]),
    (["summary", "conv5x5", "--batch", "0"], ["--batch must be a positive integer"]),
    (["summary", "no/such/file.yaml"], ["does not exist"]),
    (["compare", "conv5x5"], ["at least two specs"]),
    (["summary", "conv5x5", "--format", "xml"], ["Invalid value for '--format'"]),
])
def test_bad_command_line(run_cli, args, words):
    code, out, err = run_cli(*args)
    assert code == 2
    assert out == ""
    assert "Traceback" not in err
    for w in words:
        assert w in err, (w, err)


def test_overflow_is_reported_not_wrapped(run_cli):
    # 2^31 x 2^31 map: MACs of the 5x5 conv = 2^62 * 32 * 4800 > 2^63
    code, out, err = run_cli("summary", "conv5x5", "--input", f"192x{2**31}x{2**31}")
    assert code == 2
    assert "int64" in err and "conv5x5.yaml" in err and "layer '5x5'" in err
