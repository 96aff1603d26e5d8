"""The walk along a chain that finds its first problem; fed by the database or by an export file."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from suite.audit.chain import record_hash
from suite.audit.keys import KeyRange, TrustedKeys, checkpoint_message, signature_problem

ProblemKind = Literal[
    "edited",
    "missing",
    "out_of_order",
    "rewritten",
    "truncated",
    "checkpoint_invalid",
    "checkpoint_untrusted",
    "malformed",
    "rhythm",
    "end",
    "checkpoint_deleted",
]
# How far a record whose hash fits another seq is looked for, to tell "moved" from "edited".
_MOVE_WINDOW = 16


@dataclass(frozen=True)
class Problem:
    """What is wrong, and where: the seq and, when there is one, the record id."""

    kind: ProblemKind
    message: str
    seq: int | None = None
    record_id: str | None = None


@dataclass(frozen=True)
class Checkpoint:
    """A signed checkpoint as stored or exported."""

    seq: int
    head_hash: str
    time: str
    key_id: str
    signature: str
    kind: str
    # Where it was read: "database", "line 12" of an export, "checkpoints.jsonl line 3".
    source: str = field(default="database", compare=False)

    @classmethod
    def from_json(cls, item: dict[str, Any], *, where: str, source: str | None = None) -> Checkpoint:
        """From an export line; ValueError naming where when a field is missing or of the wrong type."""
        names = ("seq", "head_hash", "time", "key_id", "signature", "kind")
        wrong = [name for name in names if not isinstance(item.get(name), int if name == "seq" else str)]
        if wrong:
            raise ValueError(f"{where}: checkpoint field {wrong[0]} is missing or malformed")
        return cls(
            seq=item["seq"],
            head_hash=item["head_hash"],
            time=item["time"],
            key_id=item["key_id"],
            signature=item["signature"],
            kind=item["kind"],
            source=source or where,
        )

    @property
    def origin(self) -> str:
        """' (checkpoints.jsonl line 3)', or nothing for the database's own."""
        return "" if self.source == "database" else f" ({self.source})"

    @property
    def named(self) -> str:
        """'checkpoint 12' plus where it came from."""
        return f"checkpoint {self.seq}{self.origin}"

    def to_json(self) -> dict[str, Any]:
        """The export and checkpoint-file line (without its type)."""
        return {
            "seq": self.seq,
            "time": self.time,
            "head_hash": self.head_hash,
            "key_id": self.key_id,
            "signature": self.signature,
            "kind": self.kind,
        }

    def problem(self, trusted: TrustedKeys) -> Problem | None:
        """None when a trusted key signed this checkpoint."""
        message = checkpoint_message(kind=self.kind, seq=self.seq, head_hash=self.head_hash, time=self.time)
        wrong = signature_problem(trusted, key_id=self.key_id, signature=self.signature, message=message)
        if wrong is None:
            return None
        kind: ProblemKind = "checkpoint_untrusted" if wrong.startswith("signed by") else "checkpoint_invalid"
        return Problem(kind, f"{self.named} {wrong}", seq=self.seq)


