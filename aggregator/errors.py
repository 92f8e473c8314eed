"""One exception tree for the whole service.

Every error a stage raises is an ``AggregatorError``; its message is written for the operator who reads it on
``/sources`` or in the log, and says what to do where there is something to do.
This module imports nothing from the aggregator.
"""

from __future__ import annotations


class AggregatorError(Exception):
    """Base of every error the aggregator raises on purpose."""

    def __str__(self) -> str:
        message = super().__str__()
        cause = self.__cause__
        if cause is not None and str(cause) and str(cause) not in message:
            return f"{message}: {cause}"
        return message


class ConfigError(AggregatorError, ValueError):
    """The environment or a configuration file is wrong; nothing can start until it is fixed."""


class SourceConfigError(ConfigError):
    """``feeds.yaml`` is invalid; the message names the line and the problem."""


class FetchError(AggregatorError):
    """A source could not be fetched. ``kind`` is a short stable label shown on /sources."""

    kind = "fetch"


class FetchTimeout(FetchError):
    kind = "timeout"


class ConnectionFailed(FetchError):
    kind = "connection"


class DNSFailure(ConnectionFailed):
    kind = "dns"


class TLSFailure(ConnectionFailed):
    kind = "tls"


class BodyTooLarge(FetchError):
    kind = "too-large"


class TooManyRedirects(FetchError):
    kind = "redirects"


class RedirectRefused(FetchError):
    kind = "redirect-refused"


class HTTPStatusError(FetchError):
    kind = "http"

    def __init__(self, message: str, status: int, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after

    @property
    def gone(self) -> bool:
        return self.status == 410


class ParseError(AggregatorError):
    """The bytes a source sent are not a feed or document we can read."""

    kind = "parse"

    def __init__(self, message: str, feed_link: str | None = None) -> None:
        super().__init__(message)
        # For HTML served instead of a feed: the feed the page itself advertises, if any.
        self.feed_link = feed_link


class DeliveryError(AggregatorError):
    """An email could not be delivered. ``permanent`` distinguishes 5xx from retryable failures."""

    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class BadRequest(AggregatorError, ValueError):
    """A query parameter from a visitor is malformed; answered with 400 and a plain explanation."""


class InvalidLink(BadRequest):
    """A signed link (confirm, manage, unsubscribe) was altered, belongs to nobody, or has expired."""

    def __init__(self, message: str, expired: bool = False) -> None:
        super().__init__(message)
        self.expired = expired
