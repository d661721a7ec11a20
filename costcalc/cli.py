"""The command line: each command parses, calls one library function, prints.

Heavy imports (numba, pandas, the engine) happen inside the commands, so ``costcalc --help`` is
instant. Every user mistake ends as one line on stderr and exit code 2, never a traceback.
"""
from __future__ import annotations

import os
import sys

import click

from .errors import CostcalcError, UsageError

FORMATS = ("table", "markdown", "csv", "json")


def _shown(value) -> str:
    from .analysis import shown
    return shown(value)


def _parse_sets(items) -> dict:
    """`--set name=value` texts -> {name: value}: a plain number as a number (1e-3 too),
    anything else as YAML reads it; never inf, NaN or an integer outside int64 (as `sweep`)."""
    from .sweep import scalar
    out = {}
    for item in items:
        if "=" not in item:
            raise UsageError(f"--set '{_shown(item)}' is not name=value (for example --set "
                             "alpha=0.5)")
        name, text = item.split("=", 1)
        name = name.strip()
        if not name:
            raise UsageError(f"--set '{_shown(item)}' has no parameter name")
        if name in out:
            raise UsageError(f"--set {_shown(name)} is given twice; expected each parameter "
                             "once")
        out[name] = scalar(text, f"--set {_shown(name)}", empty_ok=True)
    return out


class OutputError(CostcalcError):
    """The output could not be written (closed or full standard output, unwritable file)."""


def _emit(text: str):
    """Write the command's output to stdout, flushed: a closed or failing stdout is an error
    (exit 2, one line on stderr), never a silent success."""
    out = sys.stdout
    if out is None:
        raise OutputError("cannot write the output: standard output is closed; expected an "
                          "open stdout (a terminal, a file or a pipe)")
    try:
        out.write(text + "\n")
        out.flush()
    except BrokenPipeError:
        raise
    except (OSError, ValueError) as exc:      # ValueError: write to a closed file object
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise OutputError(f"cannot write the output to standard output: {reason}; expected a "
                          "writable stdout") from None


class _Choice(click.Choice):
    """click.Choice with a one-line message: 'xml' is not one of table, markdown, csv, json."""

    def convert(self, value, param, ctx):
        if value in self.choices:
            return value
        self.fail(f"'{_shown(str(value))}' is not one of {', '.join(self.choices)}", param, ctx)


class _Int(click.ParamType):
    """An integer option; its range is checked by the library function (one rule for the
    command line and the API)."""
    name = "integer"

    def __init__(self, expected: str):
        self.expected = expected

    def convert(self, value, param, ctx):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        text = str(value).strip()
        if len(text.lstrip("+-")) > 4000 or not text.lstrip("+-").isdigit():
            self.fail(f"'{_shown(str(value))}' is not an integer; expected {self.expected}",
                      param, ctx)
        return int(text)


format_option = click.option("--format", "fmt", type=_Choice(FORMATS), default="table",
                             show_default=True, help="Output format.")
set_option = click.option("--set", "sets", multiple=True, metavar="NAME=VALUE",
                          help="Override a spec parameter (repeatable), e.g. --set alpha=0.5.")
input_option = click.option("--input", "input_shape", metavar="CxHxW",
                            help="Override the input shape, e.g. 3x160x160.")
