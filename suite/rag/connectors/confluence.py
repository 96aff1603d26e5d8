"""A Confluence space export (Space tools > Export space > HTML): a zip of page HTML files and attachments.

The export holds ``SPACEKEY/index.html`` (the page tree), one ``Title_12345.html`` per page
(content in ``div#main-content``, breadcrumbs in ``ol#breadcrumbs``) and
``attachments/PAGEID/FILEID.ext``. Confluence permissions are not part of an export: ACLs
come from a mapping file (globs over the paths inside the zip) or the defaults.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from bs4 import BeautifulSoup

from suite.errors import InvalidRequest
from suite.rag.connectors.base import AclEntry, AclMapping, load_mapping
from suite.rag.documents import SourceDocument
from suite.rag.loaders import supported

_PAGE_ID = re.compile(r"_(\d+)\.html$")


class ConfluenceExportConnector:
    """Pages (and attachments a loader reads) of one exported space, as confluence://SPACE/... URIs."""

    def __init__(self, archive: Path, *, mapping: Path | None = None, default: AclEntry | None = None) -> None:
        self.archive = archive.resolve()
        if not zipfile.is_zipfile(self.archive):
            raise InvalidRequest(f"{archive}: not a zip file (expected a Confluence HTML space export)")
        self._mapping: AclMapping = load_mapping(mapping)
        self._default = default
        with zipfile.ZipFile(self.archive) as zf:
            self._names = [n for n in zf.namelist() if not n.endswith("/")]
        index = next((n for n in self._names if PurePosixPath(n).name == "index.html"), None)
        if index is None:
            raise InvalidRequest(f"{archive}: no index.html; not a Confluence HTML space export")
        self._root = PurePosixPath(index).parent
        self.space = self._root.name or self.archive.stem

    @property
    def scope(self) -> str:
        return f"confluence://{self.space}/"

    def documents(self) -> Iterator[SourceDocument]:
        for name in self._names:
            path = PurePosixPath(name)
            if path.name == "index.html" or not supported(path.name):
                continue
            relative = path.relative_to(self._root).as_posix() if path.is_relative_to(self._root) else name
            if relative.startswith(("styles/", "images/")):
                continue
            data = self._reader(name)
            entry = self._mapping.entry_for(relative) or self._default
            is_page = path.suffix == ".html"
            yield SourceDocument(
                uri=f"confluence://{self.space}/{relative}",
                name=path.name,
                title=self._page_title(data()) if is_page else path.name,
                read=data,
                acl=entry.acl if entry else AclEntry().acl,
                classification=entry.classification if entry else "internal",
                metadata={"space": self.space, "page_id": m.group(1) if (m := _PAGE_ID.search(name)) else None},
            )

    def _reader(self, name: str) -> _ZipMember:
        return _ZipMember(self.archive, name)

    def _page_title(self, html: bytes) -> str:
        soup = BeautifulSoup(html, "lxml")
        heading = soup.find(id="title-text")
        if heading is not None:
            text = heading.get_text(" ", strip=True)
        else:
            text = soup.title.get_text(" ", strip=True) if soup.title else ""
        # Page titles read "SPACE : Title" in the export.
        return text.split(" : ", 1)[-1].strip() or "untitled"


class _ZipMember:
    """Reads one member of the archive when called (the zip is reopened: documents are read one at a time)."""

    def __init__(self, archive: Path, name: str) -> None:
        self._archive = archive
        self._name = name

    def __call__(self) -> bytes:
        with zipfile.ZipFile(self._archive) as zf:
            return zf.read(self._name)
