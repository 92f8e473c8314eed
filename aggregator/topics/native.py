"""The topic matcher compiled to C with mypyc, and the choice, at import, of compiled or pure Python.

Classification runs on every item of every poll, and its cost is spread over many small Python steps (folding,
the prefilter's candidates, the anchored regexes, the topic rules), not one hotspot. mypyc, the compiler that
ships with mypy, turns these already strictly typed modules into C extensions: the same source, about 1.4 times
faster, with no second implementation to keep in step.

``python -m aggregator.topics.native_build build`` (``make native``) compiles ``COMPILED_MODULES`` into
``build/native/`` and writes a stamp there with a digest of every source of this package. On import,
``aggregator.topics`` calls ``activate``: when the stamp matches the sources as they are now, the package's
``__path__`` starts with the compiled directory, so ``import aggregator.topics.match`` loads the extension.
Otherwise (no build, a build of older sources, another Python) the package runs as pure Python, and
the reason is in ``aggregator.topics.MATCHER``. A stale build is never loaded: editing a source without
rebuilding cannot run old code.

``TOPICS_NATIVE`` chooses: ``auto`` (the default: compiled when a fresh build is there), ``off`` (always
pure Python) or ``require`` (fail at import unless the compiled matcher loads; CI sets it, so the tests run
what is shipped). Both forms give the same results: ``tests/test_topics_native.py`` compares them.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import sysconfig
from pathlib import Path

__all__ = [
    "COMPILED_MODULES", "NATIVE_DIR", "SHARED_LIBRARY", "STAMP", "NativeUnavailable", "activate", "sources_digest",
]

PACKAGE = "aggregator.topics"
PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = PACKAGE_DIR.parent.parent
NATIVE_DIR = PROJECT_ROOT / "build" / "native"
# The modules on the classifier's hot path. rules.py (validation, run once per load) and the benchmarks stay
# Python; the digest still covers them, as compiled code reads their classes.
COMPILED_MODULES = ("text", "prefilter", "match")
SHARED_LIBRARY = "aggregator_topics_native__mypyc"
STAMP = "STAMP.json"
MODES = ("auto", "off", "require")


class NativeUnavailable(ImportError):
    """``TOPICS_NATIVE=require``, and the compiled matcher cannot be loaded (the message says why and what to do)."""


def sources_digest(package_dir: Path = PACKAGE_DIR) -> str:
    """What a build must have been made from: every source of the package, and this interpreter's ABI."""
    digest = hashlib.sha256()
    digest.update(str(sysconfig.get_config_var("EXT_SUFFIX")).encode())
    for path in sorted(package_dir.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _read_stamp(native_dir: Path) -> dict[str, object] | None:
    try:
        stamp = json.loads((native_dir / STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return stamp if isinstance(stamp, dict) else None


def activate(
    package_path: list[str],
    native_dir: Path = NATIVE_DIR,
    mode: str | None = None,
    package_dir: Path = PACKAGE_DIR,
) -> str:
    """Put the compiled modules first on ``package_path`` (the package's ``__path__``) if a fresh build exists.

    Returns how the matcher runs, in words ("compiled (build/native)" or "pure Python: <why>"). Raises
    ``NativeUnavailable`` when ``mode`` (default: ``TOPICS_NATIVE``) is ``require`` and no fresh build is there.
    """
    mode = (mode if mode is not None else os.environ.get("TOPICS_NATIVE", "auto")).strip().lower() or "auto"
    if mode not in MODES:
        raise NativeUnavailable(f"TOPICS_NATIVE must be one of {', '.join(MODES)}, not {mode!r}")
    if mode == "off":
        return "pure Python (TOPICS_NATIVE=off)"
    stamp = _read_stamp(native_dir)
    compiled_dir = native_dir.joinpath(*PACKAGE.split("."))
    if stamp is None:
        reason = f"no compiled build in {native_dir} (run `make native`)"
    elif stamp.get("digest") != sources_digest(package_dir):
        reason = f"the build in {native_dir} is of other sources or another Python (run `make native` again)"
    elif not any(native_dir.glob(f"{SHARED_LIBRARY}.*")) or not all(
        any(compiled_dir.glob(f"{name}.*")) for name in COMPILED_MODULES
    ):
        reason = f"the build in {native_dir} is incomplete (run `make native` again)"
    else:
        if str(compiled_dir) not in package_path:
            package_path.insert(0, str(compiled_dir))
        if str(native_dir) not in sys.path:
            sys.path.append(str(native_dir))  # last: it holds only the shared library
        return f"compiled ({native_dir})"
    if mode == "require":
        raise NativeUnavailable(f"TOPICS_NATIVE=require, but {reason}")
    return f"pure Python: {reason}"