class ChainWalk:
    """Consumes records in seq order and the checkpoints among them; stops at the first problem."""

    def __init__(
        self,
        checkpoints: list[Checkpoint],
        trusted: TrustedKeys,
        *,
        expected_seq: int | None,
        expected_prev: str | None,
        prev_from_checkpoint: bool,
        allow_gaps: bool,
        every_records: int | None = None,
        rhythm_from: int = 0,
        ranges: dict[str, KeyRange] | None = None,
    ) -> None:
        # In signing order: by seq, and heartbeats at one seq by time.
        self._checkpoints = sorted(checkpoints, key=lambda c: (c.seq, c.time))
        # Key rotation: a key's "key_retired" checkpoint is its last; key id -> that checkpoint.
        # (Several keys may sign side by side: each gateway replica has its own.)
        self._retired: dict[str, Checkpoint] = {}
        # Each key's validity range, from the key ranges file an auditor was handed (None: not given).
        self._ranges = ranges or {}
        self._next = 0
        self._trusted = trusted
        self._expected_seq = expected_seq
        self._expected_prev = expected_prev
        self._prev_from_checkpoint = prev_from_checkpoint
        self._prev_id: str | None = None
        self._allow_gaps = allow_gaps
        self.problem: Problem | None = None
        self.records = 0
        self.checkpoints_checked = 0
        self.first_seq: int | None = None
        self.last_seq: int | None = None
        self.anchored_through: int | None = None
        # Records whose hashes chain up to a matching trusted checkpoint, and those not (yet) so.
        self.records_proven = 0
        self._unproven_run = 0
        self.contiguous = True
        # The count rhythm: the writer signs at least every this many records.
        self._every = every_records
        # Records up to this seq were written before the writer kept the rhythm (an older suite).
        self._rhythm_from = rhythm_from
        self._covered: int | None = None if expected_seq is None else expected_seq - 1

    def fail(self, problem: Problem) -> None:
        """Record the first problem (later ones are ignored)."""
        if self.problem is None:
            self.problem = problem

    def feed(self, fields: dict[str, Any]) -> bool:
        """Check one record; False once a problem was found."""
        if self.problem is not None:
            return False
        seq: int = fields["seq"]
        record_id: str = fields["record_id"]
        self._check_position(seq)
        self._flush(before=seq)
        if self.problem is None:
            self._check_hash(fields)
        if self.problem is None:
            self._check_link(fields)
        if self.problem is None:
            self._check_checkpoints_at(seq, fields["record_hash"])
        if self.problem is None:
            self._check_rhythm(seq)
        if self.problem is not None:
            return False
        self.records += 1
        self._unproven_run += 1
        if self.anchored_through == seq:
            self.records_proven += self._unproven_run
            self._unproven_run = 0
        self.first_seq = seq if self.first_seq is None else self.first_seq
        self.last_seq = seq
        self._expected_seq, self._expected_prev = seq + 1, fields["record_hash"]
        self._prev_from_checkpoint, self._prev_id = False, record_id
        return True

    def finish(self) -> None:
        """Check the checkpoints after the last record: a valid one there means the tail was cut off."""
        tail = self.last_seq if self.last_seq is not None else (self._expected_seq or 1) - 1
        while self.problem is None and self._next < len(self._checkpoints):
            checkpoint = self._checkpoints[self._next]
            self._next += 1
            self._check_signature(checkpoint)
            if self.problem is None and checkpoint.seq > tail:
                message = (
                    f"chain truncated after {tail}: checkpoint at {checkpoint.seq}{checkpoint.origin} signs a head"
                    f" that no longer exists (records {tail + 1}..{checkpoint.seq} are unaccounted for)"
                )
                self.fail(Problem("truncated", message, seq=tail + 1))

    def check_head(self, head_seq: int) -> None:
        """Compare with the chain head row, which every append moves."""
        tail = self.last_seq if self.last_seq is not None else (self._expected_seq or 1) - 1
        if head_seq > tail:
            message = f"chain truncated after {tail}: the chain head is at {head_seq}"
            self.fail(Problem("truncated", message, seq=tail + 1))
        elif head_seq < tail:
            message = f"the chain head ({head_seq}) is behind the last record {tail}: it was edited"
            self.fail(Problem("rewritten", message, seq=tail))

    def _check_rhythm(self, seq: int) -> None:
        if self._every is None or not self.contiguous:
            return
        if seq <= self._rhythm_from:
            self._covered = seq
            return
        if self.anchored_through is not None and self.anchored_through >= (self._covered or 0):
            self._covered = self.anchored_through
        if self._covered is None:
            self._covered = seq - 1  # an export's first record: the last checkpoint was at most here
        if seq - self._covered > self._every:
            start = self._covered + 1
            message = (
                f"no checkpoint covers records {start}..{seq}, though the writer signs one every {self._every}"
                f" records: checkpoints were deleted, or the chain was rewritten from {start}"
                " (or an older suite wrote them: see --rhythm-from in docs/audit.md)"
            )
            self.fail(Problem("rhythm", message, seq=start))

    def _check_position(self, seq: int) -> None:
        expected = self._expected_seq
        if expected is None or seq == expected:
            return
        if seq < expected:
            self.fail(Problem("out_of_order", f"records out of order at {seq}", seq=seq))
        elif not self._allow_gaps:
            self.fail(Problem("missing", f"record {expected} is missing (deleted)", seq=expected))
        else:
            # A filtered export: the link to the previous record cannot be checked across the gap.
            self.contiguous = False
            self._expected_prev, self._prev_id = None, None
            self._unproven_run = 0

    def _flush(self, *, before: int) -> None:
        while self.problem is None and self._next < len(self._checkpoints):
            checkpoint = self._checkpoints[self._next]
            if checkpoint.seq >= before:
                return
            self._next += 1
            self._check_signature(checkpoint)
            if self.problem is None and checkpoint.seq == before - 1 and self._expected_prev is None:
                # The start of an export range, proven by the checkpoint just before it.
                self._expected_prev, self._prev_from_checkpoint = checkpoint.head_hash, True

    def _check_signature(self, checkpoint: Checkpoint) -> None:
        self.checkpoints_checked += 1
        problem = checkpoint.problem(self._trusted)
        if problem is not None:
            self.fail(problem)
            return
        self._check_key_order(checkpoint)

    def _check_key_order(self, checkpoint: Checkpoint) -> None:
        key_range = self._ranges.get(checkpoint.key_id)
        outside = key_range.problem(checkpoint.seq, checkpoint.time) if key_range else None
        if outside is not None:
            self.fail(Problem("checkpoint_untrusted", f"{checkpoint.named} {outside}", seq=checkpoint.seq))
            return
        retirement = self._retired.get(checkpoint.key_id)
        if retirement is not None:
            message = (
                f"{checkpoint.named} is signed by key {checkpoint.key_id}, which {retirement.named} had retired:"
                " a retired key signed after its rotation"
            )
            self.fail(Problem("checkpoint_untrusted", message, seq=checkpoint.seq))
            return
        if checkpoint.kind == "key_retired":
            self._retired[checkpoint.key_id] = checkpoint

    def _check_hash(self, fields: dict[str, Any]) -> None:
        seq, record_id = fields["seq"], fields["record_id"]
        if record_hash(fields) == fields["record_hash"]:
            return
        for delta in range(1, _MOVE_WINDOW + 1):
            for other in (seq - delta, seq + delta):
                if other >= 1 and record_hash({**fields, "seq": other}) == fields["record_hash"]:
                    message = f"records out of order at {seq}: record {record_id} belongs at {other}"
                    self.fail(Problem("out_of_order", message, seq=seq, record_id=record_id))
                    return
        self.fail(Problem("edited", f"record {seq} was edited", seq=seq, record_id=record_id))

    def _check_link(self, fields: dict[str, Any]) -> None:
        seq = fields["seq"]
        if self._expected_prev is None or fields["prev_hash"] == self._expected_prev:
            return
        if self._prev_from_checkpoint:
            message = f"records from {seq} were rewritten: record {seq} does not follow the checkpoint at {seq - 1}"
            self.fail(Problem("rewritten", message, seq=seq, record_id=fields["record_id"]))
        else:
            message = f"record {seq - 1} was edited: record {seq} no longer links to it"
            self.fail(Problem("edited", message, seq=seq - 1, record_id=self._prev_id))

    def _check_checkpoints_at(self, seq: int, head_hash: str) -> None:
        while self.problem is None and self._next < len(self._checkpoints):
            checkpoint = self._checkpoints[self._next]
            if checkpoint.seq != seq:
                return
            self._next += 1
            self._check_signature(checkpoint)
            if self.problem is not None:
                return
            if checkpoint.head_hash != head_hash:
                since = self.anchored_through if self.anchored_through is not None else (self.first_seq or seq) - 1
                message = (
                    f"chain rewritten after {since}: checkpoint at {seq}{checkpoint.origin} signs a different head"
                )
                self.fail(Problem("rewritten", message, seq=seq))
            else:
                self.anchored_through = seq
