"""Checks an answer against the JSON schema a request's ``response_format`` asks for."""

from __future__ import annotations

import json
from typing import Any

import jsonschema  # type: ignore[import-untyped]
from jsonschema.exceptions import best_match  # type: ignore[import-untyped]


def requested_schema(response_format: dict[str, Any] | None) -> dict[str, Any] | None:
    """The schema to enforce: the json_schema's schema, {"type": "object"} for json_object, else None."""
    if not response_format:
        return None
    kind = response_format.get("type")
    if kind == "json_object":
        return {"type": "object"}
    if kind == "json_schema":
        spec = response_format.get("json_schema") or {}
        schema = spec.get("schema") if isinstance(spec, dict) else None
        return schema if isinstance(schema, dict) else {}
    return None


def violation(answer: str, schema: dict[str, Any]) -> str | None:
    """Why the answer breaks the schema (not JSON, or the most relevant schema error), or None."""
    try:
        document = json.loads(answer)
    except json.JSONDecodeError as exc:
        return f"the answer is not valid JSON ({exc.msg} at position {exc.pos})"
    validator_class = jsonschema.validators.validator_for(schema)
    error = best_match(validator_class(schema).iter_errors(document))
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "(root)"
    return f"at {where}: {error.message}"


def check_schema(schema: dict[str, Any]) -> str | None:
    """Why a requested schema is itself invalid, or None."""
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        return str(exc.message)
    return None
