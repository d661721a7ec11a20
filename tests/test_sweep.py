"""Sweeps (issue #6): grids of parameters and input sizes, growth exponents, grouping, bad input.

Expected numbers come from formulas written here or from published tables cited next to them.
"""
import csv
import io
import json
import math

import numpy as np
import pytest

from costcalc import engine, jit, ops
from costcalc.errors import UsageError
from costcalc.spec import load
from costcalc.sweep import parse_input_grid, parse_sets, parse_values, structural_params, sweep


def col(result, quantity):
    return [int(v) for v in result.column(quantity)]


def exponent(result, axis, quantity, **at):
    rows = [e for e in result.exponents if e["axis"] == axis and
            all(e["at"][k] == v for k, v in at.items())]
    assert len(rows) == 1, rows
    return rows[0]["exponents"][quantity]


def ls_slope(xs, ys):
    """Least-squares slope of log y on log x, written out."""
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    return (sum((a - mx) * (b - my) for a, b in zip(lx, ly))
            / sum((a - mx) ** 2 for a in lx))


# ----------------------------------------------------------------------------- MobileNet
def mobilenet_macs(alpha, r):
    """Howard et al. Eq. 2 (stem) and Eq. 5 (D_K^2*M*D_F^2 + M*N*D_F^2) over Table 1's rows, with
    Keras's widths int(k*alpha), for r a multiple of 32 (every map size r/2 .. r/32 is exact)."""
    c = {k: int(k * alpha) for k in (32, 64, 128, 256, 512, 1024)}

    def sep(size, m, n):
        return size * size * (9 * m + m * n)
    s1, s2, s3, s4, s5 = r // 2, r // 4, r // 8, r // 16, r // 32
    return (s1 * s1 * 27 * c[32] + sep(s1, c[32], c[64]) + sep(s2, c[64], c[128])
            + sep(s2, c[128], c[128]) + sep(s3, c[128], c[256]) + sep(s3, c[256], c[256])
            + sep(s4, c[256], c[512]) + 5 * sep(s4, c[512], c[512]) + sep(s5, c[512], c[1024])
            + sep(s5, c[1024], c[1024]) + c[1024] * 1000)


@pytest.fixture(scope="module")
def mobilenet_grid():
    return sweep("mobilenet", parse_sets(["alpha=0.25,0.5,0.75,1.0", "resolution=128,160,192,224"]))


def test_mobilenet_grid_matches_eq5_exactly(mobilenet_grid):
    r = mobilenet_grid
    assert len(r) == 16 and (r.state == 0).all()
    for i in range(len(r)):
        v = r.point_values(i)
        assert int(r.column("macs")[i]) == mobilenet_macs(v["alpha"], v["resolution"]), v
        res = v["resolution"]
        assert tuple(r.inputs[i]) == (3, res, res)


# MobileNet Table 6 (resolution 224) and Table 7 (alpha 1.0): million mult-adds, printed to whole
# millions. Tolerance: half a unit of the printed digit; for 160 one unit (the paper's 290
# matches 569*(160/224)^2 = 290.3, the exact count 290.68 rounds to 291: specs/mobilenet.yaml).
TABLE6 = {1.0: 569, 0.75: 325, 0.5: 149, 0.25: 41}
TABLE7 = {224: 569, 192: 418, 160: 290, 128: 186}


def test_mobilenet_grid_matches_tables_6_and_7(mobilenet_grid):
    r = mobilenet_grid
    for i in range(len(r)):
        v = r.point_values(i)
        macs_m = int(r.column("macs")[i]) / 1e6
        if v["resolution"] == 224:
            assert abs(macs_m - TABLE6[v["alpha"]]) <= 0.5, v
        if v["alpha"] == 1.0:
            assert abs(macs_m - TABLE7[v["resolution"]]) <= (1.0 if v["resolution"] == 160
                                                             else 0.5), v


def test_mobilenet_exponents(mobilenet_grid):
    r = mobilenet_grid
    # MACs vs alpha about 2 (pointwise convs ~ alpha^2; depthwise, stem and classifier ~ alpha):
    # the slope of Table 6's own numbers is 1.89.
    published = ls_slope(list(TABLE6), list(TABLE6.values()))
    assert 1.85 < published < 1.95
    e = exponent(r, "alpha", "macs", resolution=224)
    assert abs(e - published) < 0.02 and 1.8 < e < 2.0
    # the exponent along alpha is the same least-squares slope, written out, of the exact counts
    exact = [mobilenet_macs(a, 224) for a in TABLE6]
    assert e == pytest.approx(ls_slope(list(TABLE6), exact), rel=1e-9)
    # MACs vs resolution about 2 (Table 7's numbers: 1.99; only the classifier does not scale)
    published = ls_slope(list(TABLE7), list(TABLE7.values()))
    e = exponent(r, "resolution", "macs", alpha=1.0)
    assert abs(e - 2) < 0.01 and abs(e - published) < 0.01
    assert exponent(r, "resolution", "params", alpha=1.0) == 0.0     # weights do not scale
    # one exponent per line: each axis at each value of the other
    assert sum(e["axis"] == "alpha" for e in r.exponents) == 4
    assert sum(e["axis"] == "resolution" for e in r.exponents) == 4


