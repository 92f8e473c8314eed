"""The web layer: blueprints, security headers and error pages. Views stay thin (parse, call store, render)."""

from __future__ import annotations

from flask import Flask, Response

from . import api, errors, feeds, insights, items, opml, pages, proxy, subscribe, trials
from .render import register_filters

# No inline script or style anywhere: the strict policy below is what keeps a feed's content inert.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; font-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def _security_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=(), interest-cohort=()")
    return response


def init_app(app: Flask) -> None:
    app.register_blueprint(pages.bp)
    app.register_blueprint(feeds.bp)
    app.register_blueprint(trials.bp)
    app.register_blueprint(insights.bp)
    api.init_app(app)
    app.register_blueprint(opml.bp)
    app.register_blueprint(items.bp)
    errors.init_app(app)
    subscribe.init_app(app)  # the subscribe blueprint and CSRF protection of every form
    register_filters(app)
    app.after_request(_security_headers)
    proxy.init_app(app, app.extensions["aggregator"].settings.trusted_proxies)
