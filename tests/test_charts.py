"""Charts (costcalc/charts.py), the recorded measurement (costcalc/timing.py) and the contrast
reports' time tables (costcalc/contrasts_time.py): every number derived here by hand from the
bytes and roofline models of the conventions (each tensor read or written once per layer;
time = max(FLOPs / peak, bytes / bandwidth))."""
import copy
import json
import textwrap

import pytest

from costcalc import charts, contrasts_time, report, timing
from costcalc.analysis import summarize
from costcalc.roofline import Profile, load_profile, predict
from costcalc.spec import load_text

PEAK, BW = 100e9, 10e9          # a hand profile: ridge 10 FLOP/byte
HAND = Profile(name="hand", source="a test", peak_flops={"float32": PEAK}, bandwidth=BW)

# 8 x 10 x 10 input; conv 3x3 same 16 filters no bias; depthwise 3x3 same no bias; flatten (no
# FLOPs); dense 10 units no bias
SPEC = textwrap.dedent("""\
    input: [8, 10, 10]
    layers:
      - {name: c, op: conv2d, filters: 16, kernel: 3, padding: same, bias: false}
      - {name: d, op: depthwise_conv2d, kernel: 3, padding: same, bias: false}
      - {name: f, op: flatten}
      - {name: fc, op: dense, units: 10, bias: false}
    """)
C_MACS = 10 * 10 * 16 * 9 * 8            # H W C_out k k C_in
C_BYTES = 4 * (8 * 100 + 9 * 8 * 16 + 16 * 100)
D_MACS = 10 * 10 * 16 * 9
D_BYTES = 4 * (16 * 100 + 9 * 16 + 16 * 100)
FC_MACS = 1600 * 10
FC_BYTES = 4 * (1600 + 1600 * 10 + 10)


def hand_point(macs, nbytes):
    flops = 2 * macs
    t = max(flops / PEAK, nbytes / BW)
    return flops / nbytes, flops / t


@pytest.fixture(scope="module")
def result():
    return predict(summarize(load_text(SPEC, "hand.yaml")), HAND)


def test_roofline_points_are_the_model_by_hand(result):
    data = charts.roofline(result, "hand", ("predicted",))
    assert data["peak_flops"] == PEAK and data["bandwidth"] == BW
    assert data["omitted"] == 1                       # flatten: no FLOPs, no point on a log axis
    (series,) = data["series"]
    assert [p[:2] for p in series["points"]] == [["c", "conv2d"], ["d", "depthwise_conv2d"],
                                                 ["fc", "dense"]]
    for p, (macs, nbytes) in zip(series["points"], [(C_MACS, C_BYTES), (D_MACS, D_BYTES),
                                                    (FC_MACS, FC_BYTES)]):
        intensity, attained = hand_point(macs, nbytes)
        assert p[2] == pytest.approx(intensity, rel=1e-5)
        assert p[3] == pytest.approx(attained, rel=1e-5)
    # the conv is above the ridge (compute-bound: attained = peak), the depthwise below it
    assert series["points"][0][3] == pytest.approx(PEAK, rel=1e-5)
    assert series["points"][1][3] == pytest.approx(BW * 2 * D_MACS / D_BYTES, rel=1e-5)


def test_shares_by_op_by_hand(result):
    data = charts.shares_by_op(result, "hand")
    macs = C_MACS + D_MACS + FC_MACS
    times = {"conv2d": hand_time(C_MACS, C_BYTES), "depthwise_conv2d": hand_time(D_MACS, D_BYTES),
             "dense": hand_time(FC_MACS, FC_BYTES)}
    total = sum(times.values()) + 4 * 2 * 1600 / BW        # flatten: reads and writes 1600
    got = dict(zip(data["categories"], zip(data["series"][0]["values"],
                                           data["series"][1]["values"])))
    for op, m in (("conv2d", C_MACS), ("depthwise_conv2d", D_MACS), ("dense", FC_MACS)):
        assert got[op][0] == pytest.approx(100 * m / macs, rel=1e-5)
        assert got[op][1] == pytest.approx(100 * times[op] / total, rel=1e-5)
    assert data["unit"] == "percent" and [s["label"] for s in data["series"]] == [
        "MACs", "predicted time (hand)"]


def hand_time(macs, nbytes):
    return max(2 * macs / PEAK, nbytes / BW)


def test_bars_refuse_a_series_of_the_wrong_length():
    with pytest.raises(ValueError, match="2 values for 3 categories"):
        charts.bars("t", ["a", "b", "c"], [("s", [1, 2])], "x")


