"""The list of specs, read without running the engine (so `costcalc list` is quick)."""
from __future__ import annotations

from .errors import CostcalcError
from .expr import ExprError, substitute
from .render import source_text
from .spec import available, load


def spec_list() -> list[dict]:
    rows = []
    for name in sorted(available()):
        try:
            spec = load(name)
            try:
                shape = "x".join(map(str, substitute(spec.data["input"], dict(spec.defaults))))
            except ExprError:
                shape = str(spec.data["input"])
            params = ", ".join(f"{k}={v}" for k, v in spec.defaults.items())
            rows.append({"spec": name, "title": spec.title, "input": shape,
                         "parameters": params, "source": source_text(spec.source)})
            for vname, (values, title, _) in spec.variants.items():
                vals = {**spec.defaults, **values}
                try:
                    vshape = "x".join(map(str, substitute(spec.data["input"], vals)))
                except ExprError:
                    vshape = str(spec.data["input"])
                rows.append({"spec": vname, "title": title or f"{spec.title} ({vname})",
                             "input": vshape,
                             "parameters": ", ".join(f"{k}={v}" for k, v in values.items()),
                             "source": source_text(spec.source)})
        except CostcalcError as exc:
            rows.append({"spec": name, "title": f"(cannot load: {exc})", "input": "",
                         "parameters": "", "source": ""})
    return rows
