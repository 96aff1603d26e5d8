"""Document sources: the connector interface and the folder and Confluence export connectors."""

from pathlib import Path

from suite.rag.connectors.base import AclEntry, AclMapping, AclRule, Connector
from suite.rag.connectors.confluence import ConfluenceExportConnector
from suite.rag.connectors.filesystem import MAPPING_FILE, SIDECAR_SUFFIX, FolderConnector


def open_source(path: Path, *, default: AclEntry | None = None, mapping: Path | None = None) -> Connector:
    """The connector for a path: a Confluence HTML space export (.zip), else a folder or a single file."""
    kind = ConfluenceExportConnector if path.suffix.lower() == ".zip" else FolderConnector
    return kind(path, mapping=mapping, default=default)


__all__ = [
    "MAPPING_FILE",
    "SIDECAR_SUFFIX",
    "AclEntry",
    "AclMapping",
    "AclRule",
    "ConfluenceExportConnector",
    "Connector",
    "FolderConnector",
    "open_source",
]
