"""Spec-format features of issue #11: shapes in expressions, derived values and functions,
lettered repeat names, `pass:` for skipped rows, `prefix: false` and auto names, the
unused-output warning. Every expected number is derived by hand in the comments."""
import math
import subprocess
import sys
import textwrap

import pytest

from costcalc.analysis import summarize
from costcalc.engine import TOTAL_COLUMNS
from costcalc.errors import SpecError, UsageError
from costcalc.expr import ExprError, Shape, evaluate, make_divisible
from costcalc.spec import available, load, load_text
from costcalc.sweep import sweep


def write(tmp_path, text, name="case.yaml"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return str(p)


def names(summary):
    return [r.name for r in summary.layers]


def layer(summary, name):
    return next(r for r in summary.layers if r.name == name)


def fails(tmp_path, text, *fragments, line=None):
    with pytest.raises(SpecError) as info:
        summarize(write(tmp_path, text))
    msg = str(info.value)
    for f in fragments:
        assert f in msg, msg
    if line is not None:
        assert f"case.yaml:{line}: " in msg, msg
    assert len(msg.splitlines()) == 1
    return msg


# ---------------------------------------------------------------- a. shapes in expressions
# A MobileNetV2-like inverted residual block (keras/src/applications/mobilenet_v2.py): the
# expansion width is 6 x the input channels, Keras's correct_pad for a 3x3 stride-2 window pads
# (h % 2, 1) rows and (w % 2, 1) columns, and the residual exists when the stride is 1 and the
# input has as many channels as the block's output.
V2 = """\
    title: mini MobileNetV2
    source: test
    params: {alpha: 1.0}
    derived:
      first: "${make_divisible(32 * alpha)}"
    input: [3, 224, 224]
    blocks:
      inv:
        args: {filters: ~, strides: 1, pointwise: "${make_divisible(int(filters * alpha), 8)}"}
        layers:
          - {name: expand, op: conv2d, filters: "${input.c * 6}", kernel: 1, bias: false}
          - {name: pad, op: zero_pad2d, padding: "${[[input.h % 2, 1], [input.w % 2, 1]]}", when: "${strides == 2}"}
          - {name: depthwise, op: depthwise_conv2d, kernel: 3, strides: $strides, padding: "${'same' if strides == 1 else 'valid'}", bias: false}
          - {name: project, op: conv2d, filters: $pointwise, kernel: 1, bias: false}
          - {name: add, op: add, inputs: [input, project], when: "${strides == 1 and input.c == pointwise}"}
    layers:
      - {name: stem_pad, op: zero_pad2d, padding: "${[[input.h % 2, 1], [input.w % 2, 1]]}"}
      - {name: stem, op: conv2d, filters: $first, kernel: 3, strides: 2, bias: false}
      - {name: b1, block: inv, filters: 32}
      - {name: b2, block: inv, filters: 24, strides: 2}
"""

# The same network written out by hand for a 225 x 225 input (odd: pad 1 on every side).
V2_225 = """\
    title: mini MobileNetV2 for 225
    source: test
    input: [3, 225, 225]
    layers:
      - {name: stem_pad, op: zero_pad2d, padding: [[1, 1], [1, 1]]}
      - {name: stem, op: conv2d, filters: 32, kernel: 3, strides: 2, bias: false}
      - {name: b1/expand, op: conv2d, filters: 192, kernel: 1, bias: false}
      - {name: b1/depthwise, op: depthwise_conv2d, kernel: 3, padding: same, bias: false}
      - {name: b1/project, op: conv2d, filters: 32, kernel: 1, bias: false}
      - {name: b1/add, op: add, inputs: [stem, b1/project]}
      - {name: b2/expand, op: conv2d, filters: 192, kernel: 1, bias: false}
      - {name: b2/pad, op: zero_pad2d, padding: [[1, 1], [1, 1]]}
      - {name: b2/depthwise, op: depthwise_conv2d, kernel: 3, strides: 2, bias: false}
      - {name: b2/project, op: conv2d, filters: 24, kernel: 1, bias: false}
"""


def test_shapes_follow_the_input_option(tmp_path):
    s = summarize(write(tmp_path, V2), None, "3x225x225")
    hand = summarize(write(tmp_path, V2_225, "hand.yaml"))
    assert names(s) == names(hand)
    assert [(r.output_shape, r.params, r.macs, r.other_ops) for r in s.layers] == \
        [(r.output_shape, r.params, r.macs, r.other_ops) for r in hand.layers]
    # 225 + 1 + 1 = 227 -> (227 - 3) // 2 + 1 = 113; b2: 113 + 2 = 115 -> (115 - 3) // 2 + 1 = 57
    macs = (113 * 113 * 32 * 3 * 3 * 3                                    # stem
            + 113 * 113 * 192 * 32 + 113 * 113 * 192 * 9 + 113 * 113 * 32 * 192   # b1
            + 113 * 113 * 192 * 32 + 57 * 57 * 192 * 9 + 57 * 57 * 24 * 192)      # b2
    params = 864 + (32 * 192 + 9 * 192 + 192 * 32) + (32 * 192 + 9 * 192 + 192 * 24)
    assert s.totals["macs"] == macs == 289_041_120
    assert s.totals["params"] == params == 27_360
    assert "b1/add" in names(s)          # stride 1 and 32 == 32 channels: the residual exists
    assert "b2/add" not in names(s)      # stride 2: no residual
    # 224 (even): pad (0, 1) -> 225 -> 112
    assert tuple(layer(summarize(write(tmp_path, V2)), "stem").output_shape) == (32, 112, 112)


def test_sweep_builds_a_shape_reading_spec_per_input(tmp_path):
    path = write(tmp_path, V2)
    result = sweep(path, resolution="224,225")
    col = TOTAL_COLUMNS.index("macs")
    by_input = {tuple(int(v) for v in row): int(t[col])
                for row, t in zip(result.inputs, result.totals)}
    assert by_input[(3, 225, 225)] == 289_041_120
    assert by_input[(3, 224, 224)] == summarize(path).totals["macs"]
    assert by_input[(3, 224, 224)] != by_input[(3, 225, 225)]


def test_shape_of_a_named_layer(tmp_path):
    s = summarize(write(tmp_path, """\
        title: t
        source: test
        input: [3, 32, 32]
        layers:
          - {name: c1, op: conv2d, filters: 16, kernel: 3, strides: 2, padding: same}
          - {name: skipped, op: relu, when: false}
          - {name: c2, op: conv2d, filters: "${shape('c1').c * 2 + shape('skipped').h}", kernel: 1}
          - {name: d, op: conv2d, filters: "${shape('c2').c + shape('c1').h * shape('c2').w}", kernel: 1}
        """))
    # c1: 16x16x16; 'skipped' passes c1 through (h = 16): c2 filters 16*2 + 16 = 48 (48x16x16)
    assert tuple(layer(s, "c2").output_shape) == (48, 16, 16)
    assert tuple(layer(s, "d").output_shape) == (48 + 16 * 16, 16, 16)
    # input.c at the top level is the network's input
    s = summarize(write(tmp_path, """\
        title: t
        source: test
        input: [5, 8, 8]
        layers:
          - {name: c, op: conv2d, filters: "${input.c + input.h + input.w}", kernel: 1}
        """), None, "4x6x7")
    assert tuple(layer(s, "c").output_shape) == (4 + 6 + 7, 6, 7)


def test_a_failing_shape_is_a_spec_error_at_its_layer(tmp_path):
    fails(tmp_path, """\
        title: t
        source: test
        input: [3, 4, 4]
        layers:
          - {name: big, op: conv2d, filters: 8, kernel: 7}
          - {name: c, op: conv2d, filters: "${shape('big').c}", kernel: 1}
        """, "layer 'big' (conv2d)", line=5)
    fails(tmp_path, """\
        title: t
        source: test
        input: [3, 4, 4]
        layers:
          - {name: c, op: conv2d, filters: "${input.x}", kernel: 1}
        """, "input has no 'x'; expected .c, .h or .w", line=5)
    fails(tmp_path, """\
        title: t
        source: test
        input: [3, 4, 4]
        layers:
          - {name: c, op: conv2d, filters: "${input}", kernel: 1}
        """, "is a shape; expected one of its sizes", line=5)
    fails(tmp_path, """\
        title: t
        source: test
        input: [3, 4, 4]
        layers:
          - {name: c, op: conv2d, filters: "${shape('nope').c}", kernel: 1}
        """, "unknown input 'nope'", line=5)


def test_attributes_stay_refused_on_other_values():
    for text in ("(1).real", "'a'.upper", "x.c", "str(s)", "max(s, 1)"):
        with pytest.raises(ExprError):
            evaluate(text, {"x": 3, "s": Shape(lambda: (1, 2, 3), "s")})
    assert evaluate("s.c + s.w", {"s": Shape(lambda: (1, 2, 3), "s")}) == 4


# ---------------------------------------------------------------- b. functions, derived values
def test_make_divisible_is_keras():
    # Keras's own widths, recorded from keras.applications.MobileNetV2 (tests/data, by
    # tools/keras_layers.py): Conv1 = make_divisible(32*alpha, 8); a block's projection =
    # make_divisible(int(filters*alpha), 8); Conv_1 = make_divisible(1280*alpha, 8) above 1.0
    import json
    from pathlib import Path
    keras = json.loads((Path(__file__).parent / "data" / "keras_layers_2017.json").read_text())
    seen = 0
    for alpha in (0.35, 0.5, 0.75, 1.0, 1.3, 1.4):
        rows = {r[0]: r[3]["config"] for r in keras[f"mobilenet-v2-{alpha}-224"]["layers"]
                if "config" in r[3] and "filters" in r[3]["config"]}
        assert rows["Conv1"]["filters"] == make_divisible(32 * alpha, 8)
        for block, filters in ((1, 24), (3, 32), (6, 64), (10, 96), (13, 160), (16, 320)):
            assert rows[f"block_{block}_project"]["filters"] == \
                make_divisible(int(filters * alpha), 8), (alpha, block)
            seen += 1
        assert rows["Conv_1"]["filters"] == (make_divisible(1280 * alpha, 8) if alpha > 1.0
                                             else 1280)
    assert seen == 36
    # by hand: 32 * 0.35 = 11.2: int(15.2) // 8 * 8 = 8 < 0.9 * 11.2 = 10.08, so 8 + 8 = 16
    assert evaluate("make_divisible(32 * 0.35)", {}) == 16
    # 24 * 0.75 = 18: int(22) // 8 * 8 = 16 < 16.2, so 24
    assert evaluate("make_divisible(24 * 0.75, 8)", {}) == 24
    assert evaluate("make_divisible(3, divisor=8, min_value=16)", {}) == 16
    # 3: int(7) // 8 * 8 = 0 < 2.7, so 0 + 8 = 8
    assert evaluate("make_divisible(3, min_value=0)", {}) == 8
    # 0: max(0, int(4) // 8 * 8) = 0, not < 0: 0 (Keras tests `min_value is None`: 0 stays 0)
    assert evaluate("make_divisible(0, min_value=0)", {}) == 0
    for bad in ("make_divisible(8, 0)", "make_divisible('a')", "make_divisible(8, foo=1)",
                "make_divisible(8, 8, divisor=8)", "max(1, key=2)"):
        with pytest.raises(ExprError):
            evaluate(bad, {})


EFFNET = """\
    title: EfficientNet-like naming and rounding
    source: test
    params: {width_coefficient: 1.1, depth_coefficient: 1.2}
    derived:
      stem: "${make_divisible(32 * width_coefficient)}"
      repeats2: "${ceil(depth_coefficient * 2)}"
    input: [3, 16, 16]
    naming: {separator: "_", repeat: "{name}{i:a}"}
    blocks:
      mb:
        args: {filters: ~}
        layers:
          - {name: project_conv, op: conv2d, filters: $filters, kernel: 1, bias: false}
    layers:
      - {name: stem_conv, op: conv2d, filters: $stem, kernel: 3, padding: same, bias: false}
      - {name: block2, block: mb, repeat: $repeats2, filters: "${make_divisible(24 * width_coefficient)}"}
      - {name: block3, block: mb, repeat: "${ceil(depth_coefficient * 1)}", filters: 40}
"""


def test_derived_values_and_lettered_repeats(tmp_path):
    path = write(tmp_path, EFFNET)
    s = summarize(path)
    # stem: 32 * 1.1 = 35.2 -> int(39.2) // 8 * 8 = 32 (>= 31.68): 32
    # block2: ceil(1.2 * 2) = 3 copies a, b, c of 24 * 1.1 = 26.4 -> int(30.4) // 8 * 8 = 24,
    #         not below 0.9 * 26.4 = 23.76: 24
    # block3: ceil(1.2 * 1) = 2 copies
    assert names(s) == ["stem_conv", "block2a_project_conv", "block2b_project_conv",
                        "block2c_project_conv", "block3a_project_conv", "block3b_project_conv"]
    assert layer(s, "stem_conv").output_shape[0] == 32
    assert layer(s, "block2a_project_conv").params == 32 * 24
    # --set reaches the derived values: width 2.0 -> stem 64, block2 48; depth 2.0 -> 4 copies
    s = summarize(path, {"width_coefficient": 2.0, "depth_coefficient": 2.0})
    assert layer(s, "stem_conv").output_shape[0] == 64
    assert [n for n in names(s) if n.startswith("block2")][-1] == "block2d_project_conv"
    assert layer(s, "block2a_project_conv").params == 64 * 48


def test_derived_names_are_checked(tmp_path):
    base = "title: t\nsource: test\nparams: {a: 1}\ninput: [1, 2, 2]\n" \
           "layers: [{op: relu}]\n"
    for derived, frag in (("derived: {a: 2}", "also a parameter"),
                          ("derived: {input: 2}", "is reserved"),
                          ("derived: {b: \"${zz}\"}", "derived 'b': unknown name 'zz'"),
                          ("derived: [1]", "'derived' must be a mapping")):
        with pytest.raises(SpecError) as info:
            load_text(base + derived + "\n", "case.yaml").build()
        assert frag in str(info.value)
    spec = load_text(base + "derived: {b: \"${a * 3}\", c: \"${b + 1}\"}\n", "case.yaml")
    assert spec.build().layers[-1].name == "relu"
    with pytest.raises(Exception, match="unknown parameter 'b'"):
        spec.build({"b": 5})                # a derived value cannot be set


def test_block_argument_defaults_are_expressions(tmp_path):
    s = summarize(write(tmp_path, """\
        title: t
        source: test
        params: {k: 2}
        input: [6, 4, 4]
        blocks:
          b:
            args: {f: ~, g: "${f * k}", h: "${g + input.c}"}
            layers:
              - {name: c1, op: conv2d, filters: $g, kernel: 1}
              - {name: c2, op: conv2d, filters: $h, kernel: 1}
        layers:
          - {name: x, block: b, f: 3}
          - {name: y, block: b, f: 1, g: 5}
        """))
    # x: g = 3 * 2 = 6, h = 6 + 6 input channels = 12; y: g = 5 (given), h = 5 + 12 = 17
    assert [layer(s, n).output_shape[0] for n in ("x/c1", "x/c2", "y/c1", "y/c2")] == \
        [6, 12, 5, 17]


# ---------------------------------------------------------------- c. lettered repeat names
def test_letters_past_z_and_numbering_from_zero(tmp_path):
    text = """\
        title: t
        source: test
        input: [1, 2, 2]
        naming: {repeat: "{name}{i:a}"}
        layers:
          - {name: r, op: relu, repeat: 28}
        """
    s = summarize(write(tmp_path, text))
    assert names(s)[:2] == ["ra", "rb"] and names(s)[25:] == ["rz", "raa", "rab"]
    fails(tmp_path, text.replace("repeat: 28", "repeat: 2, start: 0"),
          "{i:a} numbers from 1", line=6)


@pytest.mark.parametrize("template", ["{name}{j}", "{name}{i:c}", "{name}{i:b}", "{name}{i!r}"])
def test_bad_repeat_templates_are_refused(tmp_path, template):
    fails(tmp_path, f"""\
        title: t
        source: test
        input: [1, 2, 2]
        naming: {{repeat: "{template}"}}
        layers: [{{op: relu}}]
        """, "naming.repeat", "expected only {name} and {i}", line=4)


# ---------------------------------------------------------------- d. pass: and output:
PASS = textwrap.dedent("""\
    title: t
    source: test
    input: [4, 4, 4]
    blocks:
      b:
        args: {proj: false, which: p}
        layers:
          - {name: p, op: conv2d, filters: 8, kernel: 1}
          - {name: q, op: conv2d, filters: 8, kernel: 1, inputs: input}
          - {name: shortcut, op: add, inputs: [p, q], when: $proj, pass: q}
          - {name: r, op: relu, inputs: shortcut}
        output: "${'r' if proj else which}"
    layers:
      - {name: x, block: b}
""")


def test_a_skipped_row_passes_the_named_input(tmp_path):
    s = summarize(write(tmp_path, PASS))
    assert layer(s, "x/r").inputs == ["x/q"]           # not x/p, the first input
    assert s.layers[-1].name == "x/r"
    # output: an expression: proj is false, so the block's output is its argument `which`
    s = summarize(write(tmp_path, PASS + "  - {op: relu, inputs: x}\n"
                                         "  - {name: y, block: b, which: q}\n"
                                         "  - {name: z, op: add, inputs: [y, relu]}\n"))
    assert layer(s, "relu").inputs == ["x/p"]
    assert layer(s, "z").inputs == ["y/q", "relu"]


def test_pass_must_name_an_input(tmp_path):
    fails(tmp_path, PASS.replace("pass: q", "pass: input"),
          "pass: 'input' is not one of the row's inputs", line=10)
    fails(tmp_path, PASS.replace("pass: q", "pass: nope"), "unknown input 'nope'", line=10)
    fails(tmp_path, PASS.replace("which: p}", "which: zz}"), "output 'zz'")
    # checked also where the row is not skipped
    fails(tmp_path, PASS.replace("pass: q", "pass: input").replace("proj: false", "proj: true"),
          "pass: 'input' is not one of the row's inputs", line=10)


# ---------------------------------------------------------------- e. prefix: false, auto names
def test_prefix_false_drops_every_outer_prefix_and_auto_names_resolve(tmp_path):
    # ResNet50V2's unnamed shortcut max pool inside a named block
    s = summarize(write(tmp_path, """\
        title: t
        source: test
        input: [8, 8, 8]
        naming: {separator: "_"}
        blocks:
          short:
            prefix: false
            layers:
              - {name: "${auto('max_pooling2d')}", op: max_pool2d, kernel: 1, strides: 2}
          blk:
            layers:
              - {name: shortcut, block: short}
              - {name: conv, op: conv2d, filters: 8, kernel: 3, strides: 2, padding: same, inputs: input}
              - {name: add, op: add, inputs: [shortcut, conv]}
        layers:
          - {name: b1, block: blk}
          - {name: b2, block: blk}
          - {name: out, op: add, inputs: [b2, max_pooling2d_1]}
        """))
    assert names(s) == ["max_pooling2d", "b1_conv", "b1_add", "max_pooling2d_1", "b2_conv",
                        "b2_add", "out"]
    assert layer(s, "out").inputs == ["b2_add", "max_pooling2d_1"]


# ---------------------------------------------------------------- f. unused outputs
UNUSED = """\
    title: t
    source: test
    input: [4, 4, 4]
    layers:
      - {name: a, op: relu}
      - {name: dead, op: conv2d, filters: 2, kernel: 1}
      - {name: out, op: relu, inputs: a}
"""


def test_an_unused_output_is_a_warning(tmp_path):
    path = write(tmp_path, UNUSED)
    r = subprocess.run([sys.executable, "-m", "costcalc", "summary", path],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    warned = [ln for ln in r.stderr.splitlines() if "warning" in ln]
    assert len(warned) == 1 and "case.yaml:6: warning: layer 'dead' (conv2d)" in warned[0]
    assert "out" in r.stdout
    assert load(path).build().warnings == warned


def test_no_zoo_spec_has_an_unused_output():
    for name in sorted(available()):
        spec = load(name)
        assert spec.build().warnings == [], name


# ----------------------------------------------------------------------------- --input binds
def _zoo_resolution_specs():
    """Every zoo spec and variant whose input names a parameter for H and W ($resolution)."""
    from costcalc.spec import available, variants
    out = []
    for name in sorted(set(available()) | set(variants())):
        entries = load(name).data["input"]
        if isinstance(entries[1], str) and entries[1] == entries[2] and entries[1].startswith("$"):
            out.append((name, entries[1].strip("${}")))
    return out


@pytest.mark.parametrize("name,param", _zoo_resolution_specs())
def test_input_and_resolution_parameter_give_one_network(name, param):
    """`--input 3xHxH` is `--set resolution=H` on every spec of the zoo (issue 11: a MobileNetV2
    written from `resolution` gave 301,494,272 MACs at --input 3x225x225 instead of 344,759,744)."""
    spec = load(name)
    h = spec.defaults[param] + 1                     # odd where the default is even
    c = spec.build().input_shape[0]
    by_input = summarize(name, input_shape=(c, h, h))
    by_set = summarize(name, {param: h})
    assert by_input.model.params[param] == h
    assert [(r.name, r.output_shape, r.params, r.macs, r.other_ops) for r in by_input.layers] == \
        [(r.name, r.output_shape, r.params, r.macs, r.other_ops) for r in by_set.layers]


def test_input_binds_the_parameter_and_require_reads_the_input(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text(textwrap.dedent("""
        params: {res: 8, width: 2}
        require: [{check: "min(input.h, input.w) >= 4", message: "at least 4x4"}]
        derived: {half: "${res // 2}"}
        input: [3, $res, $res]
        layers:
          - {op: conv2d, filters: "${half}", kernel: 1}
        """))
    s = summarize(str(p), input_shape=(3, 10, 10))
    assert s.model.params["res"] == 10 and s.layers[0].output_shape == (5, 10, 10)  # 10 // 2
    # non-square: res is read (derived), so the input cannot set it
    with pytest.raises(UsageError, match=r"gives res two values \(H=10, W=12\)"):
        summarize(str(p), input_shape=(3, 10, 12))
    with pytest.raises(SpecError, match=r"input 3x3x3, res=3, width=2 fail the check"):
        summarize(str(p), input_shape=(3, 3, 3))


def test_nonsquare_input_is_fine_when_nothing_else_reads_the_parameter():
    s = summarize("resnet50", {"classes": 10}, input_shape=(3, 45, 37))
    assert s.layers[1].name == "conv1_conv"         # 7x7/2 after conv1_pad's 3 on each side
    assert s.layers[1].output_shape[1:] == ((45 + 6 - 7) // 2 + 1, (37 + 6 - 7) // 2 + 1)
    assert s.model.params["resolution"] == 224          # neither side of the input: unchanged


# ----------------------------------------------------------------------------- variants
def _family(tmp_path, extra=""):
    (tmp_path / "fam.yaml").write_text(textwrap.dedent("""
        title: Fam
        source: test
        params: {width: 4, resolution: 8}
        input: [3, $resolution, $resolution]
        variants:
          fam-small: {width: 2, title: "Fam small"}
          fam-big: {width: 8, resolution: 16}
        layers:
          - {name: c, op: conv2d, filters: $width, kernel: 3}
        expect:
          - {quantity: params, value: 56, source: "3*3*3*2 + 2", variant: fam-small}
          - {quantity: params, value: 224, source: "3*3*3*8 + 8", variant: fam-big}
          - {quantity: params, value: 112, source: "3*3*3*4 + 4"}
        """) + extra)
    return tmp_path


def test_variants_are_names_users_type(tmp_path, monkeypatch):
    from costcalc.catalog import spec_list
    from costcalc.verify import verify as verify_run
    monkeypatch.setenv("COSTCALC_SPECS", str(_family(tmp_path)))
    big = summarize("fam-big")
    assert big.id == "fam-big" and big.totals["params"] == 3 * 3 * 3 * 8 + 8
    assert big.model.input_shape == (3, 16, 16) and big.layers[0].output_shape == (8, 14, 14)
    assert summarize("fam-big", {"width": 1}).totals["params"] == 3 * 3 * 3 + 1   # --set wins
    assert summarize("fam-small").spec.title == "Fam small"
    rows = {r["spec"]: r for r in spec_list()}
    assert rows["fam-small"]["parameters"] == "width=2"
    assert rows["fam-big"]["input"] == "3x16x16"
    # the family verifies every entry, each at its variant; a variant verifies its own
    fam = verify_run(["fam"])
    assert [(r["spec"], r["computed"]) for r in fam] == [("fam-small", 56), ("fam-big", 224),
                                                          ("fam", 112)]
    assert [r["spec"] for r in verify_run(["fam-big"])] == ["fam-big"]


@pytest.mark.parametrize("extra,words", [
    ("  fam-x: {depth: 3}\n", ["variant 'fam-x': unknown parameter 'depth'"]),
    ("  Fam_X: {width: 3}\n", ["variant name 'Fam_X' is not a spec name"]),
    ("  fam-y: {width: wide}\n", ["parameter 'width'"]),
    ("  fam-z: 3\n", ["variant 'fam-z' must be a mapping"]),
])
def test_bad_variants_are_refused_at_their_line(tmp_path, extra, words):
    text = (_family(tmp_path) / "fam.yaml").read_text().replace(
        "variants:\n", "variants:\n" + extra)
    (tmp_path / "fam.yaml").write_text(text)
    with pytest.raises(SpecError) as info:
        load(str(tmp_path / "fam.yaml"))
    assert str(info.value).startswith(f"{tmp_path / 'fam.yaml'}:7: ")
    for w in words:
        assert w in str(info.value)


def test_a_variant_cannot_take_a_file_name(tmp_path, monkeypatch):
    _family(tmp_path)
    (tmp_path / "fam-big.yaml").write_text("input: [3, 4, 4]\nlayers: [{op: relu}]\n")
    monkeypatch.setenv("COSTCALC_SPECS", str(tmp_path))
    with pytest.raises(SpecError, match="variant 'fam-big' has the name of the spec file"):
        load("fam")


# ----------------------------------------------------------------------------- all errors at once
def test_every_row_error_is_reported_at_once(tmp_path):
    p = tmp_path / "m.yaml"
    p.write_text(textwrap.dedent("""\
        input: [3, 8, 8]
        blocks:
          b:
            args: {f: 2}
            layers:
              - {name: c, op: conv2d, filters: $f, kernal: 3}
        layers:
          - {name: a, op: conv2d, filters: 4, kernel: 3, strides: -1}
          - {name: x, block: b, repeat: 3}
          - {name: y, op: relu, inputs: a}
          - {name: z, op: add, inputs: [y, nothere]}
          - {name: w, op: dense, units: five}
        """))
    r = subprocess.run([sys.executable, "-m", "costcalc", "summary", str(p)],
                       capture_output=True, text=True)
    assert r.returncode == 2 and r.stdout == ""
    lines = r.stderr.splitlines()
    # line 6 once, though the block repeats 3 times; rows after an error still connect (y reads a)
    assert [ln.split(": ")[1].split(":")[-1] for ln in lines] == ["6", "8", "11", "12"], lines
    assert "no attribute 'kernal'; did you mean 'kernel'?" in lines[0]
    assert "unknown input 'nothere'" in lines[2] and "'units'" in lines[3]
    assert all(ln.startswith(f"costcalc: {p}:") for ln in lines)


def test_every_entry_error_is_reported_at_load(tmp_path):
    p = tmp_path / "m.yaml"
    p.write_text(textwrap.dedent("""\
        input: [3, 8, 8]
        blocks:
          b1: {layers: []}
          b2: {layers: [{op: relu}], prefix: 3}
        layers: [{op: relu}]
        expect:
          - {quantity: parms, value: 1, source: x}
          - {quantity: params, value: 1}
        """))
    with pytest.raises(SpecError) as info:
        load(str(p))
    lines = str(info.value).splitlines()
    assert [ln.split(": ")[0].rsplit(":", 1)[1] for ln in lines] == ["3", "4", "7", "8"], lines


def test_two_expressions_in_one_name_interpolate():
    """`${a}_x_${b}` is a text with two expressions, not one expression `a}_x_${b` (it was)."""
    from costcalc.expr import substitute
    assert substitute("${model}_downsampling_${s}", {"model": "convnext_tiny", "s": 0}) == \
        "convnext_tiny_downsampling_0"
    assert substitute("${s + 1}", {"s": 1}) == 2                    # one expression keeps its type
