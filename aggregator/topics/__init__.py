"""Topic filtering: which items are about CAR T for MS, CAR T in autoimmune disease, MS research.

Rules are data (``feeds.yaml``: ``term_lists`` and ``topics``), validated by ``load_topics`` and
compiled into a ``TopicSet``; ``TopicSet.classify(Document)`` returns the matching topics with the
hits that explain them. Pure: no I/O, no framework imports. Rule order: see ``match.py``; rule
syntax: see ``rules.py``.
"""

from .match import Document, Hit, TopicMatch, TopicSet, load_topics
from .rules import Topic, TopicConfigError
from .text import find_boilerplate, html_to_text

__all__ = [
    "Document",
    "Hit",
    "Topic",
    "TopicConfigError",
    "TopicMatch",
    "TopicSet",
    "find_boilerplate",
    "html_to_text",
    "load_topics",
]
