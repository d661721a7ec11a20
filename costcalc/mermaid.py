"""Mermaid text for reports: graph flowcharts and bar charts (GitHub renders both in markdown)."""
from __future__ import annotations

from .render import human, shape_text


def _label(text: str) -> str:
    return text.replace('"', "#quot;")


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


def bar_chart(title: str, labels, values, y_label: str) -> str:
    """An xychart-beta bar chart; values are plotted as given (round them first)."""
    xs = ", ".join(f'"{_label(str(x))}"' for x in labels)
    ys = ", ".join(f"{v:g}" for v in values)
    return "\n".join(["```mermaid", "xychart-beta", f'  title "{_label(title)}"',
                      f"  x-axis [{xs}]", f'  y-axis "{_label(y_label)}"', f"  bar [{ys}]",
                      "```"])


def line_chart(title: str, labels, values, y_label: str, x_label: str = "") -> str:
    xs = ", ".join(f'"{_label(str(x))}"' for x in labels)
    ys = ", ".join(f"{v:g}" for v in values)
    x_axis = f'  x-axis "{_label(x_label)}" [{xs}]' if x_label else f"  x-axis [{xs}]"
    return "\n".join(["```mermaid", "xychart-beta", f'  title "{_label(title)}"', x_axis,
                      f'  y-axis "{_label(y_label)}"', f"  line [{ys}]", "```"])