batch_option = click.option("--batch", type=_Int("a positive integer"), default=1, show_default=True,
                            help="Batch size: multiplies MACs, FLOPs and activations.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="costcalc")
def cli():
    """Exact MAC, FLOP and parameter counts for convolutional networks and blocks.

    A MAC is one multiply-accumulate; FLOPs = 2 x MACs + other ops; params count weights,
    biases and batch-norm statistics. `costcalc ops` states every rule.
    """


@cli.command("list")
@format_option
def list_cmd(fmt):
    """List the available specs."""
    from .catalog import spec_list
    from .render import dumps, table
    rows = spec_list()
    if fmt == "json":
        _emit(dumps(rows))
        return
    _emit(table(["spec", "title", "input", "parameters"],
                [[r["spec"], r["title"], r["input"], r["parameters"]] for r in rows], fmt))


@cli.command()
@click.argument("name")
@set_option
@input_option
@batch_option
@click.option("--columns", type=_Choice(("counts", "bytes")), default="counts",
              show_default=True,
              help="bytes: bytes read and written per layer and FLOPs per byte (issue 15).")
@click.option("--dtype", default="float32", show_default=True,
              help="With --columns bytes: float32, float16, int8 or float64.")
@format_option
def summary(name, sets, input_shape, batch, columns, dtype, fmt):
    """Per-layer table of a spec (like Keras model.summary()): shapes, params, MACs, FLOPs."""
    from .analysis import summarize
    s = summarize(name, _parse_sets(sets), input_shape, batch)
    if columns == "bytes":
        from .roofline import render_bytes
        _emit(render_bytes(s, dtype, fmt))
        return
    from .render import render_summary
    _emit(render_summary(s, fmt))


@cli.command()
@click.argument("names", nargs=-1, required=True)
@set_option
@input_option
@batch_option
@click.option("--depth", type=_Int("a positive integer"), default=None,
              help="Group the breakdown by the first N parts of each layer's name path.")
@click.option("--html", "html_file", metavar="FILE", default=None,
              help="Also write an interactive compare page (self-contained HTML).")
@click.option("--device", default=None, metavar="PROFILE",
              help="Also each spec's roofline time on this device profile, and its ratio.")
@click.option("--measure", is_flag=True, help="Also time the forward passes here (costcalc's, "
              "and PyTorch's when installed); predicted on --device or this machine.")
@format_option
def compare(names, sets, input_shape, batch, depth, html_file, device, measure, fmt):
    """Totals of several specs side by side, ratios to the first, and a per-layer breakdown."""
    from .analysis import compare as run
    from .render import render_compare
    text = render_compare(run(list(names), _parse_sets(sets), input_shape, batch, depth,
                              device, measure), fmt)
    if html_file is not None:
        from .html import compare_html
        compare_html(list(names), html_file, _parse_sets(sets), input_shape, batch)
    _emit(text)


@cli.command("sweep")
@click.argument("name")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUES",
              help="A parameter axis: a list v1,v2,... or a range start:stop:step (stop "
                   "included when on the grid); a single value is a fixed override. Repeatable.")
@click.option("--input", "input_shape", metavar="CxHxW",
              help="Input shape; each of C, H, W may be a list or range, e.g. "
                   "3x128,160,224x128,160,224 or '3x{128:224:32}x{128:224:32}' (H and W are "
                   "separate axes; quote braces in the shell).")
@click.option("--resolution", metavar="VALUES",
              help="Square inputs, H = W = each value (list or range), e.g. 128:224:32; C from "
                   "--input or the spec.")
@click.option("--yes", "confirm", is_flag=True,
              help="Run a large sweep: over 10,000,000 points, over a minute of estimated work or over 256 MiB of output.")
@click.option("--progress/--no-progress", default=None,
              help="Progress bar on stderr (default: when stderr is a terminal and the sweep is "
                   "large).")
@format_option
def sweep_cmd(name, sets, input_shape, resolution, confirm, progress, fmt):
    """How cost grows over a grid of parameters and input sizes.

    Every combination of the --set axes and the input axes is one point: a row with params,
    MACs, FLOPs, activations and peak activation memory, or the reason it cannot be evaluated.
    Then, per numeric axis, the growth exponent: the least-squares slope of log(quantity) on
    log(axis value), the other axes held at each of their values (MACs vs resolution: 2).

    \b
    Examples:
      costcalc sweep mobilenet --set alpha=0.25,0.5,0.75,1.0 --set resolution=128:224:32
      costcalc sweep resnet50 --resolution 128:512:32
      costcalc sweep conv5x5 --input 192x14,28,56x14,28,56
    """
    from .sweep import parse_sets, render_sweep, sweep
    # auto: a bar on a terminal for sweeps of 1000+ steps (parameter combinations + points)
    show = sys.stderr.isatty() if progress is None else progress
    least = 1000 if progress is None else 0
    bar = None

    def tick(advance, total):
        nonlocal bar
        if bar is None:
            if total < least:
                return
            bar = click.progressbar(length=total, label="sweep", file=sys.stderr)
            bar.__enter__()
        bar.update(advance)

    params = parse_sets(sets)
    try:
        result = sweep(name, params, input_shape, resolution, confirm=confirm,
                       progress=tick if show else None, fmt=fmt)
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    _emit(render_sweep(result, fmt))


