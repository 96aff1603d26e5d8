"""The forwarders' cursors: per destination, the last seq and the last signed head it has been sent."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from suite.db import Base


class SiemCursorRow(Base):
    """How far one SIEM destination has been forwarded; locked by the replica that forwards it."""

    __tablename__ = "audit_siem_cursors"

    destination: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    # The id (audit_checkpoints.id) of the last signed head sent; None: none yet (migration a0004).
    checkpoint_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
