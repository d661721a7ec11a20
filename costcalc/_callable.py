"""`costcalc.sweep(...)` and `costcalc.ops()` are API functions (costcalc/api.py) that share
their names with the modules costcalc.sweep and costcalc.ops, which Python binds to the package
attribute on import. Those two modules are made callable: calling one calls its API function."""
import importlib
import sys
import types


def make_callable(module_name: str, target: str, doc: str = "") -> None:
    mod_name, fn_name = target.split(":")

    class CallableModule(types.ModuleType):
        def __call__(self, *args, **kwargs):
            return getattr(importlib.import_module(mod_name), fn_name)(*args, **kwargs)

    CallableModule.__call__.__doc__ = doc or f"The same as {mod_name}.{fn_name}."
    sys.modules[module_name].__class__ = CallableModule
