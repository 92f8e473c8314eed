"""The compiled topic matcher (mypyc, aggregator/topics/native.py) must give what the pure-Python one gives, and
must never be loaded when it was built from other sources."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import aggregator.topics as topics
from aggregator.topics import Document, load_topics
from aggregator.topics.native import (
    COMPILED_MODULES,
    SHARED_LIBRARY,
    STAMP,
    NativeUnavailable,
    activate,
    sources_digest,
)

ROOT = Path(__file__).resolve().parent.parent

# Run in a child process with the other form of the matcher: the same corpus, every outcome as JSON.
_CHILD = """
import json, sys, yaml
import aggregator.topics as topics
from aggregator.topics import Document, load_topics
topic_set = load_topics(yaml.safe_load(open(sys.argv[1], encoding="utf-8")))
docs = [Document(*row) for row in json.load(open(sys.argv[2], encoding="utf-8"))]
out = [
    [[m.topic_id, m.score, [list(h) for h in m.hits]] for m in topic_set.classify(doc)]
    + [[list(span) for span in topic_set.highlight_spans(doc.title + " " + doc.summary)]]
    for doc in docs
]
json.dump({"matcher": topics.MATCHER, "outcomes": out}, sys.stdout)
"""


def _outcomes(topic_set: topics.TopicSet, docs: list[Document]) -> list[list[object]]:
    # the same shape as the child's, through JSON (tuples become lists)
    rows = [
        [[m.topic_id, m.score, [list(h) for h in m.hits]] for m in topic_set.classify(doc)]
        + [[list(span) for span in topic_set.highlight_spans(doc.title + " " + doc.summary)]]
        for doc in docs
    ]
    return json.loads(json.dumps(rows))


_PIECES = [
    "CAR T", "CAR-T", "CAR\u2011T", "CART cells", "CAR-T-cell", "chimeric antigen receptor", "KYV-101", "miv-cel",
    "CD19", "BCMA", "multiple sclerosis", "MS", "ms", "RRMS", "progressive MS", "LC-MS/MS", "MS Office", "Ms.",
    "multiple myeloma", "lymphoma", "lupus", "myasthenia gravis", "systemic sclerosis", "ALS", "cars", "electric car",
    "Central African Republic", "sclérose en plaques", "Multiple Sklerose", "esclerosis múltiple", "多发性硬化",
    "CAR-T细胞", "Straße", "İstanbul", "ﬁbre", "…", "\u201cquoted\u201d", "&amp;", "<b>bold</b>", "\x00", "\ud800",
    "ocrelizumab", "exclusion criteria:", "About Kyverna", "patients", "trial", "phase 2", "\n", ".", ",", " ",
]


def _generated_docs(count: int, seed: int = 20261121) -> list[Document]:
    """Items stitched from terms, traps, scripts and odd characters: the corners where compiled code could differ."""
    rng = random.Random(seed)

    def text(words: int) -> str:
        return " ".join(rng.choice(_PIECES) for _ in range(words))

    return [Document(text(rng.randint(0, 12)), text(rng.randint(0, 60)), text(rng.randint(0, 8))) for _ in range(count)]


def _corpus() -> list[Document]:
    rows = [
        json.loads(line)
        for name in ("dev", "test")
        for line in (ROOT / f"tests/data/topics/{name}.jsonl").read_text("utf-8").splitlines()
    ]
    docs = [Document(r["title"], r.get("summary", ""), r.get("content", "")) for r in rows]
    from bench.classify import make_items, real_documents

    docs += [Document(d.title, d.summary, d.content) for d in real_documents()]
    docs += [Document(i.title, i.summary_html) for i in make_items(600)]
    return docs + _generated_docs(1500)


def test_compiled_and_pure_python_give_the_same_topics_scores_hits_and_highlights(tmp_path: Path) -> None:
    compiled_here = topics.MATCHER.startswith("compiled")
    other = "off" if compiled_here else "require"
    docs = _corpus()
    config_path = ROOT / "feeds.yaml"
    docs_path = tmp_path / "docs.json"
    docs_path.write_text(json.dumps([[d.title, d.summary, d.content] for d in docs]), encoding="utf-8")
    env = {**os.environ, "TOPICS_NATIVE": other, "PYTHONPATH": str(ROOT)}
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, str(config_path), str(docs_path)],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=300,
    )
    if child.returncode != 0 and "NativeUnavailable" in child.stderr:
        pytest.skip(f"no compiled matcher to compare with (`make native` builds it): {child.stderr.splitlines()[-1]}")
    assert child.returncode == 0, child.stderr
    answer = json.loads(child.stdout)
    assert answer["matcher"].startswith("compiled" if other == "require" else "pure Python")
    mine = _outcomes(load_topics(yaml.safe_load(config_path.read_text(encoding="utf-8"))), docs)
    theirs = answer["outcomes"]
    assert len(theirs) == len(mine) == len(docs)
    for doc, got, expected in zip(docs, mine, theirs, strict=True):
        assert got == expected, (doc.title[:80], doc.summary[:80])
    assert sum(1 for row in mine if len(row) > 1) > 400  # many items match: hits and scores are compared too


def test_ci_runs_the_compiled_matcher() -> None:
    if os.environ.get("TOPICS_NATIVE", "").lower() != "require":
        pytest.skip("TOPICS_NATIVE=require is not set (CI sets it)")
    import aggregator.topics.match as match
    import aggregator.topics.prefilter as prefilter
    import aggregator.topics.text as text

    assert topics.MATCHER.startswith("compiled")
    for module in (match, prefilter, text):
        assert module.__file__ is not None and module.__file__.endswith(".so"), module.__file__


# -- which form loads ---------------------------------------------------------------------------------------------


@pytest.fixture()
def package(tmp_path: Path) -> Path:
    """A stand-in for the package's sources."""
    package_dir = tmp_path / "src"
    package_dir.mkdir()
    for name in COMPILED_MODULES + ("rules",):
        (package_dir / f"{name}.py").write_text(f"# {name}\n", encoding="utf-8")
    return package_dir


