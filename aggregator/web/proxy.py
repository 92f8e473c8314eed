"""Behind a router: believe ``X-Forwarded-For`` and ``X-Forwarded-Proto`` only from the trusted proxies.

With ``TRUSTED_PROXIES=n``, Werkzeug's ``ProxyFix`` takes the client address from the n-th value from the right
of ``X-Forwarded-For`` (the one the outermost trusted proxy appended); whatever a client wrote further left is
ignored. With 0 (the default) the headers are not read at all: ``request.remote_addr`` is the TCP peer.
Absolute links are built from ``BASE_URL``, never from ``Host`` or ``X-Forwarded-Host``.
"""

from __future__ import annotations

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix


def init_app(app: Flask, trusted_proxies: int) -> None:
    if trusted_proxies > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=trusted_proxies, x_proto=trusted_proxies,  # type: ignore[method-assign]
                                x_host=0, x_port=0, x_prefix=0)
