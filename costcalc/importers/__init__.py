"""Models from other tools as costcalc specs: ONNX files and Keras architectures.

An importer reads a model's structure (never its weight values) and turns it into spec rows, so
everything downstream (summary, compare, report, sweep, run, verify) works unchanged:

    read(path, input_shape=None) -> Imported        # the rows, input, source and notes
    to_spec_text(imported) -> str                    # a readable YAML spec (emit.py)
    load(path, input_shape=None) -> Spec             # load_text(to_spec_text(read(path)))

The format is recognised from the content (``detect``), not from the extension: an ONNX
ModelProto (protobuf), Keras JSON (``model.to_json()``, a mapping with "class_name"; also
gzipped) or a ``.keras`` archive (a zip with config.json). Neither the onnx package nor Keras is needed.
"""
from __future__ import annotations

import dataclasses
import os

from ..errors import CostcalcError

FORMATS = ("onnx", "keras-json", "keras-archive")
EXTENSIONS = (".onnx", ".keras", ".json", ".json.gz")


class ImportFormatError(CostcalcError):
    """A model file that cannot be imported: ``file: what is wrong, what was expected``."""


@dataclasses.dataclass
class Imported:
    rows: list          # spec layer rows in topological order (what a spec's `layers:` holds);
                        # an optional "_original" (the file's own name) becomes a YAML comment
    input: tuple        # (C, H, W) of one sample
    source: dict        # {"file", "format", "producer", "opset", ...}
    title: str
    notes: list = dataclasses.field(default_factory=list)   # what the import chose


def _head(path, n=4096) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(n)
    except OSError as exc:
        raise ImportFormatError(f"cannot be read ({exc.strerror or exc}); expected a readable "
                                "model file", path) from None


def detect(path) -> str | None:
    """The format of a model file from its content: "onnx", "keras-json", "keras-archive", or
    None when it is none of them."""
    head = _head(path)
    if head.startswith(b"PK\x03\x04"):
        import zipfile
        try:
            with zipfile.ZipFile(path) as z:
                return "keras-archive" if "config.json" in z.namelist() else None
        except (zipfile.BadZipFile, OSError, ValueError):
            return None
    if head.startswith(b"\x1f\x8b"):             # gzip: Keras JSON compressed
        import gzip
        try:
            with gzip.open(path, "rb") as f:
                head = f.read(1 << 20)
        except (OSError, EOFError, ValueError):
            return None
        text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
        return "keras-json" if text.startswith(b"{") and b'"class_name"' in head else None
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"{"):
        return "keras-json" if b'"class_name"' in head or _json_has_class_name(path) else None
    from . import onnx
    return "onnx" if onnx.looks_like_onnx(path) else None


def _json_has_class_name(path) -> bool:
    """A JSON mapping whose "class_name" key comes later than the first 4 KB."""
    try:
        with open(path, "rb") as f:
            chunk = f.read(1 << 20)
    except OSError:
        return False
    return b'"class_name"' in chunk


def wants(name_or_path) -> bool:
    """Whether a spec argument names a model file to import: a path ending .onnx, .keras or
    .json, or an existing file (not .yaml) whose content detect() recognises."""
    text = str(name_or_path)
    if text.lower().endswith(EXTENSIONS):
        return True
    if text.lower().endswith((".yaml", ".yml")) or not os.path.isfile(text):
        return False
    try:
        return detect(text) is not None
    except CostcalcError:
        return False


def read(path, input_shape=None) -> Imported:
    """The model file as spec rows; ``input_shape`` (C, H, W) fixes dynamic or other input
    dimensions (``--input``)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ImportFormatError("no such file; expected the path of an ONNX model, a Keras "
                                "JSON architecture or a .keras archive", path)
    if os.path.isdir(path):
        raise ImportFormatError("is a directory; expected a model file (.onnx, .keras or Keras "
                                ".json)", path)
    fmt = detect(path)
    if fmt == "onnx":
        from . import onnx
        return onnx.read(path, input_shape)
    if fmt in ("keras-json", "keras-archive"):
        try:
            from . import keras
        except ImportError:
            raise ImportFormatError(f"is a {fmt} file, and this costcalc has no Keras importer; "
                                    "expected an ONNX model", path) from None
        return keras.read(path, input_shape)
    if path.lower().endswith(".onnx"):
        from . import onnx
        onnx.parse(path)                # a damaged ONNX file: where the protobuf breaks
    raise ImportFormatError("is not an ONNX model, a Keras JSON architecture or a .keras archive "
                            "(recognised from the content, not the extension); expected a file "
                            "written by torch.onnx.export / onnx.save, model.to_json() or "
                            "model.save('x.keras')", path)


def to_spec_text(imported: Imported) -> str:
    from .emit import to_spec_text as emit
    return emit(imported)


def spec_text(path, input_shape=None) -> str:
    """`costcalc import`: the model file as spec text (``input_shape``: "CxHxW", a tuple or
    None)."""
    from ..analysis import parse_input
    return to_spec_text(read(path, parse_input(input_shape)))


def write_text(path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (a temporary file in the same folder, then
    renamed): an interrupted write never leaves half a spec."""
    import tempfile
    from ..cli import OutputError
    folder = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".costcalc-", suffix=".yaml", dir=folder)
    except OSError as exc:
        raise OutputError(f"cannot write '{path}': {exc.strerror or exc}; expected a writable "
                          "folder") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise OutputError(f"cannot write '{path}': {exc.strerror or exc}; expected a writable "
                          "file path") from None


def load(path, input_shape=None):
    """The model file as a costcalc Spec (an ImportedSpec: building it with another input
    imports the file again at that input, so `--input` works as for a spec)."""
    from .emit import ImportedSpec
    return ImportedSpec.from_file(path, input_shape)