def test_input_only_parameter_shares_one_graph_and_one_call(mobilenet_grid):
    # resolution only feeds `input:`: the 4 resolutions of one alpha share one graph
    assert structural_params(load("mobilenet")) == ["alpha", "depth_multiplier", "classes"]
    assert mobilenet_grid.builds == 4 and mobilenet_grid.graphs == 4
    assert mobilenet_grid.engine_calls == 4
    r = sweep("mobilenet", {"resolution": list(range(32, 257))})
    assert len(r) == 225 and r.builds == 1 and r.graphs == 1 and r.engine_calls == 1


# ----------------------------------------------------------------------------- ResNet-CIFAR
def cifar_trainable(n):
    """He et al. Sec. 4.2, option A: 3x3 convs 3->16, 2n of 16->16, 16->32, 2n-1 of 32->32,
    32->64, 2n-1 of 64->64 (no biases), fc 64*10 + 10; batch norm scale+shift on every conv."""
    weights = (9 * 3 * 16 + 2 * n * 9 * 16 * 16 + 9 * 16 * 32 + (2 * n - 1) * 9 * 32 * 32
               + 9 * 32 * 64 + (2 * n - 1) * 9 * 64 * 64 + 64 * 10 + 10)
    bn = 2 * (16 + 2 * n * 16 + 2 * n * 32 + 2 * n * 64)
    return weights + bn


def cifar_macs(n):
    """Conv MACs H*W*C_out*9*C_in per layer on 32x32, 16x16, 8x8 maps, plus the fc."""
    return (32 * 32 * 16 * 27 + 2 * n * 32 * 32 * 16 * 144 + 16 * 16 * 32 * 144
            + (2 * n - 1) * 16 * 16 * 32 * 288 + 8 * 8 * 64 * 288
            + (2 * n - 1) * 8 * 8 * 64 * 576 + 64 * 10)


# He et al. 2015, Table 6: params of ResNet-20/32/44/56/110/1202; tolerance half a unit of the
# printed digit (see specs/resnet-cifar.yaml: Table 6 counts weights + BN scale and shift).
TABLE6_PARAMS = {20: 0.27e6, 32: 0.46e6, 44: 0.66e6, 56: 0.85e6, 110: 1.7e6, 1202: 19.4e6}
TABLE6_UNIT = {20: 0.01e6, 32: 0.01e6, 44: 0.01e6, 56: 0.01e6, 110: 0.1e6, 1202: 0.1e6}


def test_resnet_cifar_depth_sweep():
    r = sweep("resnet-cifar", parse_sets(["depth=20,32,44,56,110,1202"]))
    assert (r.state == 0).all() and r.builds == 6
    for depth, trainable, macs in zip(TABLE6_PARAMS, col(r, "trainable_params"), col(r, "macs")):
        n = (depth - 2) // 6
        assert trainable == cifar_trainable(n)
        assert macs == cifar_macs(n)
        assert abs(trainable - TABLE6_PARAMS[depth]) <= TABLE6_UNIT[depth] / 2, depth
    # cost grows linearly with depth
    assert abs(exponent(r, "depth", "macs") - 1) < 0.05
    assert abs(exponent(r, "depth", "params") - 1) < 0.05
    assert exponent(r, "depth", "peak_activations") == 0.0   # the widest map is the same


