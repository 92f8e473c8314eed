"""The operator's commands (``flask --app aggregator --help``), one module per side: ``poll`` (poll, reclassify,
classify, scheduler, serve, check-feeds), ``mail`` (the digest and subscribers), ``sources`` (check-sources),
``labels`` (label, export-labels) and ``links`` (check-links). Commands are thin: each calls ``poll/``,
``store/`` or ``mail/``. This is the top of the stack below the app factory: it builds what the scheduler runs
(``poll.build_poller``) and hands it over, so nothing below imports it.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register every command, and the jobs the commands add to the scheduler (the digest, the link check)."""
    from . import labels, links, mail, poll, sources

    for side in (poll, mail, sources, labels, links):
        side.init_app(app)
