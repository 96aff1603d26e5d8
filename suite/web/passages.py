"""``/web/api/collections`` and ``/web/api/passages``: the collection picker and the citation side panel.

A citation names a collection and a chunk; opening it re-checks, at that moment, the collection's
policy and the document's ACL for the signed-in user. A chunk the user may not read answers exactly
like one that does not exist (404), so neither its title nor its text nor its existence leaks.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from suite.errors import PermissionDenied
from suite.web.deps import WebDep, WebPrincipalDep
from suite.web.errors import ConversationNotFound
from suite.web.protocol import CollectionChoices, Passage

router = APIRouter(prefix="/web/api", tags=["web"], include_in_schema=False)
_NO_PASSAGE = "No such passage, or you may not read it."


@router.get("/collections")
async def collections(web: WebDep, principal: WebPrincipalDep) -> CollectionChoices:
    """The collections the user may search (empty without RAG)."""
    rag = web.gateway.rag
    return CollectionChoices(data=await rag.searchable(principal) if rag else [])


@router.get("/passages")
async def passage(
    web: WebDep,
    principal: WebPrincipalDep,
    collection: Annotated[str, Query(max_length=200)],
    chunk_id: Annotated[str, Query(max_length=200)],
) -> Passage:
    """One cited passage: title, location (page or heading path) and text, if the user may read it now."""
    rag = web.gateway.rag
    if rag is None:
        raise ConversationNotFound(_NO_PASSAGE)
    try:
        chunk = await rag.passage(principal, collection, chunk_id)
    except PermissionDenied:
        raise ConversationNotFound(_NO_PASSAGE) from None
    if chunk is None:
        raise ConversationNotFound(_NO_PASSAGE)
    return Passage(
        collection=chunk.collection,
        document_id=chunk.document_id,
        title=chunk.title,
        source_uri=chunk.source_uri,
        page=chunk.page,
        section=chunk.section,
        text=chunk.text,
    )
