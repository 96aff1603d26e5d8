"""The chat store: each user's conversations, readable and changeable by their owner only.

Every method takes the owner's subject and filters by it, so a conversation id from another
user reads as "not found" (no hint that it exists). Nobody else has a way in: no role (admin,
compliance officer) reads conversations through the web routes.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from suite.db import Database
from suite.web.errors import ConversationNotFound
from suite.web.protocol import ConversationDetail, ConversationSummary, MessageIn, MessageOut
from suite.web.tables import ConversationRow, FeedbackRow, MessageRow

_NOT_FOUND = "No such conversation."
TITLE_LENGTH = 80


def _now() -> datetime:
    return datetime.now(UTC)


def _summary(row: ConversationRow) -> ConversationSummary:
    return ConversationSummary(id=row.id, title=row.title, model=row.model, updated_at=row.updated_at)


def _message(row: MessageRow) -> MessageOut:
    return MessageOut(id=row.id, position=row.position, role=row.role, content=row.content, meta=row.meta)


def _owned(session: Session, subject: str, conversation_id: str) -> ConversationRow:
    row = session.get(ConversationRow, conversation_id)
    if row is None or row.subject != subject:
        raise ConversationNotFound(_NOT_FOUND)
    return row


class ConversationStore:
    """Conversations per user in the suite's database."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def create(self, subject: str, *, title: str, model: str | None) -> ConversationSummary:
        """A new, empty conversation of ``subject``."""

        def insert(session: Session) -> ConversationSummary:
            now = _now()
            row = ConversationRow(
                id=secrets.token_hex(16),
                subject=subject,
                title=title.strip()[:TITLE_LENGTH] or "New chat",
                model=model,
                created_at=now,
                updated_at=now,
            )
            session.add(row)
            session.flush()
            return _summary(row)

        return await self.database.run(insert)

    async def find(self, subject: str, *, search: str | None = None, limit: int = 200) -> list[ConversationSummary]:
        """The user's conversations, newest first; ``search`` matches the title or any message text."""

        def find(session: Session) -> list[ConversationSummary]:
            query = select(ConversationRow).where(ConversationRow.subject == subject)
            if search:
                pattern = f"%{search.lower()}%"
                in_text = select(MessageRow.conversation_id).where(func.lower(MessageRow.content).like(pattern))
                query = query.where(
                    or_(func.lower(ConversationRow.title).like(pattern), ConversationRow.id.in_(in_text))
                )
            rows = session.scalars(query.order_by(ConversationRow.updated_at.desc()).limit(limit))
            return [_summary(row) for row in rows]

        return await self.database.run(find)

    async def get(self, subject: str, conversation_id: str) -> ConversationDetail:
        """One conversation with its messages in order; NotFound for anyone but its owner."""

        def read(session: Session) -> ConversationDetail:
            row = _owned(session, subject, conversation_id)
            messages = session.scalars(
                select(MessageRow).where(MessageRow.conversation_id == row.id).order_by(MessageRow.position)
            )
            return ConversationDetail(**_summary(row).model_dump(), messages=[_message(m) for m in messages])

        return await self.database.run(read)

    async def rename(self, subject: str, conversation_id: str, title: str) -> ConversationSummary:
        """Give a conversation a new title."""

        def change(session: Session) -> ConversationSummary:
            row = _owned(session, subject, conversation_id)
            row.title = title.strip()[:TITLE_LENGTH] or row.title
            row.updated_at = _now()
            return _summary(row)

        return await self.database.run(change)

    async def delete(self, subject: str, conversation_id: str) -> None:
        """Delete a conversation, its messages and their feedback."""

        def remove(session: Session) -> None:
            _owned(session, subject, conversation_id)
            _delete_conversations(session, select(ConversationRow.id).where(ConversationRow.id == conversation_id))

        await self.database.run(remove)

    async def delete_all(self, subject: str) -> int:
        """Delete every conversation of ``subject``; how many there were."""

        def remove(session: Session) -> int:
            return _delete_conversations(session, select(ConversationRow.id).where(ConversationRow.subject == subject))

        return await self.database.run(remove)

    async def append(
        self, subject: str, conversation_id: str, messages: list[MessageIn], *, replace_from: int | None
    ) -> list[MessageOut]:
        """Add turns at the end; with ``replace_from`` the turns from that position on are replaced first
        (regenerate, edit and resend)."""

        def add(session: Session) -> list[MessageOut]:
            row = _owned(session, subject, conversation_id)
            if replace_from is not None:
                stale = select(MessageRow.id).where(
                    MessageRow.conversation_id == row.id, MessageRow.position >= replace_from
                )
                session.execute(delete(FeedbackRow).where(FeedbackRow.message_id.in_(stale)))
                session.execute(
                    delete(MessageRow).where(MessageRow.conversation_id == row.id, MessageRow.position >= replace_from)
                )
            last = session.scalar(select(func.max(MessageRow.position)).where(MessageRow.conversation_id == row.id))
            position = -1 if last is None else last
            now = _now()
            added = []
            for message in messages:
                position += 1
                added.append(
                    MessageRow(
                        conversation_id=row.id,
                        position=position,
                        role=message.role,
                        content=message.content,
                        meta=message.meta,
                        created_at=now,
                    )
                )
            session.add_all(added)
            row.updated_at = now
            if messages and messages[0].model:
                row.model = messages[0].model
            session.flush()
            return [_message(m) for m in added]

        return await self.database.run(add)

    async def add_feedback(self, subject: str, message_id: int, *, rating: int, comment: str | None) -> dict[str, Any]:
        """Store feedback on one of the user's own answers; what the audit record needs."""

        def add(session: Session) -> dict[str, Any]:
            message = session.get(MessageRow, message_id)
            if message is None or message.role != "assistant":
                raise ConversationNotFound("No such answer.")
            conversation = _owned(session, subject, message.conversation_id)
            session.add(
                FeedbackRow(message_id=message_id, subject=subject, rating=rating, comment=comment, created_at=_now())
            )
            return {
                "model": message.meta.get("model") or conversation.model,
                "request_id": message.meta.get("request_id"),
            }

        return await self.database.run(add)

    async def purge_older_than(self, days: int) -> int:
        """Delete every conversation not updated for ``days`` days (retention); how many."""
        cutoff = _now() - timedelta(days=days)

        def remove(session: Session) -> int:
            return _delete_conversations(session, select(ConversationRow.id).where(ConversationRow.updated_at < cutoff))

        return await self.database.run(remove)


def _delete_conversations(session: Session, ids: Any) -> int:
    # Explicit child deletes: SQLite enforces ON DELETE CASCADE only with foreign_keys on (it is), but
    # PostgreSQL and SQLite alike then do the same fixed three statements.
    chosen = list(session.scalars(ids))
    if not chosen:
        return 0
    messages = select(MessageRow.id).where(MessageRow.conversation_id.in_(chosen))
    session.execute(delete(FeedbackRow).where(FeedbackRow.message_id.in_(messages)))
    session.execute(delete(MessageRow).where(MessageRow.conversation_id.in_(chosen)))
    session.execute(delete(ConversationRow).where(ConversationRow.id.in_(chosen)))
    return len(chosen)
