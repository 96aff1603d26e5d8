"""Helpers for the tests: free ports, servers in threads, waiting for readiness."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import uvicorn
from starlette.types import ASGIApp

from suite.config import DEV_API_KEY_SHA256, Settings

_T = TypeVar("_T")

DEV_KEY = "sk-suite-dev-embedded-default"
REPO = Path(__file__).resolve().parent.parent
DEMO_MODEL_DIR = REPO / "var" / "models" / "smollm2-135m-instruct"
MODEL = "smollm2-135m-instruct"
SYSTEM = {"role": "system", "content": "You are a helpful assistant."}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(check: Callable[[], bool], *, timeout: float, interval: float = 0.2, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise TimeoutError(f"{what} not reached within {timeout}s")


class BackgroundLoop:
    """An asyncio loop in a thread, for real parts whose API is async (the engine supervisor)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="test-loop")
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, _T], timeout: float | None = None) -> _T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


class ServerThread:
    """A real uvicorn server for an ASGI app, on a free loopback port, in a thread."""

    def __init__(self, app: ASGIApp, *, port: int | None = None) -> None:
        self.port = port or free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_config=None, access_log=False, timeout_graceful_shutdown=1
        )
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self.server.run, daemon=True, name=f"uvicorn:{self.port}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServerThread:
        self._thread.start()
        wait_until(lambda: self.server.started, timeout=60, what=f"server on {self.port}")
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=30)


@contextlib.contextmanager
def running(app: ASGIApp) -> Iterator[ServerThread]:
    server = ServerThread(app).start()
    try:
        yield server
    finally:
        server.stop()


ALLOW_EMPLOYEES = {
    "name": "employees-use-models",
    "roles": ["employee"],
    "routes": ["chat", "completions", "embeddings"],
    "models": ["*"],
}


ALLOW_AUDIT = {"name": "compliance-reads-audit", "roles": ["compliance_officer"], "routes": ["audit"]}


def gateway_settings(
    tmp_path: Path,
    *,
    backends: list[str],
    embeddings: bool = False,
    identity: dict[str, Any] | None = None,
    port: int = 8080,
    **serving: Any,
) -> Settings:
    """Settings for a gateway in front of already-running backends (no engines of its own)."""
    return Settings(
        data_dir=tmp_path,
        logging={"level": "warning"},
        gateway={"port": port},
        auth={"static_api_keys": [{"name": "test", "sha256": DEV_API_KEY_SHA256}]},
        identity={"policy": [ALLOW_EMPLOYEES, ALLOW_AUDIT], "quotas": {"enabled": False}, **(identity or {})},
        serving={
            "models": [{"name": MODEL, "aliases": ["default"], "engines": 0, "backends": backends}],
            **serving,
        },
        embeddings={"models": [{"name": "all-minilm-l6-v2", "aliases": ["default-embedding"]}] if embeddings else []},
    )


def ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def save_tiny_bert_classifier(path: Path, tokenizer: Any, *, labels: list[str] | None = None, seed: int = 0) -> Path:
    """A one-layer, randomly initialised BERT sequence classifier over ``tokenizer``, saved as an imported model.

    ``labels``: the classifier's labels (id2label); None: one output, a relevance score (a
    cross-encoder). No weights are obtainable here, so tests build models of the right shape.
    """
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(seed)
    names = labels or ["score"]
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=512,
        pad_token_id=tokenizer.pad_token_id,
        id2label=dict(enumerate(names)),
        label2id={name: i for i, name in enumerate(names)},
    )
    BertForSequenceClassification(config).save_pretrained(path)  # type: ignore[no-untyped-call]
    tokenizer.save_pretrained(path)
    return path


SAMPLE_BUDGET_URI = (
    Path(__file__).resolve().parent.parent / "suite/rag/data/samples/finance/budget-plan-2027.md"
).as_uri()


async def ingest_samples(settings: Settings) -> None:
    """The shipped samples into "handbook" (all of them) and "finance" (the budget plan only).

    Run before the gateway starts: the embedded store has one holder. Used by the RAG access
    suite and the browser tests, which both search these two collections.
    """
    from suite.auth import Policy
    from suite.embeddings import EmbeddingService
    from suite.rag import FolderConnector, RagService
    from suite.rag.evaluation import SAMPLES_DIR

    embeddings = EmbeddingService(settings)
    await embeddings.load()
    rag = RagService(settings, embeddings, Policy([]))
    await rag.open()
    try:
        connector = FolderConnector(SAMPLES_DIR)
        documents = list(connector.documents())
        budget = [d for d in documents if d.uri == SAMPLE_BUDGET_URI]
        for name, chosen in (("handbook", documents), ("finance", budget)):
            await rag.create_collection(name)
            await rag.ingest(name, chosen, scope=connector.scope)
    finally:
        rag.close()
        embeddings.close()
