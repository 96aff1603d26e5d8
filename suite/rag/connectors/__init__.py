"""Document sources: the connector interface and the folder and Confluence export connectors."""

from suite.rag.connectors.base import AclEntry, AclMapping, AclRule, Connector
from suite.rag.connectors.confluence import ConfluenceExportConnector
from suite.rag.connectors.filesystem import MAPPING_FILE, SIDECAR_SUFFIX, FolderConnector

__all__ = [
    "MAPPING_FILE",
    "SIDECAR_SUFFIX",
    "AclEntry",
    "AclMapping",
    "AclRule",
    "ConfluenceExportConnector",
    "Connector",
    "FolderConnector",
]
