"""costcalc: exact FLOP/MAC and parameter counts for convolutional networks, from YAML specs.

The Python API (costcalc/api.py) loads on first use, so `import costcalc` and `costcalc --help`
stay quick: ``costcalc.analyze("resnet50").layers`` is a pandas DataFrame.
"""

__version__ = "0.1.0"

_API = ("Analysis", "Latency", "analyze", "compare", "latency", "load", "ops", "sweep", "train")
__all__ = list(_API)


def __getattr__(name):
    import importlib
    if name in ("ops", "sweep"):         # submodules that are also API functions: callable
        return importlib.import_module(f".{name}", __name__)     # (costcalc/_callable.py)
    if name in _API:
        from . import api
        return getattr(api, name)
    raise AttributeError(f"module 'costcalc' has no attribute {name!r}")
