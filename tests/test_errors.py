"""Every user mistake: one clear line with file:line and layer, exit 2, never a traceback."""
import pytest

# The spec cases that lived here are corpus files now: tests/bad/spec/001-024 (run by
# tests/test_bad_inputs.py with the same checks: one line, file:line, exit 2, no traceback).


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
    (["summary", "conv5x5", "--format", "xml"], ["--format", "'xml'"]),
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
