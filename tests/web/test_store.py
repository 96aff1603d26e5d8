"""The chat store on SQLite and PostgreSQL: owner-only access, search, replace, delete-all, retention."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from suite.db import Database
from suite.web import ConversationNotFound, ConversationStore
from suite.web.protocol import MessageIn
from suite.web.tables import ConversationRow


def test_a_conversation_is_its_owners_only(database: Database) -> None:
    store = ConversationStore(database)

    async def scenario() -> None:
        bobs = await store.create("bob", title="Quarterly numbers", model="m")
        await store.append("bob", bobs.id, [MessageIn(role="user", content="hello")], replace_from=None)
        assert [c.id for c in await store.find("bob")] == [bobs.id]
        assert await store.find("alice") == []
        for attempt in (
            store.get("alice", bobs.id),
            store.rename("alice", bobs.id, "mine now"),
            store.delete("alice", bobs.id),
            store.append("alice", bobs.id, [MessageIn(role="user", content="x")], replace_from=None),
        ):
            with pytest.raises(ConversationNotFound):
                await attempt
        assert (await store.get("bob", bobs.id)).title == "Quarterly numbers"

    asyncio.run(scenario())


def test_search_replace_delete_all_and_retention(database: Database) -> None:
    store = ConversationStore(database)

    async def scenario() -> None:
        first = await store.create("bob", title="Travel policy", model=None)
        second = await store.create("bob", title="Other", model=None)
        turns = [MessageIn(role="user", content="What about Zanzibar?"), MessageIn(role="assistant", content="No.")]
        await store.append("bob", second.id, turns, replace_from=None)
        assert [c.id for c in await store.find("bob", search="zanzibar")] == [second.id]
        assert [c.id for c in await store.find("bob", search="travel")] == [first.id]
        # Regenerate: the answer at position 1 is replaced, not added.
        await store.append("bob", second.id, [MessageIn(role="assistant", content="Yes.")], replace_from=1)
        assert [m.content for m in (await store.get("bob", second.id)).messages] == ["What about Zanzibar?", "Yes."]
        # Retention: only the conversation untouched for longer than the period goes.
        with database.sessions.begin() as session:
            row = session.get(ConversationRow, first.id)
            assert row is not None
            row.updated_at = datetime.now(UTC) - timedelta(days=31)
        assert await store.purge_older_than(30) == 1
        assert [c.id for c in await store.find("bob")] == [second.id]
        await store.create("alice", title="Keep", model=None)
        assert await store.delete_all("bob") == 1
        assert await store.find("bob") == []
        assert len(await store.find("alice")) == 1

    asyncio.run(scenario())
