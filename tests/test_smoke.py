from costcalc.analysis import summarize


def test_conv5x5_macs_formula():
    # seeds' worked example: 28*28*32 outputs, each 5*5*192 multiplies
    assert summarize("conv5x5").totals["macs"] == 28 * 28 * 32 * (5 * 5 * 192)
