"""Every decision of the topic rules on a fixed set of items, as text: for checking that a change to the matcher
changes nothing (run it before and after, then ``cmp`` the two files).

``python -m bench.classify_dump OUT`` classifies the rows of ``tests/data/topics/dev.jsonl`` and ``test.jsonl``
(only their text is read: title, summary, content, categories; never their labels), the benchmark's generated
corpus (20,000 items), the items of the real fixture feeds and generated odd text (``tests/test_topics_native.py``),
and writes for each item its topics, scores and hits (JSON), what ``flask classify --explain`` prints, and the
highlight spans of its title and summary. ``TOPICS_NATIVE`` chooses the form of the matcher, as everywhere.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

from aggregator.topics import Document, TopicSet, load_topics

from .classify import corpus_documents, real_documents
from .poll import topics_config

ROOT = Path(__file__).resolve().parent.parent


def _labelled_texts(name: str) -> Iterator[Document]:
    """The rows of a labelled set as the ``classify`` command reads them: text fields only."""
    for line in (ROOT / "tests" / "data" / "topics" / f"{name}.jsonl").read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        yield Document(
            str(row.get("title") or ""),
            str(row.get("summary") or ""),
            str(row.get("content") or ""),
            tuple(str(c) for c in row.get("categories") or ()),
        )


def documents() -> Iterator[tuple[str, Document]]:
    from tests.test_topics_native import _generated_docs

    for name in ("dev", "test"):
        for doc in _labelled_texts(name):
            yield name, doc
    for doc in corpus_documents(20_000):
        yield "corpus", doc
    for doc in real_documents():
        yield "real", doc
    for doc in _generated_docs(3_000):
        yield "generated", doc


def dump(topic_set: TopicSet, out: Path) -> int:
    count = 0
    with out.open("w", encoding="utf-8", errors="surrogatepass") as f:
        for count, (kind, doc) in enumerate(documents(), start=1):
            matches = topic_set.classify(doc)
            f.write(f"{count} {kind}: {doc.title[:100]!r}\n")
            if not matches:
                f.write("   no topic matched\n")
            for match in matches:
                f.write(f"   {match.explain()}\n")
                f.write(f"   {json.dumps(match.to_dict(), ensure_ascii=True)}\n")
            spans = topic_set.highlight_spans(doc.title + " " + doc.summary)
            f.write(f"   highlight {spans}\n")
    return count


def main() -> int:
    import aggregator.topics as topics

    out = Path(sys.argv[1])
    count = dump(load_topics(topics_config()), out)
    print(f"{count} items ({topics.MATCHER}) written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
