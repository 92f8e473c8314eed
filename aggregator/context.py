"""What views, commands and jobs share: the ``Services`` of one app (settings, the catalog of sources, the topic
classifier), and ``services()`` to reach them from inside a request or a command.

It lives apart from the app factory (``aggregator/__init__.py``) so that a view or a command never imports the
factory that imports it: the factory builds a ``Services`` and stores it under ``EXTENSION``; everything else
only reads it.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass

from flask import current_app

from .config import Settings
from .poll.catalog import Catalog
from .topics.classify import Classifier

EXTENSION = "aggregator"


@dataclass(frozen=True)
class Services:
    """What views, commands and jobs share: settings, the catalog of sources and the topic classifier."""

    settings: Settings
    catalog: Catalog
    classifier: Classifier

    @functools.cached_property
    def rules_version(self) -> str:
        """Changes whenever the topic rules do (part of feed ETags: new rules can change a feed's items)."""
        return hashlib.sha256(json.dumps(self.catalog.topics_config, sort_keys=True).encode()).hexdigest()[:16]

    @functools.cached_property
    def sources_version(self) -> str:
        """Changes whenever a source's name or homepage in feeds.yaml does (part of feed ETags: feeds name sources)."""
        listed = [(spec.id, spec.name, spec.homepage or "") for spec in self.catalog.sources]
        return hashlib.sha256(json.dumps(listed).encode()).hexdigest()[:16]

    @property
    def topic_names(self) -> dict[str, str]:
        return {topic.id: topic.name for topic in self.classifier.topic_set.topics}


def services() -> Services:
    state: Services = current_app.extensions[EXTENSION]
    return state