@cli.command("run")
@click.argument("name")
@set_option
@input_option
@batch_option
@click.option("--seed", type=_Int("an integer from 0 to 2^63 - 1"), default=0, show_default=True, help="Seed of weights and input.")
@click.option("--dtype", default="float32", show_default=True, help="float32 or float64.")
@click.option("--count", "counting", is_flag=True,
              help="Counting mode: loop kernels count every multiply they execute.")
@click.option("--progress/--no-progress", default=None,
              help="Progress bar on stderr (default: when stderr is a terminal).")
@click.option("--no-fuse", "no_fuse", is_flag=True, help="One layer at a time (each layer's "
              "own time); default: batch norm, ReLU and residual adds in the convolution's pass.")
@format_option
def run_cmd(name, sets, input_shape, batch, seed, dtype, counting, progress, no_fuse, fmt):
    """Run a spec's forward pass on real tensors: time, GFLOP/s, executed MACs per layer."""
    from .execute import run
    from .render import render_run
    show = sys.stderr.isatty() if progress is None else progress
    bar = None

    def tick(i, n, layer):
        nonlocal bar
        if bar is None:
            bar = click.progressbar(length=n, label="forward", file=sys.stderr,
                                    item_show_func=lambda x: x)
            bar.__enter__()
        bar.update(1, layer)

    try:
        result = run(name, _parse_sets(sets), input_shape, batch, seed, dtype, counting,
                     tick if show else None, fuse=not no_fuse)
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    _emit(render_run(result, fmt))
    if counting and any(r.executed_macs != r.macs for r in result.layers):
        sys.exit(1)


@cli.command("train")
@click.argument("name")
@set_option
@input_option
@batch_option
@click.option("--trainable", multiple=True, metavar="GLOB",
              help="Only layers (or blocks, stages) matching train (repeatable).")
@click.option("--freeze", multiple=True, metavar="GLOB", help="Freeze matching layers (repeatable).")
@click.option("--trainable-from", metavar="LAYER", default=None,
              help="That layer and every later one train (Keras model.layers[k:]).")
@click.option("--optimizer", default="sgd", show_default=True,
              help="sgd, momentum, adam or adamw (its state in memory).")
@click.option("--dtype", default="float32", show_default=True,
              help="float32, float16, bfloat16 or float64 (bytes per number).")
@click.option("--samples", type=_Int("a positive integer"), default=None,
              help="Samples per epoch: FLOPs and steps of --epochs epochs.")
@click.option("--epochs", type=_Int("a positive integer"), default=1, show_default=True)
@click.option("--memory", "memory", metavar="SIZE", default=None,
              help="Memory to fit, e.g. 16GiB: the largest batch that fits.")
@click.option("--bn-training", is_flag=True,
              help="Frozen batch norm in training mode too (default: inference mode).")
@click.option("--inplace", is_flag=True, help="Activations overwrite their input (saves memory).")
@click.option("--run", is_flag=True, help="Execute the step on real tensors (time, memory).")
@click.option("--count", "counting", is_flag=True,
              help="Execute it with counting kernels: every gradient multiply against the rules.")
@click.option("--seed", type=_Int("an integer from 0 to 2^63 - 1"), default=0, show_default=True,
              help="Seed of weights, input and the loss's weights (with --run).")
@format_option
def train_cmd(name, sets, input_shape, batch, trainable, freeze, trainable_from, optimizer, dtype,
              samples, epochs, memory, bn_training, inplace, run, counting, seed, fmt):
    """Cost of a training step: forward, input- and weight-gradient MACs, memory."""
    from .training import counting_mismatches, parse_bytes, render_train, train
    result = train(name, _parse_sets(sets), input_shape, batch, trainable, freeze,
                   trainable_from, optimizer, dtype, samples, epochs,
                   parse_bytes(memory, "--memory") if memory is not None else None,
                   bn_training, inplace, run, counting, seed)
    _emit(render_train(result, fmt))
    if counting_mismatches(result):
        sys.exit(1)


