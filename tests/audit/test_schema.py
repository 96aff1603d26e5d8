"""The table matches the event contract, and the package's public surface is complete."""

from __future__ import annotations

import suite.audit
from suite.audit import AuditEvent, AuditQuery, AuditTrail
from suite.audit.chain import CHAIN_FIELDS
from suite.audit.tables import AuditRecordRow
from suite.db import Database
from tests.audit.conftest import fill, sql


def test_every_event_field_has_a_column() -> None:
    """A field added to AuditEvent needs a column (and a migration) before it can be recorded."""
    columns = set(AuditRecordRow.__table__.columns.keys())
    assert columns == set(AuditEvent.model_fields) | set(CHAIN_FIELDS) | {"record_hash"}


def test_public_surface_is_complete() -> None:
    for name in suite.audit.__all__:
        assert hasattr(suite.audit, name), name
    exported = {name for name in dir(suite.audit) if not name.startswith("_")}
    modules = {"chain", "cli", "cli_support", "events", "export", "filters", "keys", "ledger", "query"}
    modules |= {
        "retention",
        "siem",
        "tables",
        "trail",
        "verify",
        "walk",
        "fields",
        "heads",
        "offline",
        "standalone",
        "stats",
        "witness",
    }
    # The package imports its names on first use (PEP 562): only its own helpers are extra.
    assert exported - modules - {"lazy_names", "TYPE_CHECKING", "annotations"} == set(suite.audit.__all__)


def test_the_offline_verifier_needs_no_settings_or_database() -> None:
    import subprocess
    import sys

    code = "import sys, suite.audit.offline; print(' '.join(sorted(m for m in sys.modules if m.startswith(('suite.', 'sqlalchemy', 'pydantic')))))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert not [name for name in loaded if name.startswith(("sqlalchemy", "pydantic", "suite.config", "suite.db"))]


def test_field_list_matches_the_event_model() -> None:
    from suite.audit.events import AuditEvent
    from suite.audit.fields import EVENT_FIELDS

    assert tuple(AuditEvent.model_fields) == EVENT_FIELDS


async def test_a_tampered_record_can_still_be_read(trail: AuditTrail, database: Database) -> None:
    (record_id,) = await fill(trail, 1)
    sql(database, "UPDATE audit_records SET status = 'whatever' WHERE seq = 1")
    record = AuditQuery(database).get(record_id)
    assert record is not None
    assert str(record.status) == "whatever"
