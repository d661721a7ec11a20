"""From MACs to time (costcalc/roofline.py, issue 15 items 1-3): bytes per layer, arithmetic
intensity, roofline time and bound, derived by hand here for a 3x3 convolution, a depthwise
convolution and a dense layer; device profiles (built-in, user files, bad files); calibrate in
its short mode; latency(measure=True) on a small spec and on every network spec at the small
inputs of tests/test_oracle.py, with PyTorch's per-layer time through the torch hook.

The model under test (roofline.py's docstring): a layer reads each input tensor and its weights
(params) once and writes its output once, at the dtype's size; time = max(FLOPs / peak,
bytes / bandwidth); compute-bound when FLOPs / peak >= bytes / bandwidth.
"""
import json
import math
import textwrap
import time

import pytest

from costcalc import roofline
from costcalc.analysis import summarize
from costcalc.errors import CostcalcError, UsageError
from costcalc.roofline import Profile, latency, layer_bytes, load_profile, render_latency
from costcalc.spec import available, load_text


def spec(layer, shape, name="t.yaml"):
    c, h, w = shape
    return load_text(f"input: [{c}, {h}, {w}]\nlayers:\n  - {layer}\n", name)


def one(layer, shape, batch=1, dtype="float32"):
    s = summarize(spec(layer, shape), batch=batch)
    (row,) = layer_bytes(s, dtype)
    return s.layers[0], row


def profile(peak, bandwidth, dtype="float32"):
    return Profile(name="hand", source="a test", peak_flops={dtype: float(peak)},
                   bandwidth=float(bandwidth))


# ----------------------------------------------------------------------------- bytes by hand
CONV = "{op: conv2d, filters: 64, kernel: 3, padding: same}"      # bias: true by default
H = W = 56
C = 64
CONV_IN = H * W * C                           # 200,704 elements
CONV_W = 3 * 3 * C * C + C                    # 36,864 weights + 64 biases
CONV_OUT = H * W * C                          # 'same': 56 x 56 x 64
CONV_MACS = H * W * C * (3 * 3 * C)           # H_out W_out C_out k k C_in = 115,605,504
CONV_FLOPS = 2 * CONV_MACS + CONV_OUT         # + one bias add per output element


def test_conv3x3_bytes_and_intensity_by_hand():
    s, r = one(CONV, (C, H, W))
    assert (s.macs, s.flops) == (CONV_MACS, CONV_FLOPS)
    assert r.bytes_read == (56 * 56 * 64 + 3 * 3 * 64 * 64 + 64) * 4 == 950_528
    assert r.bytes_written == 56 * 56 * 64 * 4 == 802_816
    assert (r.input_bytes, r.weight_bytes) == (CONV_IN * 4, CONV_W * 4)
    assert r.intensity == CONV_FLOPS / ((CONV_IN + CONV_W + CONV_OUT) * 4)
    assert r.intensity == pytest.approx(131.98, abs=0.01)   # 231,411,712 / 1,753,344
    d = r.as_dict()
    assert (d["bytes_read"], d["bytes_written"]) == (950_528, 802_816)


@pytest.mark.parametrize("dtype,size", [("float32", 4), ("float16", 2), ("int8", 1),
                                        ("float64", 8)])
def test_bytes_scale_with_the_dtype_and_intensity_inversely(dtype, size):
    _, r = one(CONV, (C, H, W), dtype=dtype)
    assert r.bytes_read == (CONV_IN + CONV_W) * size
    assert r.bytes_written == CONV_OUT * size
    assert r.intensity == CONV_FLOPS / ((CONV_IN + CONV_W + CONV_OUT) * size)


def depthwise_intensity(h, w, bias):
    """FLOPs/byte of a 3x3 stride-1 'same' depthwise convolution of C channels on h x w in
    float32, by formula: FLOPs = 2 * 9 h w C (+ h w C bias adds); bytes = 4 (h w C in + 9 C
    weights (+ C biases) + h w C out). C cancels: 9hw / (4hw + 18) without bias."""
    hw = h * w
    if bias:
        return (18 * hw + hw) / (4 * (2 * hw + 10))
    return 18 * hw / (4 * (2 * hw + 9))