@cli.command("latency")
@click.argument("name")
@set_option
@input_option
@batch_option
@click.option("--device", default=None, metavar="PROFILE",
              help="A built-in profile (`costcalc calibrate --list`) or a profile file; default: "
              "this machine's (calibrated once).")
@click.option("--dtype", default="float32", show_default=True)
@click.option("--measure", is_flag=True, help="Also run the forward pass: measured per layer "
              "(and PyTorch's, on the same graph, when torch is installed).")
@click.option("--no-torch", "no_torch", is_flag=True, help="With --measure: leave PyTorch out.")
@format_option
def latency_cmd(name, sets, input_shape, batch, device, dtype, measure, no_torch, fmt):
    """Roofline time per layer: max(FLOPs/peak, bytes/bandwidth), the bound, measured with --measure."""
    from .roofline import latency, render_latency
    _emit(render_latency(latency(name, _parse_sets(sets), input_shape, batch, dtype, device,
                                 measure=measure, torch=not no_torch), fmt))


@cli.command("calibrate")
@click.option("--seconds", type=float, default=2.0, show_default=True,
              help="Measuring time per kernel.")
@click.option("--list", "list_profiles", is_flag=True, help="Show the built-in profiles instead.")
@format_option
def calibrate_cmd(seconds, list_profiles, fmt):
    """Measure this machine's peak FLOP/s (sgemm) and memory bandwidth (STREAM) into a profile."""
    from .roofline import calibrate, render_profile, render_profiles
    if list_profiles:
        _emit(render_profiles(fmt))
        return
    _emit(render_profile(calibrate(seconds), fmt))


@cli.command()
@click.argument("names", nargs=-1)
@click.option("--out", "out_dir", default=None, metavar="DIR",
              help="Folder to write to (default: the project's reports/).")
@click.option("--check", is_flag=True,
              help="Regenerate in memory and fail if the committed reports differ.")
@click.option("--html", "html_dir", is_flag=False, flag_value="", default=None,
              metavar="[DIR]", help="Write interactive HTML pages instead (default DIR: "
              "reports/html, not committed).")
@click.option("--measure", is_flag=True, help="Measure the contrast reports' cases on this "
              "machine first (about a minute) and record them in DIR/data/measured.json.")
@set_option
def report(names, out_dir, check, html_dir, measure, sets):
    """Write the markdown cost reports (index, one per spec, contrasts) deterministically."""
    from pathlib import Path
    if html_dir is not None:
        from .html import write_html
        if check or measure:
            raise UsageError(f"--{'check' if check else 'measure'} is for the markdown reports; "
                             "it does not apply to --html")
        target = Path(html_dir or out_dir or "reports/html")
        written = write_html(target, list(names) or None, _parse_sets(sets))
        _emit(f"wrote {len(written)} HTML pages to {target} (open {written[-1]})")
        return
    if sets:
        raise UsageError("--set applies to --html pages; the markdown reports use each spec's "
                         "own settings")
    from .report import ReportsOutOfDate, check as run_check, write
    out = Path(out_dir) if out_dir else Path(__file__).resolve().parent.parent / "reports"
    if check:
        if names:
            raise UsageError("--check regenerates every report; give no spec names")
        if measure:
            raise UsageError("--check reads the recorded measurement; it cannot --measure")
        problems = run_check(out)
        if problems:
            raise ReportsOutOfDate("reports are out of date (run `costcalc report`):\n  "
                                   + "\n  ".join(problems))
        _emit(f"reports in {out} are up to date")
        return
    record = None
    if measure:
        if names:
            raise UsageError("--measure records the contrast reports' cases; give no spec names")
        from .report import check_target
        from .timing import measure as measure_cases
        check_target(out)            # before a minute of measuring, not after
        record = measure_cases(progress=lambda i, n, key: click.echo(
            f"measuring {i + 1}/{n}: {key}", err=True))
    written = write(out, names, record)
    _emit(f"wrote {len(written)} files to {out}")