def _make_build(native_dir: Path, digest: str, modules: tuple[str, ...] = COMPILED_MODULES) -> None:
    compiled_dir = native_dir / "aggregator" / "topics"
    compiled_dir.mkdir(parents=True)
    for name in modules:
        (compiled_dir / f"{name}.cpython-311-x86_64-linux-gnu.so").write_bytes(b"")
    (native_dir / f"{SHARED_LIBRARY}.cpython-311-x86_64-linux-gnu.so").write_bytes(b"")
    (native_dir / STAMP).write_text(json.dumps({"digest": digest}), encoding="utf-8")


def test_a_fresh_build_goes_first_on_the_package_path(
    package: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))
    native_dir = tmp_path / "native"
    _make_build(native_dir, sources_digest(package))
    path = ["/the/package"]
    assert activate(path, native_dir, "auto", package) == f"compiled ({native_dir})"
    assert path == [str(native_dir / "aggregator" / "topics"), "/the/package"]
    assert sys.path[-1] == str(native_dir)  # where the shared library is imported from
    assert activate(path, native_dir, "require", package).startswith("compiled")
    assert path.count(str(native_dir / "aggregator" / "topics")) == 1


def test_a_build_of_other_sources_is_never_loaded(package: Path, tmp_path: Path) -> None:
    native_dir = tmp_path / "native"
    _make_build(native_dir, sources_digest(package))
    (package / "match.py").write_text("# edited after the build\n", encoding="utf-8")
    path = ["/the/package"]
    said = activate(path, native_dir, "auto", package)
    assert said.startswith("pure Python: the build") and "other sources" in said and "make native" in said
    assert path == ["/the/package"]
    with pytest.raises(NativeUnavailable, match="TOPICS_NATIVE=require, but .*make native"):
        activate(path, native_dir, "require", package)


def test_no_build_or_an_incomplete_one_runs_pure_python(package: Path, tmp_path: Path) -> None:
    path: list[str] = []
    assert "no compiled build" in activate(path, tmp_path / "nothing", "auto", package)
    native_dir = tmp_path / "native"
    _make_build(native_dir, sources_digest(package), modules=("text", "match"))
    assert "incomplete" in activate(path, native_dir, "auto", package)
    assert path == []


def test_off_wins_and_a_wrong_mode_is_explained(package: Path, tmp_path: Path) -> None:
    native_dir = tmp_path / "native"
    _make_build(native_dir, sources_digest(package))
    path: list[str] = []
    assert activate(path, native_dir, "off", package) == "pure Python (TOPICS_NATIVE=off)"
    assert path == []
    with pytest.raises(NativeUnavailable, match="TOPICS_NATIVE must be one of auto, off, require, not 'fast'"):
        activate(path, native_dir, "fast", package)


def test_the_digest_covers_every_source_of_the_package(package: Path) -> None:
    before = sources_digest(package)
    (package / "rules.py").write_text("# a class compiled code reads changed\n", encoding="utf-8")
    assert sources_digest(package) != before