@pytest.mark.parametrize("channels", [32, 128, 1024])
def test_depthwise_intensity_is_about_2_25_at_any_width(channels):
    """The issue's claim: 'about 2.25 FLOP/byte in float32 at any width'. Exactly (no bias, as in
    MobileNet, whose depthwise layers feed a batch norm): 9HW / (4HW + 18), independent of the
    width C, below 2.25 and tending to it as the map grows (2.2468 at 56x56); 2.375 in the limit
    with a bias (19 FLOPs per output element over 8 bytes)."""
    dw = "{op: depthwise_conv2d, kernel: 3, padding: same, bias: false}"
    s, r = one(dw, (channels, H, W))
    assert s.macs == H * W * channels * 9
    assert r.bytes_read == (H * W * channels + 9 * channels) * 4
    assert r.bytes_written == H * W * channels * 4
    assert r.intensity == pytest.approx(depthwise_intensity(H, W, False), rel=1e-12)
    assert r.intensity == pytest.approx(9 * 3136 / (4 * 3136 + 18), rel=1e-12)
    assert 2.2467 < r.intensity < 2.25
    _, rb = one("{op: depthwise_conv2d, kernel: 3, padding: same}", (channels, H, W))
    assert rb.intensity == pytest.approx(depthwise_intensity(H, W, True), rel=1e-12)
    assert 2.37 < rb.intensity < 2.375


def test_depthwise_against_dense_3x3_contrast():
    """'hundreds for a 3x3 dense convolution': 18 C HW / (4 (2 HW + 9 C)) FLOP/byte for C -> C
    without bias. 132 at C = 64 (56x56), 421 at C = 256: it grows with the width, the depthwise
    one does not."""
    for c, want in ((64, 18 * 64 * 3136 / (4 * (2 * 3136 + 9 * 64))),
                    (256, 18 * 256 * 3136 / (4 * (2 * 3136 + 9 * 256)))):
        _, r = one("{op: conv2d, filters: %d, kernel: 3, padding: same, bias: false}" % c,
                   (c, H, W))
        assert r.intensity == pytest.approx(want, rel=1e-12)
    assert want == pytest.approx(421.3, abs=0.1)


def test_dense_bytes_by_hand_and_weights_once_per_batch():
    """A 2048 -> 1000 dense layer (ResNet-50's classifier): every weight is used once per sample,
    2 FLOPs per 4-byte weight, so about 0.5 FLOP/byte at batch 1; the weights are read once per
    batch, so the intensity grows with the batch."""
    layer = "{op: dense, units: 1000}"
    for batch in (1, 8):
        s, r = one(layer, (2048, 1, 1), batch=batch)
        flops = batch * (2 * 2048 * 1000 + 1000)          # 2 x MACs + bias adds
        assert s.flops == flops
        assert r.bytes_read == (batch * 2048 + 2048 * 1000 + 1000) * 4
        assert r.weight_bytes == (2048 * 1000 + 1000) * 4
        assert r.bytes_written == batch * 1000 * 4
        assert r.intensity == flops / ((batch * 2048 + 2048 * 1000 + 1000 + batch * 1000) * 4)
    # 4,097,000 / 8,208,192 at batch 1; 32,776,000 / 8,293,536 at batch 8
    assert one(layer, (2048, 1, 1))[1].intensity == pytest.approx(0.4991, abs=1e-4)
    assert one(layer, (2048, 1, 1), batch=8)[1].intensity == pytest.approx(3.952, abs=1e-3)


def test_multi_input_layer_reads_each_input():
    text = textwrap.dedent("""\
        input: [8, 5, 7]
        layers:
          - {name: a, op: conv2d, filters: 8, kernel: 1, bias: false}
          - {name: s, op: add, inputs: [a, input]}
          - {name: c, op: concat, inputs: [s, a]}
        """)
    s = summarize(load_text(text, "m.yaml"), batch=2)
    rows = {r.name: r for r in layer_bytes(s, "float32")}
    n = 8 * 5 * 7
    assert rows["s"].bytes_read == 2 * (2 * n) * 4 and rows["s"].weight_bytes == 0
    assert rows["c"].bytes_read == 2 * (2 * n) * 4 and rows["c"].bytes_written == 2 * 2 * n * 4
    tot = roofline.bytes_totals(list(rows.values()))
    assert tot["bytes"] == sum(r.bytes for r in rows.values())


