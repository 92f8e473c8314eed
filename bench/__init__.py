"""`make bench`: measured speed of the aggregator against an in-run baseline and the `reader` library.

Modules, one job each: ``corpus`` (deterministic feeds and stored items), ``server`` (serves the corpus on
127.0.0.1 with conditional GET), ``child`` (one poll runner in a fresh process, so peak memory is its own),
``poll``, ``serving``, ``classify``, ``email`` (the sections), ``report`` (the Markdown table), ``__main__``.
Nothing here is imported by the service.
"""