def test_picture_carries_its_data_digest_and_is_deterministic(result):
    pytest.importorskip("matplotlib")
    data = charts.roofline(result, "hand")
    text = charts.dumps(data)
    one, two = charts.svg(data, text), charts.svg(data, text)
    assert one == two and one.lstrip().startswith("<?xml") and "<svg" in one
    assert charts.drawn_from(one, text)
    other = copy.deepcopy(data)
    other["series"][0]["points"][0][3] *= 2
    assert not charts.drawn_from(one, charts.dumps(other))
    bars = charts.shares_by_op(result, "hand")
    assert charts.drawn_from(charts.svg(bars), charts.dumps(bars))


# ----------------------------------------------------------------------------- report --check
def fake_build(data):
    def build(names=None, measured=None):
        return {"a.md": "# a\n", "charts/c.json": charts.dumps(data)}
    return build


def test_check_compares_chart_data_and_the_pictures_digest(tmp_path, monkeypatch, result):
    pytest.importorskip("matplotlib")
    data = charts.shares_by_op(result, "hand")
    monkeypatch.setattr(report, "build", fake_build(data))
    written = report.write(tmp_path)
    assert written == ["a.md", "charts/c.json", "charts/c.svg"]
    assert report.check(tmp_path) == []
    # the data changes: the json line differs, and the picture was drawn from the old data
    other = copy.deepcopy(data)
    other["series"][0]["values"][0] += 1
    monkeypatch.setattr(report, "build", fake_build(other))
    problems = report.check(tmp_path)
    assert any("c.svg: drawn from other data" in p for p in problems), problems
    assert any(p.startswith(str(tmp_path / "charts" / "c.json") + ":") for p in problems)
    # a missing picture
    monkeypatch.setattr(report, "build", fake_build(data))
    (tmp_path / "charts" / "c.svg").unlink()
    assert any("c.svg: missing" in p for p in report.check(tmp_path))


def test_pictures_need_matplotlib_and_say_so(monkeypatch):
    import builtins
    real = builtins.__import__

    def no_mpl(name, *a, **k):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError(name)
        return real(name, *a, **k)
    monkeypatch.setattr(builtins, "__import__", no_mpl)
    with pytest.raises(Exception, match=r"pip install 'costcalc\[charts\]'"):
        charts.svg(charts.bars("t", ["a"], [("s", [1])], "x"))


# ----------------------------------------------------------------------------- measured record
def fake_record(times=lambda k, i: 1e-3 * (i + 1), torch=lambda k, i: 2e-3):
    """A record of every case with made-up seconds (layer i of a case: times(key, i))."""
    profile = load_profile("epyc-9654")
    cases = {}
    for key in timing.cases():
        s = timing.case_summary(key)
        cases[key] = {"spec": s.id, "set": {}, "macs": s.totals["macs"], "run_s": 1.0,
                      "repeat": 5, "layers": [[r.name, times(key, i), torch(key, i)]
                                              for i, r in enumerate(s.layers)]}
    rec = {"format": 1, "dtype": "float32", "batch": 1, "repeat": 5, "case_seconds": 0.5,
           "date": "2026-12-01T00:00:00+00:00",
           "machine": {"cpu": "a test CPU", "python": "3", "blas": "a BLAS", "torch": "2"},
           "profile": {"name": "this-machine", "source": "a test", "kind": "cpu",
                       "peak_flops": {"float32": profile.peak("float32")},
                       "bandwidth": profile.bandwidth},
           "cases": cases}
    return rec


def test_pair_ratios_from_a_record_by_hand():
    rec = timing.checked(fake_record(), "rec.json")
    std, sep = summarize("conv3x3-standard"), summarize("conv3x3-separable")
    ctx = contrasts_time.Ctx({}, rec)
    headers, rows, series = contrasts_time.pair_rows(
        ctx, [("t3", ("conv3x3-standard", std), ("conv3x3-separable", sep))])
    got = dict(series)
    # standard: one layer (1 ms, PyTorch 2 ms); separable: two layers (1 + 2 ms; 2 + 2 ms)
    assert got["measured costcalc"] == [pytest.approx(1e-3 / 3e-3)]
    assert got["measured PyTorch"] == [pytest.approx(2e-3 / 4e-3)]
    assert got["MACs ratio"] == [pytest.approx(462422016 / 52283392)]
    # predicted on epyc-9654 (7.3728e12 FLOP/s, 460.8e9 B/s), by hand: the standard conv is
    # compute-bound; the depthwise layer memory-bound, the pointwise compute-bound
    t_std = max(2 * 462422016 / 7.3728e12, 4 * (512 * 196 * 2 + 9 * 512 * 512) / 460.8e9)
    t_dw = max(2 * 9 * 512 * 196 / 7.3728e12, 4 * (512 * 196 * 2 + 9 * 512) / 460.8e9)
    t_pw = max(2 * 512 * 512 * 196 / 7.3728e12, 4 * (512 * 196 * 2 + 512 * 512) / 460.8e9)
    assert got["predicted epyc-9654"] == [pytest.approx(t_std / (t_dw + t_pw))]
    assert got["predicted this machine"] == got["predicted epyc-9654"]   # the same profile
    assert rows[0][0] == "t3" and rows[0][-2] == f"{1 / 3:.2f}x"


