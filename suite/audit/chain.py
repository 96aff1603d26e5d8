"""The hash chain: a record's canonical form and hash, and conversions between events, rows and dicts.

The canonical form of a record is JSON with sorted keys, no whitespace, UTF-8, of every stored
field except ``record_hash`` (so ``seq``, ``record_id`` and ``prev_hash`` are covered);
``record_hash = sha256(canonical)``. Times are UTC with microseconds, ``2026-11-23T15:57:28.280684Z``.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from suite.audit.fields import EVENT_FIELDS, RECORD_FIELDS

if TYPE_CHECKING:  # the verifier imports this module and must not pull in the settings and models
    from suite.audit.events import AuditEvent

__all__ = ["EVENT_FIELDS", "RECORD_FIELDS"]

GENESIS_HASH = "0" * 64
CHAIN_FIELDS = ("seq", "record_id", "prev_hash")
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
# One encoder for every hash: json.dumps with these arguments would build a new one per call.
_CANONICAL_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def utc(moment: datetime) -> datetime:
    """An aware UTC datetime; naive values (SQLite returns them) are taken to be UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def format_time(moment: datetime) -> str:
    """The canonical text of a time."""
    return utc(moment).strftime(_TIME_FORMAT)


def parse_time(text: str) -> datetime:
    """The inverse of format_time (any ISO 8601 text is accepted)."""
    return utc(datetime.fromisoformat(text))


def canonical(fields: dict[str, Any]) -> bytes:
    """The bytes a record's hash is taken over: every field but record_hash, as canonical JSON."""
    body = fields
    if "record_hash" in body:
        body = {key: value for key, value in fields.items() if key != "record_hash"}
    return _CANONICAL_JSON.encode(body).encode()


def record_hash(fields: dict[str, Any]) -> str:
    """The hex SHA-256 of a record's canonical form."""
    return hashlib.sha256(canonical(fields)).hexdigest()


def prepare(event: AuditEvent) -> dict[str, Any]:
    """The event as plain JSON values plus a new record_id, checked to be storable.

    Done by the caller of ``record()``, so that one unstorable event fails alone instead of
    failing the whole batch it would have been written with. Raises ValueError.
    """
    try:
        # pydantic-core serialises in Rust (NaN and infinities become null); the round trip leaves
        # exactly what the database will give back: lists for tuples, string keys, plain numbers.
        text = event.model_dump_json()
    except ValueError as exc:
        raise ValueError(f"audit event {event.action!r} is not storable as JSON: {exc}") from None
    if "\\u0000" in text:
        # PostgreSQL text cannot hold NUL; refusing here keeps both databases storing the same thing.
        raise ValueError(f"audit event {event.action!r} contains a NUL character")
    fields: dict[str, Any] = json.loads(text)
    fields["time"] = format_time(event.time)
    fields["record_id"] = str(uuid.uuid4())
    return fields


def chain(fields: dict[str, Any], *, seq: int, prev_hash: str) -> dict[str, Any]:
    """A prepared event placed in the chain: seq, prev_hash and record_hash added."""
    chained = {**fields, "seq": seq, "prev_hash": prev_hash}
    chained["record_hash"] = record_hash(chained)  # hashed before record_hash is in it: no second copy
    return chained


def to_row_values(fields: dict[str, Any]) -> dict[str, Any]:
    """Column values of a chained record (the time as a datetime)."""
    return {**fields, "time": parse_time(fields["time"])}


def from_row(row: Mapping[Any, Any]) -> dict[str, Any]:
    """A stored record (a row mapping of audit_records) as the dict it was hashed from, plus its record_hash."""
    fields = {name: row[name] for name in RECORD_FIELDS}
    fields["time"] = format_time(row["time"])
    return fields