def test_failing_require_is_a_row_not_a_crash():
    r = sweep("resnet-cifar", parse_sets(["depth=8:26:3"]))
    depths = [r.point_values(i)["depth"] for i in range(len(r))]
    assert depths == [8, 11, 14, 17, 20, 23, 26]
    for i, d in enumerate(depths):
        if (d - 2) % 6:
            assert r.status(i) == "invalid" and "6n+2" in r.reasons[i]
        else:
            assert r.status(i) == "ok" and int(r.column("macs")[i]) == cifar_macs((d - 2) // 6)


# ----------------------------------------------------------------------------- inception module
def test_inception_bottleneck_macs_affine_in_c3r():
    r = sweep("inception-bottleneck", parse_sets(["c3r=16:192:16"]))
    c3r = [r.point_values(i)["c3r"] for i in range(len(r))]
    assert c3r == list(range(16, 193, 16))
    # GoogLeNet Table 1 row 3a: 1x1 64, 3x3 reduce c3r, 3x3 128, 5x5 reduce 16, 5x5 32, proj 32
    rest = 192 * 64 + 192 * 16 + 25 * 16 * 32 + 192 * 32
    assert col(r, "macs") == [28 * 28 * (192 * c + 9 * c * 128 + rest) for c in c3r]
    assert col(r, "params") == [192 * c + 9 * c * 128 + rest for c in c3r]
    # one graph per width: the reduction is structural
    assert r.builds == r.graphs == 12


# ----------------------------------------------------------------------------- input axes
def test_resolution_exponent_is_exactly_two_for_a_conv():
    # conv5x5 'same': MACs = H*W*32*25*192 exactly
    r = sweep("conv5x5", resolution="7:56:7")
    assert col(r, "macs") == [s * s * 32 * 25 * 192 for s in range(7, 57, 7)]
    assert exponent(r, "input HxW", "macs") == pytest.approx(2, abs=1e-12)
    assert exponent(r, "input HxW", "activations") == pytest.approx(2, abs=1e-12)
    assert exponent(r, "input HxW", "params") == 0.0
    assert r.builds == 1 and r.engine_calls == 1


def test_input_grid_h_and_w_are_separate_axes():
    r = sweep("conv5x5", input_shape="192x{7,14,28}x14:28:14")
    assert [tuple(x) for x in r.inputs] == [(192, h, w) for h in (7, 14, 28) for w in (14, 28)]
    assert col(r, "macs") == [h * w * 32 * 25 * 192 for h in (7, 14, 28) for w in (14, 28)]
    assert exponent(r, "input H", "macs", **{"input W": 14}) == pytest.approx(1, abs=1e-12)
    assert exponent(r, "input W", "macs", **{"input H": 7}) == pytest.approx(1, abs=1e-12)


def test_input_too_small_is_a_row_with_its_reason():
    # AlexNet conv1 is 11x11 stride 4 without padding: a 10x10 input has no window
    r = sweep("alexnet", resolution=[10, 227])
    assert r.status(0) == "invalid" and "conv1" in r.reasons[0] and "window" in r.reasons[0]
    assert r.status(1) == "ok"
    assert int(r.column("macs")[0]) == 0


def test_int64_overflow_is_reported_never_wrapped():
    # resnet50 at 1e9 x 1e9: conv1 alone has 5e17 outputs x 147 MACs > 9.2e18
    r = sweep("resnet50", resolution=[224, 10**9])
    assert r.status(0) == "ok" and r.status(1) == "overflow"
    assert "int64" in r.reasons[1]
    assert (r.totals[1] == 0).all()
    # 1e6 x 1e6 still fits: MACs grow with the map area from 224 (up to the classifier's share)
    r = sweep("resnet50", resolution=[224, 10**6])
    assert (r.state == 0).all()
    m224, m1e6 = col(r, "macs")
    assert 0 < m1e6 < 2**63 and 0.99 < m1e6 / m224 / (10**6 / 224) ** 2 < 1.0


def test_points_keep_grid_order_and_json_schema(run_cli):
    code, out, err = run_cli("sweep", "mobilenet", "--set", "alpha=0.5,1.0", "--set",
                             "resolution=224:128:-96", "--format", "json")
    assert code == 0, err
    d = json.loads(out)
    assert [a["name"] for a in d["axes"]] == ["alpha", "resolution"]
    assert [p["values"] for p in d["points"]] == [
        {"alpha": 0.5, "resolution": 224}, {"alpha": 0.5, "resolution": 128},
        {"alpha": 1.0, "resolution": 224}, {"alpha": 1.0, "resolution": 128}]
    t = d["points"][2]["totals"]
    assert t["macs"] == mobilenet_macs(1.0, 224)
    assert t["flops"] == 2 * t["macs"] + t["other_ops"]
    assert t["peak_activation_bytes"] == 4 * t["peak_activations"]
    assert {e["axis"] for e in d["exponents"]} == {"alpha", "resolution"}


def test_cli_table_and_csv(run_cli):
    code, out, err = run_cli("sweep", "resnet-cifar", "--set", "depth=20,32,44,56,110,1202")
    assert code == 0, err
    assert "Growth exponents" in out and "19,510,906" not in err
    code, out, _ = run_cli("sweep", "inception-bottleneck", "--set", "c3r=16:192:16",
                           "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out.split("\n\n")[0])))
    assert [int(r["c3r"]) for r in rows] == list(range(16, 193, 16))
    assert int(rows[5]["MACs"]) == 128049152      # c3r = 96: inception (3a), GoogLeNet Table 1
    assert all(r["status"] == "ok" for r in rows)


def test_progress_bar_only_on_request(run_cli):
    code, out, err = run_cli("sweep", "conv5x5", "--resolution", "7:28:7", "--progress")
    assert code == 0 and "sweep" in err
    code, out, err = run_cli("sweep", "conv5x5", "--resolution", "7:28:7")
    assert code == 0 and err == ""


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("args, message", [
    (["--set", "alpha=a:b"], "not a range start:stop:step"),
    (["--set", "alpha=0.25:1"], "not a range start:stop:step"),
    (["--set", "alpha=0:1:0"], "step of 0"),
    (["--set", "alpha=1:0:0.25"], "is empty"),
    (["--set", "alpha=0.5,,1"], "empty value"),
    (["--set", "alpha=0.5,0.5"], "listed twice"),
    (["--set", "alfa=0.5,1"], "unknown parameter 'alfa'; did you mean 'alpha'?"),
    (["--set", "alpha=0.5", "--set", "alpha=1"], "given twice"),
    (["--set", "alpha"], "not name=values"),
    (["--set", "depth_multiplier=1.5,2"], "expects an integer"),
    (["--resolution", "0,224"], "positive integers"),
    (["--input", "3x{1,2}"], "not CxHxW"),
    (["--input", "3x{1,2x2"], "not CxHxW"),
    (["--input", "3x1:4:1,2x4"], "mixes a list and a range"),
    (["--resolution", "1:5000:1", "--input", "3x1:5000:1x224"], "both sweep the input size"),
    (["--resolution", "1:750000:1", "--set", "alpha=0.25:1:0.25"], "pass --yes"),
    (["--resolution", "1:1000000000000:1"], "at most 100,000,000"),
])
def test_bad_grids_are_one_line_errors(run_cli, args, message):
    code, out, err = run_cli("sweep", "mobilenet", *args)
    assert code == 2 and out == ""
    assert err.startswith("costcalc: ") and err.count("\n") == 1 and message in err, err


def test_parse_values():
    assert parse_values("0.25:1.0:0.25") == [0.25, 0.5, 0.75, 1.0]
    assert parse_values("224:128:-32") == [224, 192, 160, 128]
    assert parse_values("16:190:16")[-1] == 176          # stop included only on the grid
    assert parse_values("{1,2,3}") == [1, 2, 3]
    assert parse_values("true,false") == [True, False]
    assert parse_input_grid("3,224,224") == [[3], [224], [224]]
    with pytest.raises(UsageError):
        parse_values("1:2:3:4")


# ----------------------------------------------------------------------------- engine
@pytest.mark.parametrize("name", ["resnet50", "inception-v3", "mobilenet", "googlenet",
                                  "resnet-basic-block", "alexnet"])
def test_evaluate_many_equals_one_pass_per_input(name):
    """evaluate_many (sorted visits, cut reuse) against evaluate_each (a full pass per input),
    on shuffled inputs with repeats, too-small inputs, mismatched channels and overflows."""
    model = load(name).build()
    c = model.compile()
    rng = np.random.default_rng(6)
    C, H, W = model.input_shape
    n = 600
    hs, ws = rng.integers(1, 3 * H, n), rng.integers(1, 3 * W, n)
    cs = np.where(rng.random(n) < 0.8, C, rng.integers(1, 2 * C + 1, n))
    huge = rng.random(n) < 0.05
    hs = np.where(huge, rng.integers(1, 2**40, n), hs)
    inputs = np.stack([cs, hs, ws], 1).astype(np.int64)
    inputs = np.concatenate([inputs, inputs[:50], inputs[::-1][:50]])
    # with huge sizes (sorted by three stable sorts) and without (sorted on one packed key)
    for batch in (inputs, inputs[~np.concatenate([huge, huge[:50], huge[::-1][:50]])]):
        outs = []
        compiled = jit.engine()
        for fn in (compiled.evaluate_each, compiled.evaluate_many):
            totals = np.zeros((len(batch), 7), dtype=np.int64)
            status = np.zeros((len(batch), 2), dtype=np.int64)
            fn(c.codes, c.attrs, c.in_ptr, c.in_idx, batch, totals, status)
            outs.append((totals, status))
        assert (outs[0][0] == outs[1][0]).all() and (outs[0][1] == outs[1][1]).all()
        assert (outs[0][1][:, 0] == ops.OK).any()