def test_unknown_dtype_is_a_usage_error():
    s = summarize(spec(CONV, (C, H, W)))
    with pytest.raises(UsageError, match="unknown dtype 'bfloat16'"):
        layer_bytes(s, "bfloat16")


# ----------------------------------------------------------------------------- time and bound
def test_predicted_time_and_bound_by_hand():
    """On a device of 100 GFLOP/s and 10 GB/s (ridge 10 FLOP/byte): the 3x3 convolution
    (132 FLOP/byte) is compute-bound, the depthwise one (2.25) and the batch-1 dense layer (0.5)
    memory-bound, each predicted as the larger of its two times."""
    dev = profile(100e9, 10e9)
    res = latency(spec(CONV, (C, H, W)), device=dev)
    (x,) = res.layers
    assert x["compute_s"] == CONV_FLOPS / 100e9                       # 2.314 ms
    assert x["memory_s"] == (CONV_IN + CONV_W + CONV_OUT) * 4 / 10e9  # 0.175 ms
    assert x["predicted_s"] == x["compute_s"] and x["bound"] == "compute"
    assert x["share"] == 1.0 and res.totals["predicted_s"] == x["predicted_s"]

    hw, c = H * W, 128
    res = latency(spec("{op: depthwise_conv2d, kernel: 3, padding: same, bias: false}",
                       (c, H, W)), device=dev)
    (x,) = res.layers
    assert x["memory_s"] == (2 * hw * c + 9 * c) * 4 / 10e9
    assert x["compute_s"] == 18 * hw * c / 100e9
    assert x["predicted_s"] == x["memory_s"] and x["bound"] == "memory"

    res = latency(spec("{op: dense, units: 1000}", (2048, 1, 1)), device=dev)
    (x,) = res.layers
    assert x["predicted_s"] == (2048 + 2048 * 1000 + 1000 + 1000) * 4 / 10e9
    assert x["bound"] == "memory"


def test_bound_switches_where_flops_over_peak_equals_bytes_over_bandwidth():
    """peak = FLOPs and bandwidth = bytes make both times exactly 1 s: the ridge, counted as
    compute-bound; a peak one part in 1e9 higher makes the layer memory-bound, lower keeps it
    compute-bound."""
    nbytes = (CONV_IN + CONV_W + CONV_OUT) * 4
    sp = spec(CONV, (C, H, W))
    at = latency(sp, device=profile(CONV_FLOPS, nbytes)).layers[0]
    assert at["compute_s"] == at["memory_s"] == at["predicted_s"] == 1.0
    assert at["bound"] == "compute"
    above = latency(sp, device=profile(CONV_FLOPS * (1 + 1e-9), nbytes)).layers[0]
    assert above["bound"] == "memory" and above["predicted_s"] == 1.0
    below = latency(sp, device=profile(CONV_FLOPS * (1 - 1e-9), nbytes)).layers[0]
    assert below["bound"] == "compute" and below["predicted_s"] > 1.0
    # and the same switch as a ridge: the layer is compute-bound iff intensity >= peak / bw
    dev = profile(CONV_FLOPS, nbytes)
    assert dev.ridge("float32") == CONV_FLOPS / nbytes


def test_depthwise_memory_bound_and_dense_conv_compute_bound_on_published_devices():
    """The issue's contrast on the datasheet devices: ridge points 12.5 (A100 float32), 16
    (EPYC 9654 float32), 3.7 (Snapdragon 865 CPU float32) FLOP/byte all lie between the depthwise
    convolution's 2.25 and the 3x3 convolution's 132."""
    dw = spec("{op: depthwise_conv2d, kernel: 3, padding: same, bias: false}", (128, H, W))
    conv = spec(CONV, (C, H, W))
    for name in ("a100-40gb", "epyc-9654", "snapdragon-865", "core-i7-1185g7",
                 "jetson-agx-orin-64gb", "jetson-nano"):
        assert latency(dw, device=name).layers[0]["bound"] == "memory", name
        assert latency(conv, device=name).layers[0]["bound"] == "compute", name


