"""SIEM forwarding of the committed audit trail: RFC 5424 syslog over UDP, TCP or TLS, or JSON lines.

Each destination tails ``audit_records`` from its own cursor in the database (see forwarder.py),
so a SIEM outage loses nothing and forwarding never slows the writer. See docs/audit-siem.md.
"""

from suite.audit.siem.forwarder import DestinationState, ForwardReport, SiemForwarder
from suite.audit.siem.syslog import SyslogFormat, octet_counted, record_json
from suite.audit.siem.tables import SiemCursorRow

__all__ = [
    "DestinationState",
    "ForwardReport",
    "SiemCursorRow",
    "SiemForwarder",
    "SyslogFormat",
    "octet_counted",
    "record_json",
]
