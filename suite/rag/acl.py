"""Access control inside the query: the Qdrant filter that every retrieval carries.

A point is readable when one of its ``acl_groups`` is a group of the caller or its
``acl_users`` names the caller's subject. A point with neither list set matches nothing,
so a document ingested without an ACL is readable by no one. Roles do not open documents:
they decide (through RBAC) which collections a caller may search at all.
"""

from __future__ import annotations

from qdrant_client import models

from suite.auth import Principal

ACL_GROUPS = "acl_groups"
ACL_USERS = "acl_users"


def read_filter(principal: Principal, *, document_ids: list[str] | None = None) -> models.Filter:
    """The filter a principal's query always carries (optionally narrowed to some documents)."""
    readable: list[models.Condition] = [
        models.FieldCondition(key=ACL_USERS, match=models.MatchValue(value=principal.subject))
    ]
    if principal.groups:
        readable.append(models.FieldCondition(key=ACL_GROUPS, match=models.MatchAny(any=sorted(principal.groups))))
    must: list[models.Condition] = [models.Filter(should=readable)]
    if document_ids is not None:
        must.append(models.FieldCondition(key="document_id", match=models.MatchAny(any=document_ids)))
    return models.Filter(must=must)
