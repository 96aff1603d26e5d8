"""Every API interaction leaves its audit record; compliance officers read and export the trail."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from datetime import timedelta
from pathlib import Path

import httpx
import openai
import sqlalchemy

from suite.audit import AuditFilters, AuditQuery, AuditRecord, key_dir_of, load_public_keys, verify_export
from suite.gateway import Services, create_app
from suite.gateway import services_of as app_services
from suite.serving import EngineProcess
from tests.support import DEV_KEY, SYSTEM, ServerThread, gateway_settings, wait_until

QUESTION = [SYSTEM, {"role": "user", "content": "What is the capital of France?"}]


def services_of(gateway: ServerThread) -> Services:
    return app_services(gateway.server.config.app)


def records(gateway: ServerThread, **filters: str) -> list[AuditRecord]:
    return AuditQuery(services_of(gateway).database).search(AuditFilters(**filters), limit=1000).records


def by_request(gateway: ServerThread, request_id: str) -> list[AuditRecord]:
    return sorted((r for r in records(gateway) if r.request_id == request_id), key=lambda r: r.seq)


def test_chat_is_recorded_with_policy_tokens_and_masked_content(client: openai.OpenAI, gateway: ServerThread) -> None:
    question = [SYSTEM, {"role": "user", "content": "Write to jane.roe@example.org: is Paris the capital of France?"}]
    raw = client.chat.completions.with_raw_response.create(model="default", messages=question, max_tokens=8)
    answer = raw.parse()
    (record,) = by_request(gateway, raw.headers["x-request-id"])
    assert record.action == "chat.completions"
    assert record.subject == "apikey:test"
    assert record.roles == ["employee"]
    assert record.auth_method == "static_api_key"
    assert record.model == "smollm2-135m-instruct"
    assert (record.backend or "").startswith("http://127.0.0.1:")
    assert (record.decision, record.decision_rule) == ("allow", "employees-use-models")
    assert answer.usage is not None
    assert record.prompt_tokens == answer.usage.prompt_tokens
    assert record.completion_tokens == answer.usage.completion_tokens
    assert record.content_policy == "masked"
    # "masked": the text with the guardrails' PII placeholders, never the values.
    assert "user: Write to <EMAIL_ADDRESS_1>: is Paris the capital of France?" in (record.prompt or "")
    assert "jane.roe" not in json.dumps(record.model_dump(mode="json"))


def test_stream_has_opening_and_closing_records(client: openai.OpenAI, gateway: ServerThread) -> None:
    with client.chat.completions.with_streaming_response.create(
        model="default", messages=QUESTION, max_tokens=8, stream=True, extra_body={"ignore_eos": True}
    ) as response:
        request_id = response.headers["x-request-id"]
        body = b"".join(response.iter_bytes())
    assert body.rstrip().endswith(b"data: [DONE]")
    opening, closing = by_request(gateway, request_id)
    assert (opening.action, opening.status) == ("chat.completions.open", "started")
    assert (closing.action, closing.status) == ("chat.completions", "ok")
    assert closing.completion_tokens == 8
    assert opening.answer is None
    assert closing.answer  # the streamed answer, masked
    assert not closing.answer.startswith("sha256:")


def test_embeddings_and_denials_are_recorded(client: openai.OpenAI, gateway: ServerThread) -> None:
    raw = client.embeddings.with_raw_response.create(model="default-embedding", input=["hello"])
    (embedding,) = by_request(gateway, raw.headers["x-request-id"])
    assert (embedding.action, embedding.model, embedding.prompt_tokens) == ("embeddings", "all-minilm-l6-v2", 3)
    refused = httpx.get(f"{gateway.url}/v1/models", headers={"authorization": "Bearer wrong"})
    (denial,) = by_request(gateway, refused.headers["x-request-id"])
    assert (denial.event_class, denial.status, denial.http_status) == ("auth", "denied", 401)
    assert denial.details["reason"] == "Invalid API key."
    assert denial.subject is None


def compliance_key(gateway: ServerThread) -> str:
    key, _ = services_of(gateway).api_keys.create(
        owner="carol", roles=["compliance_officer"], models=[], expires_in=timedelta(hours=1), created_by="test"
    )
    return key


def test_only_compliance_officers_read_the_trail(gateway: ServerThread) -> None:
    employee = httpx.get(f"{gateway.url}/v1/audit/events", headers={"authorization": f"Bearer {DEV_KEY}"})
    assert employee.status_code == 403
    (denial,) = by_request(gateway, employee.headers["x-request-id"])
    assert denial.decision_rule == "default-deny"
    officer = {"authorization": f"Bearer {compliance_key(gateway)}"}
    page = httpx.get(
        f"{gateway.url}/v1/audit/events", params={"event_class": "model_request", "limit": 2}, headers=officer
    )
    assert page.status_code == 200, page.text
    body = page.json()
    assert len(body["data"]) == 2
    assert all(r["event_class"] == "model_request" for r in body["data"])
    nxt = httpx.get(
        f"{gateway.url}/v1/audit/events",
        params={"event_class": "model_request", "cursor": body["next_cursor"]},
        headers=officer,
    ).json()
    assert {r["record_id"] for r in nxt["data"]}.isdisjoint({r["record_id"] for r in body["data"]})
    one = httpx.get(f"{gateway.url}/v1/audit/events/{body['data'][0]['record_id']}", headers=officer)
    assert one.json()["record_hash"] == body["data"][0]["record_hash"]
    missing = httpx.get(f"{gateway.url}/v1/audit/events/nope", headers=officer)
    assert missing.status_code == 404
    # Reading the trail is itself on the trail.
    assert records(gateway, event_class="audit_access", action="audit.query")


def test_export_verifies_on_its_own(gateway: ServerThread, tmp_path: Path) -> None:
    officer = {"authorization": f"Bearer {compliance_key(gateway)}"}
    export = httpx.get(f"{gateway.url}/v1/audit/export", params={"format": "jsonl"}, headers=officer, timeout=60)
    assert export.status_code == 200
    path = tmp_path / "export.jsonl"
    path.write_bytes(export.content)
    settings = services_of(gateway).settings
    keys = load_public_keys(key_dir_of(settings.audit, settings.data_dir).glob("*.pub"))
    report = verify_export(path, keys)
    assert report.ok, report
    assert report.records_checked > 3


def test_no_answer_without_its_record(vllm_engine: EngineProcess, tmp_path: Path) -> None:
    """Fail closed: while the audit store cannot write, no model answer is delivered."""
    settings = gateway_settings(tmp_path, backends=[vllm_engine.backend.url])
    gateway = ServerThread(create_app(settings, manage_engines=False)).start()
    engine = sqlalchemy.create_engine(settings.database_url)
    headers = {"authorization": f"Bearer {DEV_KEY}"}
    body = {"model": "default", "messages": QUESTION, "max_tokens": 4}
    try:
        assert (
            httpx.post(f"{gateway.url}/v1/chat/completions", json=body, headers=headers, timeout=60).status_code == 200
        )
        with engine.begin() as connection:
            connection.execute(sqlalchemy.text("ALTER TABLE audit_records RENAME TO audit_records_away"))
        for stream in (False, True):
            refused = httpx.post(
                f"{gateway.url}/v1/chat/completions", json={**body, "stream": stream}, headers=headers, timeout=60
            )
            assert refused.status_code == 503
            assert refused.json()["error"]["code"] == "audit_unavailable"
            assert "Paris" not in refused.text
        with engine.begin() as connection:
            connection.execute(sqlalchemy.text("ALTER TABLE audit_records_away RENAME TO audit_records"))
        wait_until(
            lambda: (
                httpx.post(f"{gateway.url}/v1/chat/completions", json=body, headers=headers, timeout=60).status_code
                == 200
            ),
            timeout=20,
            what="recovered",
        )
    finally:
        gateway.stop()
        engine.dispose()


def test_a_stream_sends_no_byte_before_its_opening_record_is_on_disk(
    vllm_engine: EngineProcess, tmp_path: Path
) -> None:
    """The opening record is written beside the model's first token, and the answer waits for it."""
    settings = gateway_settings(tmp_path, backends=[vllm_engine.backend.url])
    gateway = ServerThread(create_app(settings, manage_engines=False)).start()
    body = {"model": "default", "messages": QUESTION, "max_tokens": 4, "stream": True}
    headers = {"authorization": f"Bearer {DEV_KEY}"}
    # Another writer holds the database: the audit writer waits for it (busy timeout), as on a slow disk.
    blocker = sqlite3.connect(settings.database_url.removeprefix("sqlite:///"), check_same_thread=False)
    blocker.isolation_level = None
    held_s = 1.5
    try:
        blocker.execute("BEGIN EXCLUSIVE")
        release = threading.Timer(held_s, lambda: blocker.execute("COMMIT"))
        started = time.monotonic()
        release.start()
        with httpx.stream("POST", f"{gateway.url}/v1/chat/completions", json=body, headers=headers, timeout=60) as r:
            first_byte_s = time.monotonic() - started
            streamed = r.read()
        release.join()
        assert r.status_code == 200
        assert streamed.rstrip().endswith(b"data: [DONE]")
        assert first_byte_s >= held_s - 0.05
        opening, closing = by_request(gateway, r.headers["x-request-id"])
        assert (opening.action, closing.action) == ("chat.completions.open", "chat.completions")
        assert opening.seq < closing.seq
    finally:
        gateway.stop()
        blocker.close()
