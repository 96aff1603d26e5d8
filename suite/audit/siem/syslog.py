"""Stored audit records as RFC 5424 syslog messages and as JSON lines.

A message is ``<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] MSG`` where TIMESTAMP is the
record's own time, MSGID its event class, the structured data carries the key fields (seq and
both hashes, so a SIEM can see gaps and check links) and MSG is the whole record as JSON, exactly
as the trail stored it (the content policy was applied before it was stored). MSG carries no
UTF-8 BOM: RFC 5424 allows that (MSG-ANY) and several SIEMs show the BOM as junk.

Severity follows the outcome: ``denied`` is warning, ``error`` notice, the rest informational.

Every signed head (checkpoint) is forwarded as a message of its own: MSGID ``checkpoint``, the
head's fields in the structured data, and as MSG the checkpoint line exactly as the checkpoint
file and exports carry it (with ``"type":"checkpoint"``), so the SIEM holds the heads apart from
the database and ``suite audit verify --heads-from-siem`` can read them back from what it stored.
"""

from __future__ import annotations

import json
import os
import re
import socket
from dataclasses import dataclass
from typing import Any

from suite.config import SiemDestination

FACILITIES = {
    "kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7,
    "uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11, **{f"local{n}": 16 + n for n in range(8)},
}  # fmt: skip
SEVERITIES = {"denied": 4, "error": 5}
INFORMATIONAL = 6
# (SD-PARAM name, record field): what a SIEM filters and correlates on without parsing MSG.
SD_FIELDS = (
    ("seq", "seq"),
    ("recordId", "record_id"),
    ("requestId", "request_id"),
    ("subject", "subject"),
    ("class", "event_class"),
    ("action", "action"),
    ("status", "status"),
    ("decision", "decision"),
    ("model", "model"),
    ("prevHash", "prev_hash"),
    ("hash", "record_hash"),
)
# What an oversized UDP datagram gives up first, largest and least needed for correlation first.
_DROPPABLE = ("prompt", "answer", "details", "verdicts", "chunk_ids", "collections", "roles")
_NOT_PRINTABLE = re.compile(r"[^!-~]")


# (SD-PARAM name, checkpoint field) of a forwarded head.
HEAD_SD_FIELDS = (
    ("seq", "seq"),
    ("kind", "kind"),
    ("time", "time"),
    ("hash", "head_hash"),
    ("keyId", "key_id"),
    ("signature", "signature"),
)
HEAD_MSGID = "checkpoint"


def head_json(head: dict[str, Any]) -> str:
    """A signed head as one line of compact JSON: the checkpoint file's line plus ``"type":"checkpoint"``."""
    fields = {name: head[name] for name in ("seq", "time", "head_hash", "key_id", "signature", "kind")}
    return json.dumps({**fields, "type": "checkpoint"}, sort_keys=True, separators=(",", ":"))


def record_json(record: dict[str, Any], *, include_content: bool = True) -> str:
    """The record as one line of compact JSON (prompt and answer emptied when content is excluded)."""
    if not include_content:
        record = {**record, "prompt": None, "answer": None}
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _header_field(value: str | None, limit: int) -> str:
    # HOSTNAME, APP-NAME, PROCID, MSGID: printable US-ASCII without spaces, or the NILVALUE.
    text = _NOT_PRINTABLE.sub("_", value or "")[:limit]
    return text or "-"


def _param_value(value: Any) -> str:
    # RFC 5424 6.3.3: inside a PARAM-VALUE, '"', '\' and ']' must be escaped with a backslash.
    text = str(value)
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


@dataclass(frozen=True)
class SyslogFormat:
    """How one destination writes its messages (facility, names), fixed when it is set up."""

    facility: int
    hostname: str
    app_name: str
    procid: str
    sd_id: str
    include_content: bool

    @classmethod
    def of(cls, destination: SiemDestination) -> SyslogFormat:
        """The format of a configured destination."""
        return cls(
            facility=FACILITIES[destination.facility],
            hostname=_header_field(destination.hostname or socket.gethostname(), 255),
            app_name=_header_field(destination.app_name, 48),
            procid=str(os.getpid()),
            sd_id=destination.sd_id,
            include_content=destination.include_content,
        )

    def message(self, record: dict[str, Any], *, max_bytes: int | None = None) -> bytes:
        """The RFC 5424 message of a stored record (see ``from_row``), at most max_bytes long when given.

        A message over the limit first loses the fields in ``_DROPPABLE`` (listed in MSG under
        "truncated" and flagged ``truncated="true"`` in the structured data); if it is still too
        long, its end is cut at a character boundary.
        """
        message = self._build(record, truncated=())
        if max_bytes is None or len(message) <= max_bytes:
            return message
        dropped = tuple(name for name in _DROPPABLE if record.get(name))
        slim = {**record, **dict.fromkeys(dropped), "truncated": list(dropped)}
        message = self._build(slim, truncated=dropped or ("msg",))
        if len(message) > max_bytes:
            message = message[:max_bytes].decode(errors="ignore").encode()
        return message

    def head_message(self, head: dict[str, Any]) -> bytes:
        """The RFC 5424 message of a signed head (a checkpoint as ``head_json`` takes it); about 500 bytes."""
        data = " ".join(f'{name}="{_param_value(head[field])}"' for name, field in HEAD_SD_FIELDS)
        header = " ".join(
            (
                f"<{self.facility * 8 + INFORMATIONAL}>1",
                head["time"],
                self.hostname,
                self.app_name,
                self.procid,
                HEAD_MSGID,
                f"[{self.sd_id} {data}]",
            )
        )
        return f"{header} {head_json(head)}".encode()

    def _build(self, record: dict[str, Any], *, truncated: tuple[str, ...]) -> bytes:
        severity = SEVERITIES.get(record.get("status") or "", INFORMATIONAL)
        params = [(name, record.get(field)) for name, field in SD_FIELDS]
        if truncated:
            params.append(("truncated", "true"))
        data = " ".join(f'{name}="{_param_value(value)}"' for name, value in params if value is not None)
        header = " ".join(
            (
                f"<{self.facility * 8 + severity}>1",
                record["time"],  # already RFC 3339 UTC with microseconds (chain.format_time)
                self.hostname,
                self.app_name,
                self.procid,
                _header_field(record.get("event_class"), 32),
                f"[{self.sd_id} {data}]",
            )
        )
        return f"{header} {record_json(record, include_content=self.include_content)}".encode()


def octet_counted(message: bytes) -> bytes:
    """TCP/TLS framing of RFC 6587 3.4.1 (and RFC 5425): ``MSG-LEN SP SYSLOG-MSG``."""
    return b"%d %s" % (len(message), message)
