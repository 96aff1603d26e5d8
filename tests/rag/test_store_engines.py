"""The store engines: one schema on Edge and on qdrant-client, the Edge store lock, the filter translation."""

from __future__ import annotations

from pathlib import Path

import pytest
from qdrant_client import models

from suite.config import Settings
from suite.errors import VectorStoreUnavailable
from suite.rag.edge import EdgeBackend, edge_filter
from suite.rag.schema import KEYWORD_FIELDS, CollectionSchema
from suite.rag.server import ServerBackend, collection_request, index_requests
from suite.rag.store import KnowledgeStore, Point
from suite.rag.vectors import TermVector


def test_both_engines_build_the_same_collection(tmp_path: Path) -> None:
    # No Qdrant server binary exists on this machine: qdrant-client's local mode takes the
    # server requests (the same create_collection / create_payload_index calls a server gets).
    schema = CollectionSchema(vector_size=8)
    edge = EdgeBackend.open(tmp_path / "edge")
    local = ServerBackend.open_local(tmp_path / "local")
    try:
        edge.create("kb", schema)
        local.create("kb", schema)
        # Local mode accepts payload indexes but keeps none (it has no use for them): compare the requests.
        requested = {field: str(kind.value) for field, kind in index_requests(schema)}
        assert edge.indexed_fields("kb") == requested == schema.indexed_fields
        assert set(KEYWORD_FIELDS) <= set(schema.indexed_fields)
        assert edge.vector_size("kb") == local.vector_size("kb") == 8
    finally:
        edge.close()
        local.close()
    request = collection_request(schema)
    assert request["vectors_config"]["dense"].distance == models.Distance.COSINE
    assert request["sparse_vectors_config"]["sparse"].modifier == models.Modifier.IDF
    assert dict(index_requests(schema))["acl_groups"] == models.PayloadSchemaType.KEYWORD


def test_a_second_process_cannot_open_the_edge_store(tmp_path: Path) -> None:
    held = EdgeBackend.open(tmp_path)
    try:
        with pytest.raises(VectorStoreUnavailable, match=r"held by process \d+"):
            EdgeBackend.open(tmp_path)
    finally:
        held.close()
    EdgeBackend.open(tmp_path).close()  # released by close


def test_an_unknown_filter_condition_is_refused_not_dropped() -> None:
    with pytest.raises(TypeError):
        edge_filter(models.Filter(must=[models.FieldCondition(key="x", range=models.Range(gte=1))]))
    with pytest.raises(TypeError):
        edge_filter(models.Filter(must=[models.IsEmptyCondition(is_empty=models.PayloadField(key="acl_users"))]))


@pytest.mark.parametrize("engine", ["edge", "local"])
async def test_the_acl_filter_is_inside_both_prefetches(tmp_path: Path, engine: str) -> None:
    # Ten chunks closer to the query that the reader may not see, one far away that it may:
    # hybrid retrieval must return only the readable one on either engine.
    store = KnowledgeStore.open(Settings(data_dir=tmp_path, rag={"engine": engine}))
    try:
        await store.create("kb", vector_size=4)
        secret = [
            Point(f"00000000-0000-0000-0000-{i:012d}", [1.0, 0.0, 0.0, 0.01 * i], TermVector([7], [1.0]), _acl("hr"))
            for i in range(10)
        ]
        readable = Point(
            "00000000-0000-0000-0000-000000000099", [0.0, 1.0, 0.0, 0.0], TermVector([8], [1.0]), _acl("staff")
        )
        await store.add_points("kb", [*secret, readable])
        where = models.Filter(must=[models.FieldCondition(key="acl_groups", match=models.MatchAny(any=["staff"]))])
        for hybrid in (True, False):
            chunks, _ = await store.search(
                "kb",
                dense=[1.0, 0.0, 0.0, 0.0],
                sparse=TermVector([7], [1.0]),
                where=where,
                limit=5,
                hybrid=hybrid,
                min_score=-1,
            )
            assert [c.chunk_id for c in chunks] == [readable.chunk_id]
        assert (await store.stats("kb")).chunks == 11
    finally:
        store.close()


@pytest.mark.parametrize("engine", ["edge", "local"])
async def test_one_chunk_by_id_only_for_a_reader_its_acl_admits(tmp_path: Path, engine: str) -> None:
    # The citation panel opens a chunk by its id, always under the reader's ACL filter.
    store = KnowledgeStore.open(Settings(data_dir=tmp_path, rag={"engine": engine}))
    try:
        await store.create("kb", vector_size=4)
        chunk_id = "00000000-0000-0000-0000-000000000007"
        await store.add_points("kb", [Point(chunk_id, [1.0, 0.0, 0.0, 0.0], TermVector([7], [1.0]), _acl("hr"))])

        def reader(group: str) -> models.Filter:
            return models.Filter(must=[models.FieldCondition(key="acl_groups", match=models.MatchAny(any=[group]))])

        found = await store.chunk("kb", chunk_id, where=reader("hr"))
        assert found is not None
        assert found.chunk_id == chunk_id
        assert await store.chunk("kb", chunk_id, where=reader("staff")) is None
        assert await store.chunk("kb", "00000000-0000-0000-0000-000000000008", where=reader("hr")) is None
    finally:
        store.close()


def _acl(group: str) -> dict[str, object]:
    return {
        "acl_groups": [group],
        "acl_users": [],
        "document_id": group,
        "source_uri": f"file:///{group}",
        "content_hash": group,
        "chunk_index": 0,
        "classification": "internal",
        "text": group,
        "title": group,
    }