@cli.command("import")
@click.argument("file")
@click.option("-o", "--output", "out", metavar="SPEC.yaml", default=None,
              help="Write the spec to this file (atomically) instead of standard output.")
@click.option("--input", "input_shape", metavar="CxHxW",
              help="Fix the input shape (needed when the model's dimensions are dynamic).")
def import_cmd(file, out, input_shape):
    """Turn an ONNX model or a Keras architecture (.json, .keras) into a readable spec."""
    from .importers import spec_text, write_text
    text = spec_text(file, input_shape)
    if out is None:
        _emit(text.rstrip("\n"))
    else:
        write_text(out, text)


@cli.command()
@format_option
def ops(fmt):
    """Every op with its attributes and counting formulas, and the conventions."""
    from .render import render_ops
    _emit(render_ops(fmt))


@cli.command()
@click.argument("names", nargs=-1)
@format_option
@click.option("--failures", is_flag=True, help="Show only rows that fail.")
def verify(names, fmt, failures):
    """Check specs' expected values against published numbers (exit 1 if any fails)."""
    from .render import dumps, table
    from .verify import FAIL, verify as run
    rows = run(names)
    shown = [r for r in rows if r["status"] == FAIL] if failures else rows
    if fmt == "json":
        _emit(dumps(shown))
    else:
        keys = ["spec", "quantity", "setting", "expected", "computed", "difference", "tolerance",
                "status", "source"]
        if shown:
            _emit(table(keys, [[_plain(r[k]) for k in keys] for r in shown], fmt))
        failed = sum(r["status"] == FAIL for r in rows)
        disagree = sum(r["status"] == "source disagrees" for r in rows)
        _emit(f"\n{len(rows)} checks: {len(rows) - failed - disagree} pass, {disagree} source "
              f"disagrees (shown with the exact value), {failed} fail")
        for r in rows:
            if r["status"] == FAIL and r["note"]:
                _emit(f"  {r['spec']} {r['quantity']}: {r['note']}")
    if any(r["status"] == FAIL for r in rows):
        sys.exit(1)


def _plain(v):
    if isinstance(v, float) and v == int(v) and abs(v) < 2**63:
        return int(v)
    if isinstance(v, float):
        return round(v, 4)
    if isinstance(v, list):
        return "x".join(map(str, v))
    return v


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def usage_line(exc: click.ClickException) -> str:
    """A click usage error as the README promises: one line, `costcalc: --option: what is
    wrong, what was expected` (click's own form is four lines with Usage: and Try:)."""
    if isinstance(exc, click.BadParameter) and exc.param is not None \
            and not isinstance(exc, click.MissingParameter):
        param = exc.param
        hint = (param.opts[0] if getattr(param, "param_type_name", "") == "option" and param.opts
                else (param.human_readable_name or param.name or "").upper())
        message = f"{hint}: {exc.message}"
    else:
        message = exc.format_message()
        if message[:1].isupper() and message[1:2].islower():
            message = message[0].lower() + message[1:]
    message = _one_line(message).rstrip(".")
    if len(message) > 400:
        message = message[:397] + "..."
    return f"costcalc: {message}"


def main(argv=None):
    try:
        code = cli.main(args=argv, prog_name="costcalc", standalone_mode=False)
        if sys.stdout is not None:
            try:
                sys.stdout.flush()
            except (OSError, ValueError):
                raise OutputError("cannot write the output to standard output; expected a "
                                  "writable stdout") from None
        if isinstance(code, int) and code:
            sys.exit(code)
    except CostcalcError as exc:
        for line in str(exc).splitlines() or [""]:      # SpecErrors: one line per error
            click.echo(f"costcalc: {line}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("costcalc: aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        click.echo(usage_line(exc), err=True)
        sys.exit(exc.exit_code)
    except (BrokenPipeError, KeyboardInterrupt):
        sys.exit(130)
    except Exception as exc:  # a bug: one line, the traceback only on request
        if os.environ.get("COSTCALC_DEBUG"):
            raise
        click.echo(f"costcalc: internal error: {type(exc).__name__}: {exc} (set COSTCALC_DEBUG=1 "
                   "for the traceback, and please report it)", err=True)
        sys.exit(3)


if __name__ == "__main__":
    main()