def test_shares_and_per_op_sums():
    res = latency("mobilenet", {"classes": 10, "resolution": 33}, device="a100-40gb")
    assert math.isclose(sum(x["share"] for x in res.layers), 1.0, rel_tol=1e-12)
    assert math.isclose(sum(e["predicted_s"] for e in res.by_op), res.totals["predicted_s"],
                        rel_tol=1e-12)
    assert math.isclose(sum(e["mac_share"] for e in res.by_op), 1.0, rel_tol=1e-12)
    assert sum(e["layers"] for e in res.by_op) == len(res.layers) == res.totals["layers"]
    n_mem = sum(x["bound"] == "memory" for x in res.layers)
    assert res.totals["memory_bound_layers"] == n_mem
    for x in res.layers:
        assert x["predicted_s"] == max(x["compute_s"], x["memory_s"])


def test_latency_needs_a_peak_for_the_dtype():
    with pytest.raises(UsageError, match="has no peak for float64"):
        latency(spec(CONV, (C, H, W)), device="jetson-nano", dtype="float64")
    with pytest.raises(UsageError, match="--measure runs costcalc's forward pass"):
        latency(spec(CONV, (C, H, W)), device="a100-40gb", dtype="float16", measure=True)
    res = latency(spec(CONV, (C, H, W)), device="a100-40gb", dtype="int8")
    assert res.layers[0]["bytes_read"] == (CONV_IN + CONV_W) * 1
    assert res.layers[0]["compute_s"] == CONV_FLOPS / 624e12


# ----------------------------------------------------------------------------- profiles
def test_builtin_profiles_load_with_their_sources():
    names = roofline.builtin_profiles()
    assert {"a100-40gb", "epyc-9654", "core-i7-1185g7", "snapdragon-865",
            "jetson-agx-orin-64gb"} <= set(names)
    kinds = set()
    for name in names:
        p = load_profile(name)
        assert p.name == name and p.builtin and p.path.name == f"{name}.yaml"
        srcs = [p.source] if isinstance(p.source, str) else p.source
        assert any("https://" in s for s in srcs), name
        assert p.notes and p.title
        assert all(v > 0 for v in p.peak_flops.values()) and p.bandwidth > 0
        kinds.add(p.kind)
    assert {"cpu", "gpu", "soc"} <= kinds


def test_a100_numbers_are_nvidias_datasheet():
    """NVIDIA A100 datasheet (40 GB): FP32 19.5 TFLOPS, FP64 9.7, FP16 Tensor Core 312 (dense),
    INT8 Tensor Core 624 TOPS (dense), HBM2 1,555 GB/s."""
    p = load_profile("a100-40gb")
    assert p.peak_flops == {"float32": 19.5e12, "float64": 9.7e12, "float16": 312e12,
                            "int8": 624e12}
    assert p.bandwidth == 1.555e12
    assert p.ridge("float32") == pytest.approx(12.54, abs=0.01)


def test_derived_cpu_peaks_are_cores_times_clock_times_flops_per_cycle():
    assert load_profile("epyc-9654").peak_flops["float32"] == pytest.approx(96 * 2.4e9 * 32)
    assert load_profile("epyc-9654").bandwidth == pytest.approx(12 * 4800e6 * 8)
    assert load_profile("core-i7-1185g7").peak_flops["float32"] == pytest.approx(4 * 3.0e9 * 32)
    assert load_profile("snapdragon-865").peak_flops["float32"] == pytest.approx(
        16 * (2.84e9 + 3 * 2.42e9))
    assert load_profile("snapdragon-865").bandwidth == pytest.approx(2750e6 * 2 * 8)
    assert load_profile("jetson-nano").peak_flops["float16"] == pytest.approx(
        128 * 2 * 2 * 921.6e6, rel=1e-3)


def test_user_profile_file(tmp_path):
    p = tmp_path / "mine.yaml"
    p.write_text(textwrap.dedent("""\
        name: my-board
        source: "my own measurement"
        peak_flops:
          float32: 19.5e12      # YAML 1.1 reads this as text: accepted as a number
          int8: 1000000000000
        bandwidth: 5.0e+10
        """))
    prof = load_profile(str(p))
    assert prof.peak_flops == {"float32": 19.5e12, "int8": 1e12} and prof.bandwidth == 5e10
    assert not prof.builtin and prof.path == p
    res = latency(spec(CONV, (C, H, W)), device=str(p))
    assert res.profile.name == "my-board"


