"""`/audit/witness/{origin}/heads`: this suite as the witness of another trail's signed heads.

POST takes signed heads (what the forwarder's destination kind ``witness`` sends), checks them
against the origin's public keys and countersigns them (``suite.audit.Witness``); GET gives back
every countersigned head of the origin as JSON lines, for ``suite audit verify --witness``. Neither
needs credentials: a head carries no content, and only the origin's key can make one that is
accepted. Mounted by the gateway when ``audit.witness.origins`` is set; ``create_witness_app`` is
the same routes alone, for a witness host that runs nothing else.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field

from suite import __version__
from suite.audit import KeyRing, Witness, key_dir_of
from suite.config import Settings
from suite.gateway.errors import install_plain_error_handlers

__all__ = ["create_witness_app", "witness_router"]


class SignedHead(BaseModel):
    """A trail's signed head (a checkpoint), as the checkpoint file carries it."""

    seq: int = Field(ge=0)
    time: str = Field(max_length=40)
    head_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    key_id: str = Field(pattern=r"^[0-9a-f]{16}$")
    signature: str = Field(pattern=r"^[0-9a-f]{128}$")
    kind: str = Field(max_length=16)


class WitnessRequest(BaseModel):
    """Heads to witness, in signing order."""

    heads: list[SignedHead] = Field(max_length=10_000)


class WitnessedHead(SignedHead):
    """A head as the witness keeps it: with the origin, when it was seen and the witness's countersignature."""

    origin: str
    witnessed_at: str
    witness_key_id: str
    witness_signature: str


class WitnessAnswer(BaseModel):
    """The countersigned heads, one per head sent."""

    witnessed: list[WitnessedHead]


def witness_router(witness: Witness) -> APIRouter:
    """The witness routes over one Witness."""
    router = APIRouter(prefix="/audit/witness", tags=["audit"])

    @router.post("/{origin}/heads")
    def witness_heads(origin: str, body: WitnessRequest) -> WitnessAnswer:
        """Check, countersign and keep the heads (400 bad signature, 404 unknown origin, 409 a rewritten trail)."""
        heads: list[dict[str, Any]] = [head.model_dump() for head in body.heads]
        return WitnessAnswer(witnessed=[WitnessedHead(**line) for line in witness.witness(origin, heads)])

    @router.get("/{origin}/heads", response_class=PlainTextResponse)
    def witnessed_heads(origin: str) -> PlainTextResponse:
        """Every countersigned head of the origin, one JSON object a line."""
        return PlainTextResponse(witness.heads(origin), media_type="application/jsonl")

    return router


def create_witness_app(settings: Settings) -> FastAPI:
    """The witness routes alone: a witness host countersigning with its own audit key (audit.key_dir)."""
    keys = KeyRing(key_dir_of(settings.audit, settings.data_dir))
    keys.current()  # the first key is made at start, not inside a request
    app = FastAPI(title="suite witness", version=__version__)
    install_plain_error_handlers(app)
    app.include_router(witness_router(Witness(settings.audit.witness, data_dir=settings.data_dir, keys=keys)))
    return app
