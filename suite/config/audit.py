"""Audit trail settings: content policy, the writer, checkpoints, retention, SIEM forwarding, witness."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from suite.config.section import Section

ContentPolicy = Literal["full", "masked", "hash", "none"]
SiemKind = Literal["syslog_udp", "syslog_tcp", "syslog_tls", "jsonl", "witness"]
SyslogFacility = Literal[
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv", "ftp",
    "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
]  # fmt: skip


class SiemDestination(Section):
    """One place the audit trail is forwarded to (see docs/audit-siem.md)."""

    # Names the destination's cursor (the last forwarded seq, kept in the database): renaming restarts it.
    name: str = Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    kind: SiemKind
    # syslog_*: the receiver (RFC 5424; TCP and TLS with octet-counting framing, RFC 6587 / RFC 5425).
    host: str = "127.0.0.1"
    port: int = Field(default=514, ge=1, le=65535)
    # syslog_tls: CA file that signed the receiver's certificate (null: the system's trust store), the name
    # its certificate must carry (null: host), and an optional client certificate and key (PEM).
    ca_file: Path | None = None
    server_name: str | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    # jsonl: the file to append to (one record per line, fsync per batch; rotate with logrotate).
    path: Path | None = None
    # witness: the witness's base URL (another suite's http://host:port/audit/witness, or any endpoint
    # speaking that protocol, docs/audit.md); it receives the signed heads only, never records.
    url: str | None = Field(default=None, pattern=r"^https?://")
    # witness: this trail's name at the witness (the same on every gateway replica of one trail).
    origin: str = Field(default="suite", pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    facility: SyslogFacility = "authpriv"
    app_name: str = Field(default="suite", pattern=r"^[!-~]{1,48}$")
    # HOSTNAME of the messages (null: this machine's name).
    hostname: str | None = None
    # The structured-data ID; replace 32473 (the documentation number, RFC 5612) by your enterprise number.
    sd_id: str = Field(default="suite@32473", pattern=r"^[!#-<>-\\^-~]{1,32}$")
    # false: prompts and answers are left out of what is forwarded (the trail keeps what the policy allows).
    include_content: bool = True
    # syslog_udp: larger messages lose their content fields first, then are cut (marked truncated="true").
    max_datagram_bytes: int = Field(default=2048, ge=480, le=65507)
    # Connecting and sending; a receiver that stalls longer is retried later.
    timeout_s: float = Field(default=10, gt=0)

    @model_validator(mode="after")
    def _complete(self) -> SiemDestination:
        if self.kind == "jsonl" and self.path is None:
            raise ValueError(f"audit.siem destination {self.name!r}: kind jsonl needs a path")
        if self.kind == "witness" and self.url is None:
            raise ValueError(f"audit.siem destination {self.name!r}: kind witness needs a url")
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError(f"audit.siem destination {self.name!r}: cert_file and key_file go together")
        return self


class SiemSettings(Section):
    """Forwarding committed audit records to SIEMs, each destination from its own cursor."""

    destinations: list[SiemDestination] = Field(default_factory=list)
    # Records read and sent per round; the cursor moves after each sent batch.
    batch_size: int = Field(default=500, ge=1, le=10000)
    # How often a caught-up forwarder looks for new records.
    poll_interval_s: float = Field(default=1.0, gt=0)
    # After a failure: wait retry_initial_s, doubling up to retry_max_s.
    retry_initial_s: float = Field(default=1.0, gt=0)
    retry_max_s: float = Field(default=60.0, gt=0)
    # Records not yet forwarded above which the forwarder logs an error (once a minute) and reports
    # itself over its bound; nothing is dropped, the records wait in the database.
    max_backlog: int = Field(default=100_000, ge=1)
    # Where a new destination starts: the oldest record kept, or the newest (only what comes next).
    start: Literal["beginning", "now"] = "beginning"

    @model_validator(mode="after")
    def _unique_names(self) -> SiemSettings:
        names = [d.name for d in self.destinations]
        if len(names) != len(set(names)):
            raise ValueError("audit.siem.destinations: two destinations have the same name")
        return self


class WitnessOrigin(Section):
    """A trail this suite witnesses: its name and the public keys its heads are signed with."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    # The trail's audit-signing-<id>.pub files, or directories of them (absolute, or relative to data_dir).
    keys: list[Path] = Field(min_length=1)


class WitnessSettings(Section):
    """Serving as the witness of other trails' signed heads (docs/audit.md, "The witness")."""

    # Empty: this suite witnesses nothing (the /audit/witness routes are not mounted).
    origins: list[WitnessOrigin] = Field(default_factory=list)
    # Where each origin's countersigned heads are appended (<dir>/<origin>.jsonl; relative: data_dir).
    dir: Path = Path("audit-witness")

    @model_validator(mode="after")
    def _unique_names(self) -> WitnessSettings:
        names = [origin.name for origin in self.origins]
        if len(names) != len(set(names)):
            raise ValueError("audit.witness.origins: two origins have the same name")
        return self


class AuditSettings(Section):
    """The tamper-evident audit trail."""

    # What of prompts and answers is stored, by default and per route or model
    # ("chat", "embeddings", ... or a model name; a model entry wins over a route entry).
    content: ContentPolicy = "masked"
    content_overrides: dict[str, ContentPolicy] = Field(default_factory=dict)
    # Fail closed: without a durable record no answer is delivered (503). fail_open logs loudly instead.
    fail_open: bool = False
    # The batched writer: at most this many records per transaction, waiting at most this long to fill one.
    # 0 is plain group commit: whatever queued while the last commit ran goes in the next one. A wait
    # adds itself to every request's first byte (measured: 5 ms wait = +6 ms TTFT) for little gain.
    batch_max: int = Field(default=256, ge=1)
    batch_wait_ms: float = Field(default=0, ge=0)
    # A signed checkpoint every N records or M seconds, whichever comes first; an idle trail signs
    # its unchanged head again every M seconds (a heartbeat), so a stopped writer shows as a gap.
    checkpoint_every_records: int = Field(default=1000, ge=1)
    checkpoint_every_s: float = Field(default=60, gt=0)
    # The last seq written by a suite that did not yet sign at exactly every checkpoint_every_records-th
    # record (before issue 17): verify leaves those records out of the rhythm check (docs/audit.md).
    checkpoint_rhythm_from_seq: int = Field(default=0, ge=0)
    # Ed25519 signing keys, kept apart from the database (absolute, or relative to data_dir).
    key_dir: Path = Path("audit-keys")
    # The append-only file every signed checkpoint is also written to, outside the database
    # (absolute, or relative to data_dir; see docs/audit.md, "Heads outside the database").
    checkpoint_dir: Path = Path("audit-checkpoints")
    # Days records are kept, per class ("model_request", "auth", "admin", "audit_access", ...); "default" for the rest.
    retention_days: dict[str, int] = Field(default_factory=lambda: {"default": 90})
    # How often `suite up` runs the purge job.
    purge_interval_s: float = Field(default=3600, gt=0)
    # Forwarding to SIEMs (syslog, JSON lines), after commit, from the stored records.
    siem: SiemSettings = Field(default_factory=SiemSettings)
    # Witnessing other suites' trails (their heads, countersigned with this suite's audit key).
    witness: WitnessSettings = Field(default_factory=WitnessSettings)