def test_share_of_time_by_layer_type_from_a_record():
    rec = timing.checked(fake_record(times=lambda k, i: 1e-3, torch=lambda k, i: None),
                         "rec.json")
    mob = summarize("mobilenet")
    res = timing.case_result(rec, "mobilenet", mob)
    names = [r.name for r in mob.layers if r.name.startswith("conv_pw")]
    (row,) = contrasts_time.shares(res, [("pw", names)])
    assert row[3] == pytest.approx(100 * len(names) / len(mob.layers))   # 1 ms each
    assert row[4] is None                                                # no PyTorch times


def test_a_stale_record_is_refused():
    rec = fake_record()
    rec["cases"]["mobilenet"]["macs"] += 1
    rec = timing.checked(rec, "rec.json")
    with pytest.raises(timing.MeasuredError, match=r"rec.json: case 'mobilenet' was measured on "
                       r"\d+ layers and \d+ MACs, but mobilenet now has .*\(run `costcalc report "
                       r"--measure`"):
        timing.case_result(rec, "mobilenet", summarize("mobilenet"))
    rec2 = fake_record()
    del rec2["cases"]["conv5x5"]
    with pytest.raises(timing.MeasuredError, match="no case 'conv5x5'"):
        timing.case_result(timing.checked(rec2, "r.json"), "conv5x5", summarize("conv5x5"))


@pytest.mark.parametrize("mutate, fragment", [
    (lambda r: r.update(format=2), "not a format-1 record"),
    (lambda r: r.update(dtype="float16"), "recorded for dtype 'float16'"),
    (lambda r: r["cases"]["conv5x5"]["layers"][0].__setitem__(1, 0.0), "positive finite"),
    (lambda r: r["cases"]["conv5x5"]["layers"][0].__setitem__(1, float("nan")), "positive"),
    (lambda r: r["cases"]["conv5x5"].__setitem__("layers", "x"), "case 'conv5x5'"),
    (lambda r: r["profile"].__setitem__("bandwidth", -1), "profile"),
    (lambda r: r.pop("case_seconds"), "case_seconds"),
])
def test_a_bad_record_is_one_clear_error(tmp_path, run_cli, mutate, fragment):
    rec = fake_record()
    mutate(rec)
    (tmp_path / "data").mkdir()
    path = tmp_path / "data" / "measured.json"
    path.write_text(json.dumps(rec))
    with pytest.raises(timing.MeasuredError, match=fragment):
        timing.load_measured(path)
    code, out, err = run_cli("report", "--check", "--out", str(tmp_path))
    assert code == 2 and out == "" and str(path) in err and fragment in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_no_record_means_predicted_only():
    ctx = contrasts_time.Ctx({}, None)
    std, sep = summarize("conv3x3-standard"), summarize("conv3x3-separable")
    headers, rows, _ = contrasts_time.pair_rows(
        ctx, [("t3", ("conv3x3-standard", std), ("conv3x3-separable", sep))])
    assert not any("measured" in h for h in headers)
    assert "report --measure" in contrasts_time.machine_line(None)


def test_every_case_a_report_reads_is_measured():
    """The reports ask the record for exactly the cases timing.measure() records."""
    asked = []
    real = timing.case_times

    def spy(record, key, summary):
        asked.append(key)
        return real(record, key, summary)
    rec = timing.checked(fake_record(), "rec.json")
    from costcalc import contrasts
    old, timing.case_times = timing.case_times, spy
    try:
        for fname in ("separable.md", "bottleneck.md", "mobilenet-scaling.md"):
            contrasts.REPORTS[fname][1]({}, rec)
        for name in timing.NETWORKS:           # their own reports' measured section
            report.spec_report(name, [], {}, rec)
    finally:
        timing.case_times = old
    assert set(asked) == set(timing.cases())


