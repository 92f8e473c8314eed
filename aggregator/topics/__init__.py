"""Topic filtering: which items are about CAR T for MS, CAR T in autoimmune disease, MS research.

Rules are data (``feeds.yaml``: ``term_lists`` and ``topics``), validated by ``load_topics`` and
compiled into a ``TopicSet``; ``TopicSet.classify(Document)`` returns the matching topics with the
hits that explain them. Pure: no I/O, no framework imports. Rule order: see ``match.py``; rule
syntax: see ``rules.py``. The hot modules load compiled when a fresh mypyc build is there (``native.py``);
``MATCHER`` says which form runs.
"""

from . import native

MATCHER = native.activate(__path__)  # before the first import of a compiled module

from .match import Document, Hit, TopicMatch, TopicSet, load_topics  # noqa: E402
from .rules import Topic, TopicConfigError  # noqa: E402
from .text import find_boilerplate, html_to_text  # noqa: E402

__all__ = [
    "Document",
    "Hit",
    "MATCHER",
    "Topic",
    "TopicConfigError",
    "TopicMatch",
    "TopicSet",
    "find_boilerplate",
    "html_to_text",
    "load_topics",
]
