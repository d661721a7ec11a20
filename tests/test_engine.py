"""The engine's own promises: batched == single, peak memory, no wrapped int64."""
import numpy as np
import pytest

from costcalc import ops
from costcalc.analysis import summarize
from costcalc.spec import load

from conftest import spec_from


def test_batched_entry_matches_single_runs():
    model = load("inception-bottleneck").build()
    compiled = model.compile()
    inputs = np.array([[192, s, s] for s in (7, 14, 28, 56, 3)])
    totals, status = compiled.run_many(inputs)
    assert (status[:, 0] == 0).all()
    for row, (c, h, w) in zip(totals, inputs):
        s = summarize("inception-bottleneck", input_shape=(c, h, w))
        assert row[2] == s.totals["macs"] and row[0] == s.totals["params"]
        assert row[5] == s.totals["flops"] and row[6] == s.totals["peak_activations"]
        # MACs grow with the map area: every layer keeps H x W here
        assert row[2] == 128049152 // (28 * 28) * h * w


def test_batched_entry_reports_invalid_points():
    compiled = load("resnet-basic-block").build().compile()
    totals, status = compiled.run_many(np.array([[64, 8, 8], [32, 8, 8]]))
    assert status[0, 0] == ops.OK
    # add: the 64-channel conv output against the 32-channel input
    assert status[1, 0] not in (ops.OK, ops.OVERFLOW) and "broadcast" in ops.brief(status[1, 0])


def test_peak_activation_memory_by_hand():
    # input a (4x8x8=256) -> b = relu(a) (256) -> c = conv 1x1 to 2 (128) -> d = add(b, b)
    s = summarize(spec_from("""
        input: [4, 8, 8]
        layers:
          - {name: b, op: relu}
          - {name: c, op: conv2d, filters: 2, kernel: 1, inputs: input}
          - {name: d, op: add, inputs: [b, b]}
        """))
    # step b: input + b = 512; step c: input + b + c = 640, then input is freed (last use);
    # step d: b + c + d = 640, then b freed. Peak = 640.
    assert s.totals["peak_activations"] == 256 + 256 + 128
    assert s.totals["peak_activation_bytes"] == 4 * 640
    assert s.totals["activations"] == 256 + 128 + 256


def test_int64_overflow_is_detected_in_checked_arithmetic():
    assert ops.cmul(2**62, 2) == -1
    assert ops.cmul(2**31, 2**31) == 2**62
    assert ops.cadd(2**62, 2**62) == -1
    assert ops.cmul(-1, 0) == -1


def test_overflow_in_totals_is_an_error():
    from costcalc.errors import CountOverflowError
    with pytest.raises(CountOverflowError, match="int64"):
        summarize("compress-1x1", input_shape=(100, 2**31, 2**31))


def test_skipped_layer_passes_its_input_through():
    text = """
        input: [4, 6, 6]
        params: {project: false}
        layers:
          - {name: short, op: conv2d, filters: 4, kernel: 1, when: $project}
          - {name: main, op: relu, inputs: input}
          - {name: add, op: add, inputs: [short, main]}
        """
    s = summarize(spec_from(text))
    assert [r.name for r in s.layers] == ["main", "add"]
    assert s.layers[-1].inputs == ["input", "main"]
    s = summarize(spec_from(text), {"project": True})
    assert s.layers[-1].inputs == ["short", "main"]


def test_repeat_and_first_override_name_layers_by_path():
    s = summarize(spec_from("""
        input: [8, 16, 16]
        naming: {separator: "_"}
        blocks:
          unit:
            args: {filters: ~, strides: 1}
            layers:
              - {name: conv, op: conv2d, filters: $filters, kernel: 3, strides: $strides, padding: same}
              - {name: relu, op: relu}
        layers:
          - {name: stage, block: unit, repeat: 3, filters: 8, first: {strides: 2}}
        """))
    assert [r.name for r in s.layers] == [f"stage_block{i}_{x}" for i in (1, 2, 3)
                                          for x in ("conv", "relu")]
    assert s.layers[0].output_shape == (8, 8, 8)      # only the first repetition strides
    assert s.output_shape == (8, 8, 8)
    assert s.totals["macs"] == 3 * (8 * 8 * 8 * 9 * 8)


def test_repeat_start_numbers_copies_from_k():
    s = summarize(spec_from("""
        input: [4, 6, 6]
        naming: {separator: "_", repeat: "{name}{i}"}
        layers:
          - {name: block, op: relu, repeat: 3, start: 5}
        """))
    assert [r.name for r in s.layers] == ["block5", "block6", "block7"]


def test_verify_upper_bound_and_block_output_shape():
    from costcalc.verify import FAIL, PASS, verify_spec
    spec = spec_from("""
        input: [4, 6, 6]
        blocks:
          unit:
            layers:
              - {name: conv, op: conv2d, filters: 2, kernel: 3}
        layers:
          - {name: u, block: unit}
        expect:
          - {quantity: params, value: 100, bound: upper, source: "3*3*4*2 + 2 = 74 <= 100"}
          - {quantity: params, value: 70, bound: upper, source: "74 > 70: must fail"}
          - {quantity: output_shape, scope: u, value: [2, 4, 4], source: "valid 3x3 on 6x6"}
        """)
    assert [r["status"] for r in verify_spec(spec)] == [PASS, FAIL, PASS]


# ---------------------------------------------------------------- plain Python == compiled
@pytest.mark.parametrize("name", ["resnet50", "inception-v3", "mobilenet", "xception",
                                  "googlenet", "inception-resnet-v2", "resnet-cifar"])
def test_python_and_compiled_passes_agree(name):
    """One network is counted in plain Python, batches compiled: same shapes, counts, peak."""
    model = load(name).build()
    g = model.compile()
    py = g.run(model.input_shape, compiled=False)
    jit = g.run(model.input_shape, compiled=True)
    assert py[:2] == jit[:2] and py[4] == jit[4]
    assert (py[2] == jit[2]).all() and (py[3] == jit[3]).all()


def _cli_json(args, env_extra):
    import json
    import os
    import subprocess
    import sys
    env = {**os.environ, **env_extra}
    out = subprocess.run([sys.executable, "-m", "costcalc", *args, "--format", "json"],
                         capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout)


def test_numba_disable_jit_gives_the_same_numbers():
    """NUMBA_DISABLE_JIT=1 runs the very same engine code as plain Python (summary and a
    batched sweep)."""
    for args in (["summary", "resnet50"], ["sweep", "resnet50", "--resolution", "96,224,225"]):
        plain = _cli_json(args, {"NUMBA_DISABLE_JIT": "1"})
        assert plain == _cli_json(args, {})


def test_the_compiled_cache_key_ignores_comments_not_code():
    """jit.py keys Numba's cache on bytecode and constants: a comment or a moved line reuses
    the cache, a changed constant does not."""
    from costcalc import jit
    ns1, ns2, ns3 = {}, {}, {}
    exec("def f(a):\n    return a * 2\n", ns1)
    exec("\n\n# a comment\ndef f(a):\n    # another\n    return a * 2  # why\n", ns2)
    exec("def f(a):\n    return a * 3\n", ns3)
    b = jit._Builder({})
    assert b.fingerprint(ns1["f"]) == b.fingerprint(ns2["f"]) != b.fingerprint(ns3["f"])
