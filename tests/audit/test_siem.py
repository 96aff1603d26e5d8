"""SIEM forwarding against a real rsyslogd: UDP, TCP, TLS and JSON lines, outages and restarts."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from typer.testing import CliRunner

from suite.audit import AuditFilters, AuditQuery, AuditTrail, SiemForwarder, verify_database
from suite.audit.cli import audit_app
from suite.audit.offline import read_heads, read_siem_heads
from suite.audit.siem import SyslogFormat
from suite.audit.siem.syslog import HEAD_MSGID
from suite.config import SiemDestination, SiemSettings
from suite.db import Database
from suite.gateway import create_app
from tests.audit.conftest import event, fill, scalar, sql
from tests.audit.rsyslog import Received, Rsyslog, write_tls_files
from tests.support import free_port, gateway_settings, running, wait_until


@pytest.fixture
def rsyslog(tmp_path: Path) -> Iterator[Rsyslog]:
    (tmp_path / "rsyslog").mkdir()
    daemon = Rsyslog(tmp_path / "rsyslog").start()
    yield daemon
    daemon.stop()


def destinations(daemon: Rsyslog, tmp_path: Path) -> list[SiemDestination]:
    return [
        SiemDestination(name="udp", kind="syslog_udp", port=daemon.udp_port, hostname="gw1"),
        SiemDestination(name="tcp", kind="syslog_tcp", port=daemon.tcp_port, hostname="gw1", facility="local0"),
        SiemDestination(name="tls", kind="syslog_tls", port=daemon.tls_port, ca_file=daemon.ca_file, hostname="gw1"),
        SiemDestination(name="file", kind="jsonl", path=tmp_path / "siem" / "trail.jsonl"),
    ]


def forwarder(database: Database, tmp_path: Path, *targets: SiemDestination, **settings: Any) -> SiemForwarder:
    options = {"retry_initial_s": 0.05, "retry_max_s": 0.2, "poll_interval_s": 0.05} | settings
    return SiemForwarder(SiemSettings(destinations=list(targets), **options), database, data_dir=tmp_path)


def arrived(
    daemon: Rsyslog, source: str, count: int, timeout: float = 20, *, msgid: str | None = None
) -> list[Received]:
    """The record messages (or those with this msgid) from one input once at least count are there."""
    deadline = time.monotonic() + timeout
    while True:
        messages = [
            m for m in daemon.received() if m.input == source and (m.msgid == msgid if msgid else m.msgid != HEAD_MSGID)
        ]
        if len(messages) >= count or time.monotonic() > deadline:
            return messages
        time.sleep(0.1)


def seqs(messages: list[Received]) -> list[int]:
    return [json.loads(m.msg)["seq"] for m in messages]


def stored(database: Database) -> dict[int, dict[str, Any]]:
    records = AuditQuery(database).search(AuditFilters(), limit=1000).records
    return {r.seq: r.model_dump(mode="json") for r in records}


async def test_every_kind_delivers_parsed_records(
    trail: AuditTrail, database: Database, rsyslog: Rsyslog, tmp_path: Path
) -> None:
    await trail.record(event())
    await trail.record(event(status="denied", decision="deny", subject='eve "the] \\ odd"', http_status=403))
    await trail.record(event(status="error", http_status=502, prompt="Grüße, ünïcode ✓"))
    siem = forwarder(database, tmp_path, *destinations(rsyslog, tmp_path))
    try:
        reports = await asyncio.to_thread(siem.catch_up)
    finally:
        siem.close()
    assert [(r.destination, r.forwarded, r.cursor, r.error) for r in reports] == [
        (name, 3, 3, None) for name in ("udp", "tcp", "tls", "file")
    ]
    records = stored(database)
    for source, facility in (("udp", 10), ("tcp", 16), ("tls", 10)):
        messages = arrived(rsyslog, source, 3)
        assert seqs(messages) == [1, 2, 3], source
        # Severity by outcome: informational, warning (denied), notice (error).
        assert [m.pri for m in messages] == [facility * 8 + 6, facility * 8 + 4, facility * 8 + 5], source
        for message in messages:
            assert (message.hostname, message.app_name, message.msgid) == ("gw1", "suite", "model_request")
            body = json.loads(message.msg)
            assert body["record_hash"] == records[body["seq"]]["record_hash"]
            assert body["prompt"] == records[body["seq"]]["prompt"]
            assert f'seq="{body["seq"]}"' in message.structured_data
            assert f'hash="{body["record_hash"]}"' in message.structured_data
            assert message.structured_data.startswith("[suite@32473 ")
        # rsyslog parsed the escaped value as one parameter of one element.
        assert 'subject="eve \\"the\\] \\\\ odd\\""' in messages[1].structured_data
    lines = (tmp_path / "siem" / "trail.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["record_hash"] for line in lines] == [records[s]["record_hash"] for s in (1, 2, 3)]


async def test_outage_loses_nothing_and_a_restart_resumes_from_the_cursor(
    trail: AuditTrail, database: Database, rsyslog: Rsyslog, tmp_path: Path
) -> None:
    tcp = SiemDestination(name="tcp", kind="syslog_tcp", port=rsyslog.tcp_port)
    siem = forwarder(database, tmp_path, tcp, batch_size=7)
    await siem.start()
    await fill(trail, 20)
    assert seqs(await asyncio.to_thread(arrived, rsyslog, "tcp", 20)) == list(range(1, 21))

    rsyslog.stop()
    started = time.monotonic()
    await fill(trail, 30)  # the trail does not wait on the SIEM
    assert time.monotonic() - started < 10
    for _ in range(100):  # the next retry sees every record written during the outage
        if siem.states["tcp"].last_error and siem.states["tcp"].backlog == 30:
            break
        await asyncio.sleep(0.05)
    assert siem.states["tcp"].last_error is not None
    assert siem.states["tcp"].backlog == 30

    await asyncio.to_thread(rsyslog.start)
    messages = await asyncio.to_thread(arrived, rsyslog, "tcp", 50)
    await siem.stop()
    received = seqs(messages)
    # The receiver closed its connections on stop, which the forwarder notices before sending: nothing is
    # lost or repeated (in general TCP gives at least once; see docs/audit-siem.md).
    assert received == list(range(1, 51))
    assert siem.states["tcp"].last_error is None

    await fill(trail, 5)
    again = forwarder(database, tmp_path, tcp)
    try:
        [report] = await asyncio.to_thread(again.catch_up)
    finally:
        again.close()
    assert (report.forwarded, report.cursor, report.backlog) == (5, 55, 0)
    received = seqs(await asyncio.to_thread(arrived, rsyslog, "tcp", len(received) + 5))
    assert received[-5:] == list(range(51, 56))
    assert received.count(51) == 1  # resumed after its cursor, not from the beginning


async def test_backlog_over_its_bound_is_reported_and_kept(
    trail: AuditTrail, database: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    await fill(trail, 12)
    nobody = SiemDestination(name="down", kind="syslog_tcp", port=free_port(), timeout_s=1)
    siem = forwarder(database, tmp_path, nobody, max_backlog=10)
    try:
        [report] = await asyncio.to_thread(siem.catch_up)
    finally:
        siem.close()
    assert report.error is not None
    assert "ConnectionRefusedError" in report.error
    assert (report.forwarded, report.cursor, report.backlog) == (0, 0, 12)
    assert siem.states["down"].over_bound
    assert len(stored(database)) == 12  # nothing dropped: the records wait in the trail


async def test_tls_refuses_a_receiver_it_cannot_verify(
    trail: AuditTrail, database: Database, rsyslog: Rsyslog, tmp_path: Path
) -> None:
    await fill(trail, 2)
    (tmp_path / "other").mkdir()
    wrong_ca, _, _ = write_tls_files(tmp_path / "other")  # a second, unrelated throwaway CA
    tls = SiemDestination(name="tls", kind="syslog_tls", port=rsyslog.tls_port, ca_file=wrong_ca)
    siem = forwarder(database, tmp_path, tls)
    try:
        [report] = await asyncio.to_thread(siem.catch_up)
    finally:
        siem.close()
    assert report.error is not None
    assert "CERTIFICATE_VERIFY_FAILED" in report.error
    assert report.cursor == 0
    assert arrived(rsyslog, "tls", 1, timeout=1) == []


def test_udp_datagrams_stay_within_their_limit() -> None:
    fmt = SyslogFormat.of(SiemDestination(name="u", kind="syslog_udp", hostname="gw1"))
    record = {
        **event(prompt="x" * 5000, answer="ü" * 3000).model_dump(mode="json"),
        "time": "2026-11-25T10:00:00.000000Z",
        "seq": 7,
        "record_id": "r",
        "prev_hash": "0" * 64,
        "record_hash": "1" * 64,
    }
    full = fmt.message(record)
    assert len(full) > 8000
    slim = fmt.message(record, max_bytes=2048)
    assert len(slim) <= 2048
    assert b'truncated="true"' in slim
    body = json.loads(slim.split(b"] ", 1)[1])
    assert body["prompt"] is None
    assert "prompt" in body["truncated"]
    assert body["record_hash"] == "1" * 64
    cut = fmt.message(record | {"action": "a" * 4000}, max_bytes=600)
    assert len(cut) <= 600
    cut.decode()  # cut at a character boundary


async def test_cli_forward_once_and_replay(
    trail: AuditTrail, database: Database, rsyslog: Rsyslog, tmp_path: Path
) -> None:
    await fill(trail, 3)
    await trail.stop()  # the CLI writes its own access records
    config = tmp_path / "suite.yaml"
    siem = {"destinations": [{"name": "tcp", "kind": "syslog_tcp", "port": rsyslog.tcp_port}]}
    settings = {"data_dir": str(tmp_path), "database": {"url": database.url}, "audit": {"siem": siem}}
    config.write_text(yaml.safe_dump(settings), encoding="utf-8")
    runner = CliRunner()

    first = await asyncio.to_thread(runner.invoke, audit_app, ["forward", "--once", "--config", str(config)])
    assert first.exit_code == 0, first.output
    # The three records and the access record of this very command (seq 4).
    assert "tcp: forwarded 4, cursor 4, backlog 0" in first.stdout
    replay = ["forward", "--once", "--from-seq", "2", "--config", str(config)]
    second = await asyncio.to_thread(runner.invoke, audit_app, replay)
    assert second.exit_code == 0, second.output
    assert "tcp: forwarded 4, cursor 5" in second.stdout  # 2, 3, 4 again and the replay's own record
    assert seqs(await asyncio.to_thread(arrived, rsyslog, "tcp", 8)) == [1, 2, 3, 4, 2, 3, 4, 5]
    actions = [json.loads(m.msg)["action"] for m in rsyslog.received() if m.msgid != HEAD_MSGID]
    assert actions[-1] == "audit.forward.replay"

    unknown = runner.invoke(audit_app, ["forward", "--once", "-d", "nope", "--config", str(config)])
    assert unknown.exit_code == 2
    assert "No audit.siem destination named nope" in unknown.output


def test_the_gateway_forwards_what_it_records(tmp_path: Path) -> None:
    jsonl = {"name": "file", "kind": "jsonl", "path": "siem/trail.jsonl"}
    base = gateway_settings(tmp_path, backends=[f"http://127.0.0.1:{free_port()}"])
    audit = base.audit.model_copy(update={"siem": SiemSettings(destinations=[jsonl], poll_interval_s=0.1)})
    with running(create_app(base.model_copy(update={"audit": audit}), manage_engines=False)) as server:
        refused = httpx.get(f"{server.url}/v1/models", headers={"Authorization": "Bearer wrong"})
        assert refused.status_code == 401
        target = tmp_path / "siem" / "trail.jsonl"
        wait_until(lambda: target.exists() and "401" in target.read_text(), timeout=20, what="record forwarded")
        wait_until(
            lambda: httpx.get(f"{server.url}/readyz").json()["siem"]["file"]["backlog"] == 0,
            timeout=20,
            what="backlog on /readyz",
        )
        state = httpx.get(f"{server.url}/readyz").json()["siem"]["file"]
        assert (state["over_bound"], state["last_error"]) == (False, None)
    [line] = target.read_text(encoding="utf-8").splitlines()
    record = json.loads(line)
    assert (record["seq"], record["event_class"], record["http_status"]) == (1, "auth", 401)
    assert record["request_id"] == refused.headers["x-request-id"]


async def test_a_truncation_is_caught_from_the_siems_copy_of_the_heads_alone(
    trail: AuditTrail, database: Database, rsyslog: Rsyslog, tmp_path: Path
) -> None:
    await fill(trail, 25)  # checkpoints at 10 and 20 (checkpoint_every_records: 10)
    tcp = SiemDestination(name="tcp", kind="syslog_tcp", port=rsyslog.tcp_port, hostname="gw1")
    jsonl = SiemDestination(name="file", kind="jsonl", path=tmp_path / "siem" / "trail.jsonl")
    siem = forwarder(database, tmp_path, tcp, jsonl)
    try:
        reports = await asyncio.to_thread(siem.catch_up)
    finally:
        siem.close()
    assert [(r.destination, r.forwarded, r.heads, r.error) for r in reports] == [
        ("tcp", 25, 2, None),
        ("file", 25, 2, None),
    ]
    heads = await asyncio.to_thread(arrived, rsyslog, "tcp", 2, msgid=HEAD_MSGID)
    # Each head is a message of its own, after the records it covers, its fields in the structured data.
    assert [m.msgid for m in rsyslog.received()].index(HEAD_MSGID) == 25
    assert ['seq="10"' in heads[0].structured_data, 'kind="periodic"' in heads[1].structured_data] == [True, True]
    stored_heads = read_heads(trail.heads.path)
    assert read_siem_heads(rsyslog.output) == stored_heads
    assert read_siem_heads(tmp_path / "siem" / "trail.jsonl") == stored_heads

    # The attacker cuts the trail back to 17: records, chain head row and checkpoints in the database,
    # and the checkpoint file on the host too (before chattr +a, say).
    await trail.stop()
    sql(database, "DELETE FROM audit_records WHERE seq > 17")
    sql(database, "DELETE FROM audit_checkpoints WHERE seq > 17")
    last = scalar(database, "SELECT record_hash FROM audit_records WHERE seq = 17")
    sql(database, "UPDATE audit_chain_head SET seq = 17, record_hash = :h, checkpoint_seq = 10", h=last)
    lines = trail.heads.path.read_text().splitlines()
    trail.heads.path.write_text(lines[0] + "\n")
    keys = trail.keys.public_keys()
    fooled = verify_database(database, keys, heads=read_heads(trail.heads.path), every_records=10)
    assert fooled.ok, fooled.problem  # nothing on the host remembers the cut

    for copy in (rsyslog.output, tmp_path / "siem" / "trail.jsonl"):
        report = verify_database(database, keys, heads=read_siem_heads(copy), every_records=10)
        assert report.problem is not None
        assert report.problem.message.startswith(f"chain truncated after 17: checkpoint at 20 (SIEM {copy.name} line ")
        assert report.problem.message.endswith(
            "signs a head that no longer exists (records 18..20 are unaccounted for)"
        )

    config = tmp_path / "suite.yaml"
    settings = {"data_dir": str(tmp_path), "database": {"url": database.url}, "audit": {"checkpoint_every_records": 10}}
    config.write_text(yaml.safe_dump(settings), encoding="utf-8")
    runner = CliRunner()
    alone = runner.invoke(audit_app, ["verify", "--no-record", "--config", str(config)])
    assert alone.exit_code == 0, alone.output
    caught = runner.invoke(
        audit_app, ["verify", "--no-record", "--heads-from-siem", str(rsyslog.output), "--config", str(config)]
    )
    assert caught.exit_code == 1, caught.output
    assert "FAILED: chain truncated after 17: checkpoint at 20 (SIEM received.log line" in caught.stdout
