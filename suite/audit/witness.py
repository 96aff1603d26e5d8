"""A witness of other trails' signed heads: checked, countersigned and kept where their admins cannot reach.

Certificate Transparency's witnesses, for a hash chain. A second suite (or any HTTP endpoint that
speaks this protocol, docs/audit.md) receives every signed head of a trail (the forwarder's
destination kind ``witness``), checks the trail's signature with the trail's public keys, refuses a
head that differs from one it already holds at the same seq (the trail was rewritten, or its key
signed two histories), countersigns the head with its own audit signing key and appends it to
``<witness.dir>/<origin>.jsonl`` (O_APPEND, fsync). ``suite audit verify --witness`` compares the
trail against that copy, which nobody with only the trail's database can change.

What a witness does not see: the records. With a hash chain it cannot check that a later head
extends an earlier one (a Merkle tree's consistency proof would); it proves that each head existed,
unchanged, by the time it countersigned it, and that no seq ever had two heads.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from suite.audit.chain import format_time
from suite.audit.heads import append_lines
from suite.audit.keys import (
    HEAD_FIELDS,
    KeyRing,
    TrustedKeys,
    checkpoint_message,
    load_public_keys,
    signature_problem,
    witness_message,
)
from suite.config import WitnessSettings
from suite.errors import InvalidRequest, SuiteError, WitnessConflict

__all__ = ["UnknownOrigin", "Witness"]


class UnknownOrigin(SuiteError):
    """No trail of that name is witnessed here."""

    status_code = 404
    error_type = "invalid_request_error"
    code = "unknown_origin"


class Witness:
    """The witness of the configured origins, countersigning with one suite's audit key ring."""

    def __init__(self, settings: WitnessSettings, *, data_dir: Path, keys: KeyRing) -> None:
        """Loads each origin's public keys (ValueError naming a bad key file)."""
        self.directory = settings.dir if settings.dir.is_absolute() else data_dir / settings.dir
        self._keys = keys
        self._trusted: dict[str, TrustedKeys] = {}
        for origin in settings.origins:
            files: list[Path] = []
            for path in (p if p.is_absolute() else data_dir / p for p in origin.keys):
                files += sorted(path.glob("*.pub")) if path.is_dir() else [path]
            self._trusted[origin.name] = load_public_keys(files)
        self._lock = threading.Lock()
        # Per origin: seq -> the head hash held there, and each witnessed line by its head's identity.
        self._held: dict[str, dict[int, str]] = {}
        self._lines: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = {}

    @property
    def origins(self) -> list[str]:
        """The names of the witnessed trails."""
        return sorted(self._trusted)

    def path(self, origin: str) -> Path:
        """Where an origin's countersigned heads are kept."""
        self._known(origin)
        return self.directory / f"{origin}.jsonl"

    def heads(self, origin: str) -> str:
        """The countersigned heads of an origin, as its file holds them (JSON lines)."""
        path = self.path(origin)
        return path.read_text(encoding="utf-8") if path.exists() else ""

    def witness(self, origin: str, heads: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Check, countersign and keep heads; their witnessed lines (a head seen before: its earlier line).

        Raises UnknownOrigin, InvalidRequest (a signature the origin's keys do not make) and
        WitnessConflict (another head at a seq already held). Nothing of a refused call is kept.
        """
        self._known(origin)
        trusted = self._trusted[origin]
        for head in heads:
            message = checkpoint_message(
                kind=head["kind"], seq=head["seq"], head_hash=head["head_hash"], time=head["time"]
            )
            wrong = signature_problem(trusted, key_id=head["key_id"], signature=head["signature"], message=message)
            if wrong is not None:
                raise InvalidRequest(f"the head at seq {head['seq']} is {wrong}", param="heads")
        with self._lock:
            held, lines = self._state(origin)
            seen = dict(held)
            for head in heads:
                known = seen.setdefault(head["seq"], head["head_hash"])
                if known != head["head_hash"]:
                    raise WitnessConflict(
                        f"the head at seq {head['seq']} differs from the one witnessed there ({known[:16]}...):"
                        " the trail was rewritten"
                    )
            answer: list[dict[str, Any]] = []
            new: dict[tuple[Any, ...], dict[str, Any]] = {}
            for head in heads:
                identity = tuple(head[name] for name in HEAD_FIELDS)
                line = lines.get(identity) or new.get(identity)
                if line is None:
                    line = new[identity] = self._countersigned(origin, head)
                answer.append(line)
            if new:
                append_lines(self.directory / f"{origin}.jsonl", list(new.values()))
                # Held only once written: a failed write keeps nothing, and the sender sends again.
                lines |= new
                held |= {line["seq"]: line["head_hash"] for line in new.values()}
        return answer

    def _known(self, origin: str) -> None:
        if origin not in self._trusted:
            raise UnknownOrigin(f"no trail named {origin!r} is witnessed here")

    def _countersigned(self, origin: str, head: dict[str, Any]) -> dict[str, Any]:
        key = self._keys.current()
        witnessed_at = format_time(datetime.now(UTC))
        signature = key.sign(witness_message(origin, head, witnessed_at))
        fields = {name: head[name] for name in HEAD_FIELDS} | {"origin": origin, "witnessed_at": witnessed_at}
        return fields | {"witness_key_id": key.key_id, "witness_signature": signature}

    def _state(self, origin: str) -> tuple[dict[int, str], dict[tuple[Any, ...], dict[str, Any]]]:
        if origin not in self._held:
            held: dict[int, str] = {}
            lines: dict[tuple[Any, ...], dict[str, Any]] = {}
            path = self.directory / f"{origin}.jsonl"
            if path.exists():
                for text in path.read_text(encoding="utf-8").splitlines():
                    if text.strip():
                        line = json.loads(text)
                        held[line["seq"]] = line["head_hash"]
                        lines[tuple(line[name] for name in HEAD_FIELDS)] = line
            self._held[origin], self._lines[origin] = held, lines
        return self._held[origin], self._lines[origin]
