"""The poll side, in the order data flows: ``catalog`` (feeds.yaml's sources) → ``fetch`` (HTTP, caps, conditional
GET) and ``retrieve`` (sources that need several requests) → ``parse/`` (bytes → items, one module per kind) →
``prepare`` and ``clean`` (sanitise, date, classify, in worker processes when it pays) → ``pipeline`` (one poll of
one source: claim, store, record health, with ``policy`` deciding backoff) → ``scheduler`` and ``leader`` (when,
and on which one process). ``diagnosis`` and ``link_check`` are the operator's checks of the same path.
It imports ``store/``, ``topics/``, ``trials/`` and the foundation; never ``mail/``, ``web/`` or ``cli/``.
"""