BAD = [
    ("name: x\nsource: s\npeak_flops: {float32: 1e12}\nbandwith: 1e9\n", 4,
     "unknown key 'bandwith'"),
    ("name: x\nsource: s\npeak_flops:\n  float32: 1.0e+12\n  fp16: 2.0e+12\nbandwidth: 1.0e+9\n",
     5, "unknown dtype 'fp16'"),
    ("name: x\nsource: s\npeak_flops:\n  float32: -1.0e+12\nbandwidth: 1.0e+9\n", 4,
     "peak_flops.float32 must be a positive number"),
    ("name: x\nsource: s\npeak_flops:\n  float32: fast\nbandwidth: 1.0e+9\n", 4,
     "got 'fast'"),
    ("name: x\nsource: s\npeak_flops:\n  float32: 1.0e+12\nbandwidth: true\n", 5,
     "bandwidth must be a positive number of bytes per second"),
    ("name: x\nsource: s\npeak_flops: {float32: 1.0e+12}\n", 1, "needs 'bandwidth'"),
    ("name: x\nsource: ''\npeak_flops: {float32: 1.0e+12}\nbandwidth: 1.0e+9\n", 2,
     "source must say where the numbers come from"),
    ("name: x\nsource: s\npeak_flops: {}\nbandwidth: 1.0e+9\n", 3,
     "peak_flops must be a mapping"),
    ("name: x\nkind: tpu\nsource: s\npeak_flops: {float32: 1.0e+12}\nbandwidth: 1.0e+9\n", 2,
     "kind 'tpu' is not one of"),
    ("- name: x\n- source: s\n", 1, "must be a mapping"),
    ("name: x\nsource: s\npeak_flops: {float32: 1.0e+12\nbandwidth: 1.0e+9\n", 4,
     "YAML syntax error"),
    ("name: x\nname: y\nsource: s\npeak_flops: {float32: 1.0e+12}\nbandwidth: 1.0e+9\n", 2,
     "duplicate key 'name'"),
]


@pytest.mark.parametrize("text,line,message", BAD, ids=[b[2].split("'")[0][:30] for b in BAD])
def test_bad_profile_files_give_file_and_line(tmp_path, text, line, message):
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    with pytest.raises(CostcalcError) as info:
        load_profile(str(p))
    err = info.value
    assert message in str(err)
    assert (err.path is not None and str(err.path).endswith("bad.yaml")
            and err.line == line), (str(err), err.line)
    assert f"bad.yaml:{line}: " in str(err)
    assert "\n" not in str(err) and "Traceback" not in str(err)


def test_unknown_device_and_missing_files(tmp_path, monkeypatch):
    with pytest.raises(UsageError, match="unknown device 'a200'.*a100-40gb"):
        load_profile("a200")
    with pytest.raises(UsageError, match="does not exist"):
        load_profile(str(tmp_path / "none.yaml"))
    with pytest.raises(UsageError, match="is a directory"):
        load_profile(str(tmp_path) + "/")
    monkeypatch.setenv("COSTCALC_DEVICE", str(tmp_path / "device.yaml"))
    with pytest.raises(UsageError, match="costcalc calibrate"):
        load_profile(None)


# ----------------------------------------------------------------------------- calibrate
def test_calibrate_short_mode_measures_and_saves(tmp_path, monkeypatch):
    path = tmp_path / "sub" / "device.yaml"
    monkeypatch.setenv("COSTCALC_DEVICE", str(path))
    t0 = time.perf_counter()
    prof = roofline.calibrate(seconds=0.2)
    elapsed = time.perf_counter() - t0
    assert prof.path == path and path.is_file()
    assert set(prof.peak_flops) == {"float32", "float64"}
    assert all(v > 1e8 for v in prof.peak_flops.values())    # at least 0.1 GFLOP/s
    assert prof.bandwidth > 1e8                               # and 0.1 GB/s
    m = prof.measured
    assert m["stream"]["copy"] > 0 and m["stream"]["triad"] == prof.bandwidth
    assert m["stream"]["array_bytes"] >= m["stream"]["last_level_cache_bytes"]
    assert m["gemm"]["float32"]["n"] >= 256
    assert elapsed < 30, elapsed                   # budget 0.2 s plus allocation and compiling
    back = load_profile(None)                      # this machine's profile, as saved
    assert back.name == roofline.MACHINE
    assert back.peak_flops == prof.peak_flops and back.bandwidth == prof.bandwidth
    assert "costcalc calibrate" in back.source
    assert "float32" in roofline.render_profile(back)
    assert json.loads(roofline.render_profile(back, "json"))["name"] == roofline.MACHINE
    with pytest.raises(UsageError, match="--seconds"):
        roofline.calibrate(seconds=0)


