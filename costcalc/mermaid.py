"""Mermaid text for reports: graph flowcharts and bar charts (GitHub renders both in markdown)."""
from __future__ import annotations

from .render import human, shape_text


def _label(text: str) -> str:
    return text.replace('"', "#quot;")


def _number(v) -> str:
    """A plain decimal: xychart-beta's parser rejects exponents, which f"{v:g}" writes from 1e6
    up ("1.2e+07": "Parse error", found by rendering with mermaid 11)."""
    text = f"{v:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def flowchart(summary, direction="TD") -> str:
    """The graph of a spec, one node per layer with its op, output shape and MACs."""
    model = summary.model
    ids = {layer.name: f"n{i}" for i, layer in enumerate(model.layers)}
    lines = ["```mermaid", f"flowchart {direction}"]
    lines.append(f'  n0["input<br/>{shape_text(model.input_shape)}"]')
    for row in summary.layers:
        cost = f"<br/>{human(row.macs)} MACs" if row.macs else ""
        lines.append(f'  {ids[row.name]}["{_label(row.name)} · {row.op}<br/>'
                     f'{shape_text(row.output_shape)}{cost}"]')
    for row in summary.layers:
        for src in row.inputs:
            lines.append(f"  {ids[src]} --> {ids[row.name]}")
    lines.append("```")
    return "\n".join(lines)


def bar_chart(title: str, labels, values, y_label: str, zero: bool = False) -> str:
    """An xychart-beta bar chart; values are plotted as given (round them first). Mermaid starts
    the y axis near the smallest value, which exaggerates differences between bars; ``zero``
    draws it from 0 (to the largest value)."""
    xs = ", ".join(f'"{_label(str(x))}"' for x in labels)
    ys = ", ".join(_number(v) for v in values)
    y_range = f" 0 --> {_number(max(values))}" if zero and max(values) > 0 else ""
    return "\n".join(["```mermaid", "xychart-beta", f'  title "{_label(title)}"',
                      f"  x-axis [{xs}]", f'  y-axis "{_label(y_label)}"{y_range}',
                      f"  bar [{ys}]", "```"])


def line_chart(title: str, labels, values, y_label: str, x_label: str = "") -> str:
    xs = ", ".join(f'"{_label(str(x))}"' for x in labels)
    ys = ", ".join(_number(v) for v in values)
    x_axis = f'  x-axis "{_label(x_label)}" [{xs}]' if x_label else f"  x-axis [{xs}]"
    return "\n".join(["```mermaid", "xychart-beta", f'  title "{_label(title)}"', x_axis,
                      f'  y-axis "{_label(y_label)}"', f"  line [{ys}]", "```"])
