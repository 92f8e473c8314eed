"""Compile the topic matcher with mypyc into ``build/native`` (``make native``); see ``native.py`` for how it loads.

``python -m aggregator.topics.native_build build`` compiles; ``... status`` says which form ``import`` would load.
Build-time only: needs ``requirements-build.txt`` (mypy, which carries mypyc, and setuptools) and a C compiler.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from .native import (
    COMPILED_MODULES,
    NATIVE_DIR,
    PACKAGE_DIR,
    PROJECT_ROOT,
    SHARED_LIBRARY,
    STAMP,
    activate,
    sources_digest,
)

__all__ = ["build", "main"]


def build(native_dir: Path = NATIVE_DIR, jobs: int | None = None) -> Path:
    """Compile ``COMPILED_MODULES`` with mypyc into ``native_dir``, replacing what was there; returns it.

    Needs mypy (which carries mypyc), setuptools and a C compiler (``requirements-build.txt``). The new build
    is staged beside the old one and moved into place with its stamp, so a failed build leaves the old one.
    """
    from mypyc.build import mypycify  # build-time only: the service never imports mypy
    from setuptools import setup

    digest = sources_digest()
    native_dir.parent.mkdir(parents=True, exist_ok=True)
    sources = [str((PACKAGE_DIR / f"{name}.py").relative_to(PROJECT_ROOT)) for name in COMPILED_MODULES]
    previous_cwd = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="native-", dir=native_dir.parent) as scratch:
        staged = Path(scratch) / "out"
        os.chdir(PROJECT_ROOT)  # mypyc names modules by their path from here (aggregator/topics/match.py)
        try:
            extensions = mypycify(
                sources,
                opt_level="3",
                target_dir=str(Path(scratch) / "c"),
                # the shared library the three modules live in: a top-level module (mypyc's shims import it
                # by that name), found through the build directory's entry at the end of sys.path
                group_name=SHARED_LIBRARY.removesuffix("__mypyc"),
            )
            setup(
                name="aggregator-topics-native",
                packages=[],  # only the extensions: no package discovery in this flat layout
                py_modules=[],
                ext_modules=extensions,
                script_name="setup.py",
                script_args=[
                    "--quiet", "build_ext",
                    "--build-lib", str(staged),
                    "--build-temp", str(Path(scratch) / "obj"),
                    "--parallel", str(jobs or os.cpu_count() or 1),
                ],
            )
        finally:
            os.chdir(previous_cwd)
        stamp = {"digest": digest, "python": sys.version.split()[0], "modules": list(COMPILED_MODULES)}
        (staged / STAMP).write_text(json.dumps(stamp, indent=2) + "\n", encoding="utf-8")
        if native_dir.exists():
            shutil.rmtree(native_dir)
        staged.rename(native_dir)
    return native_dir


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m aggregator.topics.native_build",
        description=(
            "Compile the topic matcher (aggregator/topics: " + ", ".join(f"{m}.py" for m in COMPILED_MODULES)
            + ") to C with mypyc, or say whether the compiled build is loaded. Without a build, or with a build"
            " of other sources, the matcher runs as pure Python, with the same results, about 1.4 times slower."
        ),
        epilog="TOPICS_NATIVE=auto|off|require chooses at import time (default auto: compiled when fresh).",
    )
    parser.add_argument(
        "command", choices=("build", "status"), help="build: compile into --dir; status: what loads"
    )
    parser.add_argument("--dir", type=Path, default=NATIVE_DIR, help="where the build lives (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.command == "build":
        print(f"compiling {', '.join(COMPILED_MODULES)} with mypyc into {args.dir} (about a minute) …", flush=True)
        build(args.dir)
    print("topic matcher: " + activate([], args.dir))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
