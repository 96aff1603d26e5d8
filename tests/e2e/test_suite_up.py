"""`suite up` as an operator runs it: inside a loopback-only network namespace, supervising a real engine."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from suite.config import EMBEDDED_CONFIG_PATH
from tests.support import DEMO_MODEL_DIR, DEV_KEY, free_port, wait_until

SUITE = str(Path(sys.executable).with_name("suite"))
PYTHON = sys.executable


def write_config(tmp_path: Path, engine_port: int) -> Path:
    """The shipped embedded-default config, pointed at a temporary data dir and tuned to start fast."""
    config = yaml.safe_load((EMBEDDED_CONFIG_PATH).read_text())
    model = config["serving"]["models"][0]
    model.update(
        source="directory",
        path=str(DEMO_MODEL_DIR),
        base_port=engine_port,
        engine_args=["--max-model-len", "1024", "--enforce-eager"],
        engine_env={"VLLM_CPU_KVCACHE_SPACE": "1"},
    )
    config["serving"].update(health_interval_s=1, restart_backoff_initial_s=1)
    config["data_dir"] = str(tmp_path / "var")
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _processes() -> Iterator[tuple[int, bytes, list[str]]]:
    """(pid, command line, stat fields after the name) of every live process."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            yield int(entry.name), cmdline, fields


def engine_leader(engine_port: int) -> int | None:
    """The vLLM server on this port; the supervisor starts it as the leader of its own session."""
    needle = f"--port\0{engine_port}\0".encode()
    for pid, cmdline, fields in _processes():
        if needle in cmdline and int(fields[3]) == pid:
            return pid
    return None


def session_members(session: int) -> list[int]:
    """Every live process of a session: the engine and all the workers it started."""
    return [pid for pid, _, fields in _processes() if int(fields[3]) == session]


def in_namespace(pid: int, *command: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run a command inside the network namespace of pid."""
    return subprocess.run(
        ["nsenter", "-t", str(pid), "-n", *command], capture_output=True, text=True, timeout=timeout, check=False
    )


def http_status(pid: int, url: str) -> int:
    probe = f"import httpx; print(httpx.get({url!r}, timeout=3).status_code)"
    result = in_namespace(pid, PYTHON, "-c", probe, timeout=30)
    return int(result.stdout.strip()) if result.returncode == 0 else 0


@pytest.fixture
def air_gapped_suite(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int, int]]:
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-n", "true"], check=False).returncode:
        pytest.fail("this test needs `unshare -n` (root, util-linux) to build the air gap")
    engine_port, gateway_port = free_port(), free_port()
    config = write_config(tmp_path, engine_port)
    log = (tmp_path / "suite-up.log").open("wb")
    process = subprocess.Popen(
        [
            "unshare",
            "-n",
            "bash",
            "-c",
            'ip link set lo up && exec "$@"',
            "bash",
            SUITE,
            "up",
            "--config",
            str(config),
            "--port",
            str(gateway_port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )
    yield process, gateway_port, engine_port
    if process.poll() is None:
        process.kill()
        process.wait()
    leader = engine_leader(engine_port)
    for pid in session_members(leader) if leader else []:
        os.kill(pid, signal.SIGKILL)
    log.close()


def test_suite_up_in_air_gap_answers_restarts_crashed_engine_and_stops_cleanly(
    air_gapped_suite: tuple[subprocess.Popen[bytes], int, int], tmp_path: Path
) -> None:
    process, gateway_port, engine_port = air_gapped_suite
    readyz = f"http://127.0.0.1:{gateway_port}/readyz"

    # The namespace has nothing but loopback: no route off the machine exists.
    links = in_namespace(process.pid, "ip", "-o", "link").stdout.splitlines()
    assert [line.split(":")[1].strip() for line in links] == ["lo"]

    wait_until(lambda: http_status(process.pid, readyz) == 200, timeout=600, interval=2, what="suite ready")
    chat = [SUITE, "chat", "What is the capital of France?", "--url", f"http://127.0.0.1:{gateway_port}/v1"]
    answer = in_namespace(process.pid, *chat)
    assert answer.returncode == 0, answer.stderr
    assert "Paris" in answer.stdout

    # A crashed engine is noticed and restarted by the supervisor.
    engine = engine_leader(engine_port)
    assert engine is not None
    os.kill(engine, signal.SIGKILL)
    wait_until(lambda: http_status(process.pid, readyz) == 503, timeout=30, interval=0.5, what="crash noticed")
    wait_until(lambda: http_status(process.pid, readyz) == 200, timeout=600, interval=2, what="engine restarted")
    restarted = engine_leader(engine_port)
    assert restarted not in (None, engine)
    again = in_namespace(process.pid, *chat)
    assert "Paris" in again.stdout

    # Ctrl-C stops the gateway and every engine process.
    assert len(session_members(restarted)) >= 2  # the server and its engine core
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == 0
    wait_until(lambda: not session_members(restarted), timeout=20, what="engine processes gone")

    # Structured logs (JSON off a terminal) with the requests, but no prompt text and no key.
    log = (tmp_path / "suite-up.log").read_text()
    assert '"event": "request"' in log
    assert "capital of France" not in log
    assert DEV_KEY not in log


def test_sigterm_during_engine_start_leaves_no_orphans(tmp_path: Path) -> None:
    engine_port, gateway_port = free_port(), free_port()
    config = write_config(tmp_path, engine_port)
    log = tmp_path / "suite-up.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [SUITE, "up", "--config", str(config), "--port", str(gateway_port)],
            stdout=output,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
    try:
        wait_until(lambda: engine_leader(engine_port) is not None, timeout=60, what="engine process started")
        leader = engine_leader(engine_port)
        assert leader is not None
        # Let it get as far as starting its workers, then stop the suite.
        wait_until(lambda: len(session_members(leader)) >= 2, timeout=120, what="engine workers started")
        process.send_signal(signal.SIGTERM)
        # uvicorn re-raises the signal once shut down, the conventional exit of a terminated service.
        assert process.wait(timeout=60) in (0, -signal.SIGTERM)
        assert "engines stopped" in log.read_text()
        wait_until(lambda: not session_members(leader), timeout=20, what="engine processes gone")
    finally:
        if process.poll() is None:
            process.kill()
