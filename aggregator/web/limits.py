"""Rate limits with Flask-Limiter, keyed by the client's address, their counts kept where RATE_LIMIT_STORAGE_URL says.

``memory://`` (the default) counts in each process: fine for one worker, but gunicorn's workers (and a second
machine) would each allow the full limit. ``redis://host:port`` shares the counts between every worker.

The address is ``request.remote_addr``, which behind a router is the router's own unless Werkzeug's ``ProxyFix``
rewrites it from ``X-Forwarded-For``; ``proxy.py`` does that only for the configured number of trusted proxies,
so a visitor's own ``X-Forwarded-For`` header changes nothing.

One ``Limiter`` per app (its storage is per instance: apps built by tests never share counts). Only responses that
are not a 400 count: a form sent back for a typo costs the visitor nothing, as before Flask-Limiter.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, Response, render_template
from flask.typing import ResponseReturnValue
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address

EXTENSION = "aggregator.limiter"


def limiter_for(app: Flask) -> Limiter:
    """The app's limiter, made on first use with the storage of its settings."""
    existing: Limiter | None = app.extensions.get(EXTENSION)
    if existing is not None:
        return existing
    settings = app.extensions["aggregator"].settings
    app.config.setdefault("RATELIMIT_KEY_PREFIX", "aggregator")
    limiter = Limiter(
        get_remote_address,
        storage_uri=settings.rate_limit_storage_url,
        strategy="moving-window",  # a sliding hour, as the hand-written limiter had
        # If Redis is unreachable, count in this process (logged by Flask-Limiter) rather than refuse every visitor.
        in_memory_fallback_enabled=True,
        headers_enabled=False,
    )
    limiter.init_app(app)
    app.extensions[EXTENSION] = limiter

    @app.errorhandler(RateLimitExceeded)
    def too_many(_exc: RateLimitExceeded) -> ResponseReturnValue:
        return render_template("subscribe/message.html", title="Too many requests",
                               message="Too many requests came from your network in the last hour. "
                                       "Please try again later."), 429

    return limiter


def _counts(response: Response) -> bool:
    return response.status_code != 400


def limit_view(app: Flask, endpoint: str, rate: str) -> None:
    """Limit the view of ``endpoint`` (already registered) to ``rate`` (for example ``5/hour``) per client address.

    The view is wrapped in this app only (a blueprint's function is shared by every app made from it, the limiter
    is not), and Flask-Limiter checks a decorated limit in the wrapper.
    """
    view: Callable[..., Any] = app.view_functions[endpoint]
    app.view_functions[endpoint] = limiter_for(app).limit(rate, deduct_when=_counts)(view)
