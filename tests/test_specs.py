"""One parametrised test drives every spec in specs/: load, summary, verify.

The expected values live in each spec's `expect:` section, each with its published source.
"""
import pytest

from costcalc.analysis import summarize
from costcalc.spec import available, load
from costcalc.verify import DISAGREES, FAIL, verify_spec

SPECS = sorted(available())


def test_there_are_specs():
    assert len(SPECS) >= 9


@pytest.mark.parametrize("name", SPECS)
def test_spec_loads_summarizes_and_verifies(name):
    spec = load(name)
    assert spec.source, f"{name}: every spec names its source"
    assert spec.expectations, f"{name}: every spec carries expected values"
    s = summarize(spec)
    assert s.totals["layers"] == len(s.layers) > 0
    assert s.totals["params"] == sum(r.params for r in s.layers)
    rows = verify_spec(spec)
    failed = [r for r in rows if r["status"] == FAIL]
    assert not failed, "\n".join(
        f"{r['quantity']} {r['setting']}: expected {r['expected']}, computed {r['computed']} "
        f"({r['source']}) {r['note']}" for r in failed)
    for r in rows:
        assert r["source"].strip(), f"{name}: an expectation without a source"
        if r["status"] == DISAGREES:
            assert r["note"], f"{name}: a source-disagrees entry must explain itself in a note"
