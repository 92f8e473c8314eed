"""Domain errors → HTTP answers with a plain explanation; never a bare 500 for a visitor's malformed input."""

from __future__ import annotations

import logging

from flask import Flask, render_template
from werkzeug.exceptions import HTTPException

from ..errors import BadRequest

log = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    @app.errorhandler(BadRequest)
    def bad_request(exc: BadRequest) -> tuple[str, int]:
        return render_template("errors/error.html", status=400, title="That request is not valid",
                               message=str(exc)), 400

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[str, int]:
        status = exc.code or 500
        return render_template("errors/error.html", status=status, title=exc.name,
                               message=exc.description), status

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> tuple[str, int]:
        log.exception("unhandled error")
        return render_template("errors/error.html", status=500, title="Something went wrong on our side",
                               message="The error has been logged. Please try again in a moment."), 500
