"""Checking the JSON API's answers against its own OpenAPI 3.1 file (jsonschema, draft 2020-12)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from werkzeug.test import TestResponse

OPENAPI = Path(__file__).resolve().parent.parent / "aggregator" / "web" / "openapi.json"
URN = "urn:aggregator:openapi"


@cache
def openapi() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(OPENAPI.read_text(encoding="utf-8"))
    return document


def _validator(schema: dict[str, Any]) -> Draft202012Validator:
    registry: Registry[Any] = Registry().with_resource(
        URN, Resource.from_contents(openapi(), default_specification=DRAFT202012))
    return Draft202012Validator(schema, registry=registry, format_checker=FormatChecker())


def _absolute(schema: dict[str, Any]) -> dict[str, Any]:
    """A schema of the file with its local $refs made to point into the registered document."""
    text = json.dumps(schema).replace('"$ref": "#/', f'"$ref": "{URN}#/')
    result: dict[str, Any] = json.loads(text)
    return result


def check(response: TestResponse, path: str, method: str = "get") -> Any:
    """The response's JSON, after checking that its status is documented for ``path`` and its body fits the schema
    documented for that status. Returns None for bodiless answers (304)."""
    operation = openapi()["paths"][path][method]
    documented = operation["responses"].get(str(response.status_code))
    assert documented is not None, f"{method.upper()} {path} answered {response.status_code}, not documented"
    content = documented.get("content")
    if content is None:
        assert not response.data, f"{response.status_code} has a body, none is documented"
        return None
    assert response.mimetype == "application/json", response.mimetype
    body = response.get_json()
    errors = sorted(_validator(_absolute(content["application/json"]["schema"])).iter_errors(body),
                    key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:10])
    return body
