"""The connector interface, and ACL rules (sidecar files, path-glob mapping files) shared by connectors.

A connector yields ``SourceDocument``s: a stable URI, a name whose extension picks the loader,
a title, a way to read the bytes, the ACL and a classification. ``scope`` is the URI prefix of
everything it yields: ingest removes documents under that prefix that the connector no longer
yields (deleted at the source). docs/rag.md says what a SharePoint or DMS connector implements.
"""

from __future__ import annotations

from collections.abc import Iterator
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Protocol

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from suite.errors import InvalidRequest
from suite.rag.documents import Acl, Classification, SourceDocument


class Connector(Protocol):
    """A source of documents to ingest."""

    @property
    def scope(self) -> str:
        """The URI prefix of every document this source yields (deletions are detected under it)."""
        ...

    def documents(self) -> Iterator[SourceDocument]:
        """Every document of the source, each with its ACL; reading the bytes is deferred."""
        ...


class AclEntry(BaseModel):
    """Who may read, and how sensitive it is: the body of a sidecar file and of each mapping rule."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    groups: list[str] = Field(default_factory=list)
    users: list[str] = Field(default_factory=list)
    classification: Classification = "internal"

    @property
    def acl(self) -> Acl:
        return Acl(frozenset(self.groups), frozenset(self.users))


class AclRule(AclEntry):
    # Globs over paths relative to the source root ("*" also spans folders: "hr/*" covers hr/a/b.pdf).
    paths: list[str] = Field(min_length=1)


class AclMapping(BaseModel):
    """A mapping file: the first rule whose glob matches a path decides its ACL."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rules: list[AclRule] = Field(default_factory=list)

    def entry_for(self, relative_path: str) -> AclEntry | None:
        for rule in self.rules:
            if any(fnmatchcase(relative_path, pattern) for pattern in rule.paths):
                return rule
        return None


def read_acl_file(path: Path, model: type[AclEntry] | type[AclMapping]) -> AclEntry | AclMapping:
    """A sidecar or mapping file; InvalidRequest naming the file and the problem."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return model.model_validate(data)
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        raise InvalidRequest(f"{path}: not a valid ACL file: {exc}") from exc


def load_mapping(path: Path | None) -> AclMapping:
    """The mapping file at path (an empty mapping when there is none)."""
    if path is None:
        return AclMapping()
    mapping = read_acl_file(path, AclMapping)
    assert isinstance(mapping, AclMapping)
    return mapping