# ----------------------------------------------------------------------------- compare
def test_compare_puts_time_next_to_the_mac_ratio(run_cli):
    from costcalc import api
    from costcalc.analysis import compare
    from costcalc.render import render_compare
    res = compare(["conv3x3-standard", "conv3x3-separable"], device="epyc-9654")
    # by hand on epyc-9654 (as in test_pair_ratios_from_a_record_by_hand)
    t_std = max(2 * 462422016 / 7.3728e12, 4 * (512 * 196 * 2 + 9 * 512 * 512) / 460.8e9)
    t_sep = (max(2 * 9 * 512 * 196 / 7.3728e12, 4 * (512 * 196 * 2 + 9 * 512) / 460.8e9)
             + max(2 * 512 * 512 * 196 / 7.3728e12, 4 * (512 * 196 * 2 + 512 * 512) / 460.8e9))
    assert [t["predicted_s"] for t in res["times"]] == [pytest.approx(t_std),
                                                        pytest.approx(t_sep)]
    assert all(t["measured_s"] is None for t in res["times"])
    d = json.loads(render_compare(res, "json"))
    assert d["specs"][1]["time"]["predicted_s_ratio_to_first"] == pytest.approx(t_sep / t_std)
    head = render_compare(res, "csv").splitlines()[0].split(",")
    i = head.index("MACs vs conv3x3-standard")
    assert head[i + 1:i + 3] == ["predicted ms", "predicted vs conv3x3-standard"]
    df = api.compare(["conv3x3-standard", "conv3x3-separable"], device="epyc-9654")
    assert df["predicted_vs_first"].iloc[1] == pytest.approx(t_sep / t_std)
    assert "measured_s" not in df.columns
    # without --device or --measure compare stays the counts only
    assert compare(["conv3x3-standard", "conv3x3-separable"])["times"] is None
    code, out, err = run_cli("compare", "conv5x5", "conv5x5-bottleneck", "--device", "nope")
    assert code == 2 and out == "" and "unknown device 'nope'" in err


def test_compare_measure_times_each_spec(monkeypatch):
    from costcalc import roofline
    from costcalc.analysis import compare
    monkeypatch.setattr(roofline, "TORCH_TIMER", lambda model, **k: {
        layer.name: 1e-3 for layer in model.layers[1:]})
    monkeypatch.setattr(roofline, "pause", lambda: None)
    res = compare(["conv3x3-standard", "conv3x3-separable"], device="epyc-9654", measure=True)
    a, b = res["times"]
    assert a["measured_s"] > 0 and b["measured_s"] > 0
    assert (a["torch_s"], b["torch_s"]) == (pytest.approx(1e-3), pytest.approx(2e-3))


def test_a_network_report_shows_its_recorded_time_by_hand():
    # every layer 1 ms in costcalc and 2 ms in PyTorch: each op type's measured share is its
    # share of the layers; the section's totals are the layer counts in ms
    rec = timing.checked(fake_record(times=lambda k, i: 1e-3, torch=lambda k, i: 2e-3), "r.json")
    charts_ = {}
    text = report.spec_report("resnet50", [], charts_, rec)
    s = summarize("resnet50")
    n = len(s.layers)
    assert f"measured {n:.4g} ms with costcalc's forward pass" in text
    assert f"and {2 * n:.4g} ms with PyTorch's" in text
    shares = charts_["resnet50-time-by-op-measured"]
    convs = sum(r.op == "conv2d" for r in s.layers)
    got = dict(zip(shares["categories"], shares["series"][2]["values"]))
    assert got["conv2d"] == pytest.approx(100 * convs / n, rel=1e-5)
    assert "resnet50-roofline-measured" in charts_ and "### Measured on this machine" in text
    assert "### Measured" not in report.spec_report("resnet50", [], {}, None)


def test_report_measure_checks_the_folder_before_measuring(tmp_path, run_cli, monkeypatch):
    def never(*a, **k):
        raise AssertionError("measured before checking the folder")
    monkeypatch.setattr(timing, "measure", never)
    f = tmp_path / "a-file"
    f.write_text("x")
    for out in (f, f / "sub"):
        code, stdout, err = run_cli("report", "--measure", "--out", str(out))
        assert code == 2 and stdout == "" and str(f) in err and "Traceback" not in err
    assert f.read_text() == "x" and list(tmp_path.iterdir()) == [f]
