"""JSON from an API as text we can store: ``loads`` is ``json.loads`` with lone surrogates replaced.

JSON may escape half of a surrogate pair on its own (``"\\ud83d"``, a truncated emoji, say); ``json.loads`` turns
it into a code point that no UTF-8 encoder accepts, so the item would fail when hashed, sanitised or stored. Each
one becomes U+FFFD, the replacement character, as a UTF-8 decoder does with broken bytes.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["loads", "without_lone_surrogates"]

_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")  # only answers holding one are walked
_SURROGATE = re.compile("[\ud800-\udfff]")


def without_lone_surrogates(value: Any) -> Any:
    """``value`` (decoded JSON) with every surrogate code point in its strings, keys included, as U+FFFD."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [without_lone_surrogates(v) for v in value]
    if isinstance(value, dict):
        return {without_lone_surrogates(k): without_lone_surrogates(v) for k, v in value.items()}
    return value


def loads(data: bytes | str) -> Any:
    """``json.loads(data)``, its strings fit for UTF-8; raises what ``json.loads`` raises."""
    document = json.loads(data)
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    return without_lone_surrogates(document) if _SURROGATE_ESCAPE.search(raw) else document
