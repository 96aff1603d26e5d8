"""Verification of a JSONL export on its own: public keys only, no database, no settings.

This module and what it imports (walk, chain, fields, keys) are the whole of the standalone
``suite-verify``; keep it free of the settings, the database and the event models.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from suite.audit.fields import RECORD_FIELDS
from suite.audit.keys import KeyRange, TrustedKeys, export_end_message, signature_problem, witness_message
from suite.audit.walk import ChainWalk, Checkpoint, Problem

__all__ = [
    "CHECKPOINT_FILE",
    "Problem",
    "VerifyReport",
    "merge_heads",
    "read_heads",
    "read_siem_heads",
    "read_witness_heads",
    "report_lines",
    "report_of",
    "time_gaps",
    "verify_export",
]

# The append-only checkpoint file's name in audit.checkpoint_dir (suite.audit.heads writes it).
CHECKPOINT_FILE = "checkpoints.jsonl"
# A heartbeat comes every checkpoint_every_s when idle, and at most that long after the last record
# otherwise: between two signed heads there are at most two intervals (plus the time to write).
_GAP_FACTOR = 2.0
_GAP_SLACK_S = 5.0


@dataclass(frozen=True)
class VerifyReport:
    """The outcome of a verification: ok, how much was checked, and the first problem found."""

    ok: bool
    records_checked: int
    checkpoints_checked: int
    first_seq: int | None
    last_seq: int | None
    # The seq of the last checkpoint that matched its record.
    anchored_through: int | None
    # Records whose hashes chain up to a matching checkpoint; the others rest on their hashes alone.
    records_proven: int
    # False when the records skip seqs (a filtered export).
    contiguous: bool
    problem: Problem | None
    # Signed heads outside the database (checkpoint file) that were compared.
    heads_checked: int = 0
    # Stretches between two signed heads longer than the heartbeat allows: (from, to) times.
    gaps: tuple[tuple[str, str], ...] = field(default=())

    @property
    def unanchored(self) -> int:
        """Records no trusted checkpoint vouches for (yet): the newest ones, or a filtered selection."""
        return self.records_checked - self.records_proven


def report_of(walk: ChainWalk, *, heads_checked: int = 0, gaps: tuple[tuple[str, str], ...] = ()) -> VerifyReport:
    """The report of a finished walk."""
    return VerifyReport(
        ok=walk.problem is None,
        records_checked=walk.records,
        checkpoints_checked=walk.checkpoints_checked,
        first_seq=walk.first_seq,
        last_seq=walk.last_seq,
        anchored_through=walk.anchored_through,
        records_proven=walk.records_proven,
        contiguous=walk.contiguous,
        problem=walk.problem,
        heads_checked=heads_checked,
        gaps=gaps,
    )


def report_lines(report: VerifyReport) -> list[str]:
    """The outcome in words: "OK: ..." or "FAILED: <first problem>" first, then what was checked and notes."""
    span = f"{report.first_seq}..{report.last_seq}" if report.first_seq is not None else "none"
    summary = f"{report.records_checked} records ({span}), {report.checkpoints_checked} checkpoints"
    if report.problem is not None:
        where = f" (record id {report.problem.record_id})" if report.problem.record_id else ""
        return [f"FAILED: {report.problem.message}{where}", f"checked before the problem: {summary}"]
    lines = [f"OK: {summary}"]
    if report.heads_checked:
        lines.append(f"{report.heads_checked} signed heads from outside the database match")
    if report.unanchored:
        lines.append(f"note: {report.unanchored} records are not covered by a checkpoint (newest, or a selection)")
    lines += [
        f"note: no signed head between {earlier} and {later} (the writer stopped, or heads were removed)"
        for earlier, later in report.gaps
    ]
    return lines


def merge_heads(own: list[Checkpoint], heads: Iterable[Checkpoint]) -> list[Checkpoint]:
    """own plus the heads from outside that own lacks (the same signed head counted once)."""

    def key(c: Checkpoint) -> tuple[Any, ...]:
        return (c.seq, c.head_hash, c.time, c.kind, c.key_id, c.signature)

    seen = {key(c) for c in own}
    merged = list(own)
    for head in heads:
        if key(head) not in seen:
            seen.add(key(head))
            merged.append(head)
    return merged


def time_gaps(checkpoints: Iterable[Checkpoint], interval_s: float) -> tuple[tuple[str, str], ...]:
    """Stretches between consecutive signed heads (by time) longer than the heartbeat rhythm allows."""
    limit = interval_s * _GAP_FACTOR + _GAP_SLACK_S
    times = sorted({c.time for c in checkpoints})
    gaps = []
    for earlier, later in itertools.pairwise(times):
        if (datetime.fromisoformat(later) - datetime.fromisoformat(earlier)).total_seconds() > limit:
            gaps.append((earlier, later))
    return tuple(gaps)


def read_heads(path: Path) -> list[Checkpoint]:
    """The checkpoints in a checkpoint file; ValueError naming the line that is not one."""
    with path.open(encoding="utf-8") as lines:
        return [Checkpoint.from_json(item, where=where, source=where) for where, item in _objects(lines, path.name)]


def _objects(lines: Iterable[str], name: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, object) of each non-empty JSON-lines line; ValueError naming a line that is not an object."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{name} line {number}"
        try:
            item = json.loads(line)
        except json.JSONDecodeError:
            raise ValueError(f"{where} is not valid JSON") from None
        if not isinstance(item, dict):
            raise ValueError(f"{where} is not a JSON object")
        yield where, item


def read_siem_heads(path: Path) -> list[Checkpoint]:
    """The signed heads in what a SIEM stored: any line that ends in a forwarded checkpoint's JSON.

    The line may be the raw RFC 5424 message, a collector's own layout around it (rsyslog's
    templates put the message last), or a JSON-lines destination's line. Record lines and anything
    else are skipped; a head's signature is checked by verify like any other. ValueError when the
    file holds no head at all (a wrong file, or a SIEM that never received one).
    """
    decoder = json.JSONDecoder()
    heads: list[Checkpoint] = []
    with path.open(encoding="utf-8", errors="replace") as lines:
        for number, line in enumerate(lines, start=1):
            text = line.rstrip("\r\n")
            # The forwarded JSON ends the line; its first key (sorted) is "head_hash".
            start = text.rfind('{"head_hash":')
            if start < 0:
                continue
            try:
                item, end = decoder.raw_decode(text, start)
            except json.JSONDecodeError:
                continue
            if end != len(text.rstrip()) or not isinstance(item, dict) or item.get("type") != "checkpoint":
                continue
            where = f"{path.name} line {number}"
            heads.append(Checkpoint.from_json(item, where=where, source=f"SIEM {where}"))
    if not heads:
        raise ValueError(f"{path}: no signed head (checkpoint message) in it")
    return heads


def read_witness_heads(lines: Iterable[str], *, name: str, witness_keys: TrustedKeys | None = None) -> list[Checkpoint]:
    """The heads a witness countersigned (its JSON lines, as ``GET /audit/witness/<origin>/heads`` gives them).

    With witness_keys, each countersignature must be by one of them: ValueError naming the line
    otherwise (the heads' own signatures are checked by verify like any other's).
    """
    heads: list[Checkpoint] = []
    for where, item in _objects(lines, name):
        head = Checkpoint.from_json(item, where=where, source=f"witness {where}")
        if witness_keys is not None:
            message = witness_message(str(item.get("origin")), head.to_json(), str(item.get("witnessed_at")))
            key_id, signature = str(item.get("witness_key_id")), str(item.get("witness_signature"))
            wrong = signature_problem(witness_keys, key_id=key_id, signature=signature, message=message)
            if wrong is not None:
                raise ValueError(f"{where}: the witness's countersignature is {wrong.replace('signed by ', 'by ')}")
        heads.append(head)
    return heads


def verify_export(
    path: Path,
    trusted_keys: TrustedKeys,
    *,
    heads: list[Checkpoint] | None = None,
    every_records: int | None = None,
    interval_s: float | None = None,
    rhythm_from: int = 0,
    ranges: dict[str, KeyRange] | None = None,
) -> VerifyReport:
    """Verify a JSONL export on its own: no database needed, only the trusted public keys.

    The first record's prev_hash is taken as given, unless a checkpoint just before it is
    included; checkpoints inside the range prove the records up to them. The signed end line
    proves that nothing was dropped at the end. ``heads`` (from a checkpoint file, a SIEM or a
    witness) inside the export's range must match it; ``every_records`` checks the count rhythm;
    ``ranges`` (a key ranges file) refuses a checkpoint a key signed outside its validity range.
    """
    try:
        parsed = _parse(path)
    except (ValueError, KeyError, TypeError) as exc:
        walk = ChainWalk(
            [], trusted_keys, expected_seq=None, expected_prev=None, prev_from_checkpoint=False, allow_gaps=True
        )
        walk.fail(Problem("malformed", f"{path}: {exc}"))
        return report_of(walk)
    contiguous = bool(parsed.header.get("contiguous", False))
    in_range = _heads_in_range(heads or [], parsed)
    walk = ChainWalk(
        merge_heads(parsed.checkpoints, in_range),
        trusted_keys,
        expected_seq=None,
        expected_prev=None,
        prev_from_checkpoint=False,
        allow_gaps=not contiguous,
        every_records=every_records if contiguous else None,
        rhythm_from=rhythm_from,
        ranges=ranges,
    )
    for number, fields in parsed.records:
        if not _well_formed(fields):
            walk.fail(Problem("malformed", f"line {number} is not a complete audit record", seq=fields.get("seq")))
            break
        if not walk.feed(fields):
            break
    walk.finish()
    if walk.problem is None:
        problem = _end_problem(parsed, trusted_keys)
        if problem is not None:
            walk.fail(problem)
    gaps = time_gaps(parsed.checkpoints, interval_s) if interval_s else ()
    return report_of(walk, heads_checked=len(in_range), gaps=gaps)


@dataclass
class _Parsed:
    header: dict[str, Any]
    header_line: bytes
    records: list[tuple[int, dict[str, Any]]]
    checkpoints: list[Checkpoint]
    end: dict[str, Any] | None
    end_number: int | None
    last_number: int


def _parse(path: Path) -> _Parsed:
    parsed = _Parsed({}, b"", [], [], None, None, 0)
    with path.open("rb") as lines:
        for number, raw in enumerate(lines, start=1):
            if not raw.strip():
                continue
            try:
                item = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise ValueError(f"line {number} is not valid JSON") from None
            if not isinstance(item, dict):
                raise ValueError(f"line {number} is not a JSON object")
            if parsed.end is not None:
                raise ValueError(f"line {number} comes after the signed end line ({parsed.end_number})")
            parsed.last_number = number
            if number == 1:
                if item.get("type") != "header" or item.get("format") != "suite-audit-export":
                    raise ValueError("not a JSONL audit export (no header line)")
                parsed.header, parsed.header_line = item, raw
            elif item.get("type") == "checkpoint":
                parsed.checkpoints.append(Checkpoint.from_json(item, where=f"line {number}"))
            elif item.get("type") == "record":
                parsed.records.append((number, {key: value for key, value in item.items() if key != "type"}))
            elif item.get("type") == "end":
                parsed.end, parsed.end_number = item, number
            else:
                raise ValueError(f"line {number} is of no known type ({str(item.get('type'))[:20]!r})")
    if not parsed.header:
        raise ValueError("the file is empty")
    return parsed


def _heads_in_range(heads: list[Checkpoint], parsed: _Parsed) -> list[Checkpoint]:
    seqs: list[int] = [fields["seq"] for _, fields in parsed.records if isinstance(fields.get("seq"), int)]
    if not seqs:
        return []
    low, high = min(seqs), max(seqs)
    return [head for head in heads if low - 1 <= head.seq <= high]


def _end_problem(parsed: _Parsed, trusted: TrustedKeys) -> Problem | None:  # noqa: PLR0911 (one return per check)
    last_line = parsed.last_number
    if parsed.end is None:
        message = f"the export has no signed end line: lines after line {last_line} were dropped"
        return Problem("end", message + " (or the file was not made by `suite audit export`)")
    end = parsed.end
    body = {key: value for key, value in end.items() if key not in ("type", "key_id", "signature")}
    wrong = signature_problem(
        trusted,
        key_id=str(end.get("key_id")),
        signature=str(end.get("signature")),
        message=export_end_message(body),
    )
    if wrong is not None:
        return Problem("end", f"the end line (line {parsed.end_number}) is {wrong}")
    if end.get("header_sha256") != hashlib.sha256(parsed.header_line).hexdigest():
        return Problem("end", "the header (line 1) was changed after the export was signed")
    last = parsed.records[-1][1] if parsed.records else None
    last_seq = last.get("seq") if last else None
    if end.get("records") != len(parsed.records) or end.get("last_seq") != last_seq:
        message = (
            f"the signed end names {end.get('records')} records through seq {end.get('last_seq')}, the file has"
            f" {len(parsed.records)} through seq {last_seq}: records after {last_seq} were dropped or added"
        )
        return Problem("end", message, seq=(last_seq or 0) + 1)
    if last is not None and end.get("last_hash") != last.get("record_hash"):
        return Problem("end", f"record {last_seq} is not the record the export's end was signed over", seq=last_seq)
    if end.get("checkpoints") != len(parsed.checkpoints):
        message = (
            f"the signed end names {end.get('checkpoints')} checkpoint lines, the file has {len(parsed.checkpoints)}"
        )
        return Problem("end", message + ": checkpoint lines were dropped or added")
    return None


def _well_formed(fields: dict[str, Any]) -> bool:
    types: dict[str, type] = {"seq": int, "record_id": str, "prev_hash": str, "record_hash": str}
    return set(fields) == set(RECORD_FIELDS) and all(isinstance(fields[k], t) for k, t in types.items())