def test_latency_without_a_device_calibrates_once(tmp_path, monkeypatch):
    path = tmp_path / "device.yaml"
    monkeypatch.setenv("COSTCALC_DEVICE", str(path))
    calls = []
    real = roofline.calibrate

    def short(seconds=2.0, path=None, save=True):
        calls.append(seconds)
        return real(seconds=0.2, path=path, save=save)

    monkeypatch.setattr(roofline, "calibrate", short)
    res = latency(spec(CONV, (C, H, W)))
    assert res.profile.name == roofline.MACHINE and path.is_file() and len(calls) == 1
    latency(spec(CONV, (C, H, W)))
    assert len(calls) == 1                           # the saved profile is reused


# ----------------------------------------------------------------------------- measured
def torch_timer(model, batch, dtype, seed, repeat):
    """PyTorch's per-layer time on the oracle graph (costcalc/oracle: the same weights, input)."""
    pytest.importorskip("torch")
    from costcalc.oracle import layer_times
    return layer_times(model, batch, dtype, seed, repeat)


def check_measured(res):
    assert res.measured
    for x in res.layers:
        assert x["measured_s"] > 0 and x["predicted_s"] > 0
        assert x["error"] == x["predicted_s"] / x["measured_s"] - 1
        assert x["bound"] in ("compute", "memory")
    t = res.totals
    assert t["measured_s"] == pytest.approx(sum(x["measured_s"] for x in res.layers))
    assert math.isclose(sum(e["measured_share"] for e in res.by_op), 1.0, rel_tol=1e-9)
    for e in res.by_op:
        assert e["error"] == pytest.approx(e["predicted_s"] / e["measured_s"] - 1)
    d = json.loads(render_latency(res, "json"))
    for x in d["layers"]:
        assert {"predicted_s", "bound", "measured_s", "bytes_read", "bytes_written",
                "intensity"} <= set(x)


def test_measure_a_small_spec_with_pytorch_next_to_it():
    text = textwrap.dedent("""\
        input: [16, 13, 11]
        layers:
          - {name: c, op: conv2d, filters: 32, kernel: 3, padding: same, activation: relu}
          - {name: d, op: depthwise_conv2d, kernel: 3, padding: same}
          - {name: p, op: global_avg_pool}
          - {name: f, op: dense, units: 10}
        """)
    res = latency(load_text(text, "small.yaml"), batch=2, device="epyc-9654", measure=True,
                  repeat=2, torch_timer=torch_timer)
    check_measured(res)
    assert [x["name"] for x in res.layers] == ["c", "d", "p", "f"]
    assert all(x["torch_s"] > 0 for x in res.layers)
    assert res.totals["torch_s"] == pytest.approx(sum(x["torch_s"] for x in res.layers))
    assert any("predicted for epyc-9654" in n for n in res.notes)   # not this machine
    for fmt in ("table", "markdown", "csv"):
        text_out = render_latency(res, fmt)
        assert "measured" in text_out and "PyTorch" in text_out or fmt == "csv"
    assert render_latency(res, "csv").splitlines()[0].endswith("measured_s,error,torch_s")


def test_measure_hook_module_default(monkeypatch):
    seen = []

    def fake(model, batch, dtype, seed, repeat):
        seen.append((batch, dtype, repeat))
        return {layer.name: 1e-3 for layer in model.layers[1:]}

    monkeypatch.setattr(roofline, "TORCH_TIMER", fake)
    res = latency(spec(CONV, (8, 9, 7)), device="epyc-9654", measure=True, repeat=1)
    assert seen == [(1, "float32", 1)] and res.layers[0]["torch_s"] == 1e-3


