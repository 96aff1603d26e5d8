"""A folder of files: every readable file below it, its ACL from a sidecar, a mapping file or the defaults."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from suite.rag.connectors.base import AclEntry, AclMapping, load_mapping, read_acl_file
from suite.rag.documents import SourceDocument
from suite.rag.loaders import supported

# A sidecar next to a file (report.pdf.acl.yaml) wins over the folder's mapping file.
SIDECAR_SUFFIX = ".acl.yaml"
MAPPING_FILE = ".suite-acl.yaml"


class FolderConnector:
    """Files under a folder (or one file), as file:// URIs. Hidden files and ACL files are not documents.

    ACL, first found wins: the file's sidecar ``NAME.acl.yaml``; the first matching rule of the
    mapping file (``mapping``, else ``ROOT/.suite-acl.yaml``); ``default``. None of them: no ACL,
    so no one may read the document until an admin grants it.
    """

    def __init__(self, root: Path, *, mapping: Path | None = None, default: AclEntry | None = None) -> None:
        self.root = root.resolve()
        folder = self.root if self.root.is_dir() else self.root.parent
        if mapping is None and (folder / MAPPING_FILE).is_file():
            mapping = folder / MAPPING_FILE
        self._mapping: AclMapping = load_mapping(mapping)
        self._default = default

    @property
    def scope(self) -> str:
        return self.root.as_uri() + ("/" if self.root.is_dir() else "")

    def documents(self) -> Iterator[SourceDocument]:
        files = sorted(p for p in self.root.rglob("*") if p.is_file()) if self.root.is_dir() else [self.root]
        base = self.root if self.root.is_dir() else self.root.parent
        for path in files:
            relative = path.relative_to(base).as_posix()
            if any(part.startswith(".") for part in path.relative_to(base).parts):
                continue
            if path.name.endswith(SIDECAR_SUFFIX) or not supported(path.name):
                continue
            if not path.resolve().is_relative_to(base):
                continue  # a link out of the source: only what lies in the folder is ingested
            entry = self._entry(path, relative)
            yield SourceDocument(
                uri=path.as_uri(),
                name=path.name,
                read=path.read_bytes,
                acl=entry.acl if entry else AclEntry().acl,
                classification=entry.classification if entry else "internal",
                metadata={"path": relative},
            )

    def _entry(self, path: Path, relative: str) -> AclEntry | None:
        sidecar = path.with_name(path.name + SIDECAR_SUFFIX)
        if sidecar.is_file():
            entry = read_acl_file(sidecar, AclEntry)
            assert isinstance(entry, AclEntry)
            return entry
        return self._mapping.entry_for(relative) or self._default
