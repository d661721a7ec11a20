"""What the benchmarks share: machine facts and their sections of reports/performance.md."""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "reports" / "performance.md"
PREAMBLE = ("# Performance\n\nMachine-dependent measurements (everything else in reports/ is "
            "deterministic). Each section is written by its own benchmark.\n")


def cpu_model() -> str:
    from costcalc.roofline import cpu_model as model      # one reader of /proc/cpuinfo
    return model()


def write_section(name: str, section: str) -> None:
    """Put ``section`` between ``<!-- name:begin -->`` and ``<!-- name:end -->`` in the report,
    keeping every other benchmark's section; a new section goes at the end."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    text = REPORT.read_text() if REPORT.exists() else PREAMBLE
    block = f"{begin}\n{section.strip()}\n{end}"
    if begin in text and end in text and text.index(begin) < text.index(end):
        head, rest = text.split(begin, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(text)


def publish(name: str, section: str, write: bool = True) -> None:
    """Print a benchmark's section and, unless told not to, write it into the report."""
    print()
    print(section)
    if write:
        write_section(name, section)
        print(f"wrote {REPORT.relative_to(ROOT)}")