def _small_case(name):
    try:
        import test_oracle          # its SMALL inputs; the module needs torch
    except BaseException as exc:    # pytest.skip's exception when torch is missing
        pytest.skip(f"tests/test_oracle.py (SMALL) not importable: {exc}")
    return test_oracle.small_case(name)


@pytest.mark.parametrize("name", sorted(available()))
def test_latency_measure_runs_on_every_network_spec(name):
    spec_name, overrides, shape = _small_case(name)
    res = latency(spec_name, overrides, shape, device="epyc-9654", measure=True, repeat=1,
                  torch=False)
    check_measured(res)
    assert res.totals["layers"] == len(res.summary.layers)
    assert "torch_s" not in res.totals and "torch_s" not in res.layers[0]


def test_measure_times_pytorch_by_default_when_installed(monkeypatch):
    pytest.importorskip("torch")
    monkeypatch.setattr(roofline, "TORCH_TIMER", None)
    res = latency(spec(CONV, (8, 9, 7)), device="epyc-9654", measure=True, repeat=1)
    assert all(x["torch_s"] > 0 for x in res.layers) and res.totals["torch_s"] > 0
    assert not any("not installed" in n for n in res.notes)


def test_measure_without_torch_says_so(monkeypatch):
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(roofline, "TORCH_TIMER", None)
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "torch" else real(name, *a))
    res = latency(spec(CONV, (8, 9, 7)), device="epyc-9654", measure=True, repeat=1)
    assert "torch_s" not in res.layers[0]
    assert any("PyTorch is not installed" in n for n in res.notes)


def test_latency_measure_with_pytorch_on_a_network():
    spec_name, overrides, shape = _small_case("mobilenet")
    res = latency(spec_name, overrides, shape, device="epyc-9654", measure=True, repeat=1,
                  torch_timer=torch_timer)
    check_measured(res)
    assert all(x["torch_s"] > 0 for x in res.layers)
    ops = {e["op"] for e in res.by_op}
    assert {"conv2d", "depthwise_conv2d", "batch_norm"} <= ops


# ----------------------------------------------------------------------------- rendering
def test_render_latency_and_bytes_formats():
    res = latency("resnet-basic-block", device="a100-40gb")
    table = render_latency(res)
    assert "roofline latency on a100-40gb" in table and "memory-bound" in table
    assert "caches, fusion" in table
    md = render_latency(res, "markdown")
    assert md.startswith("## ") and "|" in md
    csv = render_latency(res, "csv").splitlines()
    assert csv[0].split(",")[:3] == ["name", "op", "macs"] and len(csv) == len(res.layers) + 1
    d = json.loads(render_latency(res, "json"))
    assert d["device"]["name"] == "a100-40gb" and d["measured"] is False
    assert "measured_s" not in d["layers"][0] and d["layers"][0]["bound"] in ("compute", "memory")
    s = summarize("resnet-basic-block")
    bj = json.loads(roofline.render_bytes(s, "float16", "json"))
    assert bj["layers"][0]["bytes_read"] == layer_bytes(s, "float16")[0].bytes_read
    assert "FLOP/byte" in roofline.render_bytes(s)
    assert roofline.render_bytes(s, fmt="csv").splitlines()[-1].startswith("TOTAL")
    assert "a100-40gb" in roofline.render_profiles()


def test_commands(run_cli):
    import json as _json
    code, out, err = run_cli("summary", "conv3x3-standard", "--columns", "bytes", "--format",
                             "json")
    assert code == 0, err
    layer = _json.loads(out)["layers"][0]
    assert {"bytes_read", "bytes_written", "intensity"} <= set(layer)
    code, out, err = run_cli("latency", "mobilenet", "--device", "a100-40gb", "--format", "json")
    assert code == 0, err
    rows = _json.loads(out)["layers"]
    assert all({"predicted_s", "bound"} <= set(r) for r in rows)
    code, out, err = run_cli("calibrate", "--list")
    assert code == 0 and "a100-40gb" in out
    code, out, err = run_cli("latency", "mobilenet", "--device", "no-such-device")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
