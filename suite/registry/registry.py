"""The model registry: imported model versions, their states, promotion and rollback.

States: ``imported`` (unpacked and verified, never served), ``serving`` (the one version a
model name serves), ``staged`` (served before, or ready to be; a rollback target) and
``retired`` (rolled back from). Every change bumps one revision counter in the same
transaction, so a server polls ``revision()`` every few seconds and re-reads only when it
moved. Every change is an audited admin action; without a trail the registry refuses changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

from packaging.version import Version
from sqlalchemy import CursorResult, Select, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from suite.db import Database
from suite.errors import AuditUnavailable, ModelVersionNotFound, RegistryConflict, SuiteError
from suite.registry.directories import discard_directory
from suite.registry.manifest import Manifest
from suite.registry.tables import ModelPromotionRow, ModelRegistryRevisionRow, ModelVersionRow

if TYPE_CHECKING:
    from suite.audit import AuditTrail

ModelState = Literal["imported", "staged", "serving", "retired"]
_T = TypeVar("_T")
_REVISION_ID = 1


@dataclass(frozen=True)
class ModelVersion:
    """One registered model version, as the serving layer and the CLI see it."""

    name: str
    version: str
    state: ModelState
    format: str | None
    # The version's directory in the model store: what vLLM is pointed at.
    path: Path
    manifest: Manifest
    manifest_sha256: str
    signers: tuple[str, ...]
    imported_by: str
    imported_at: datetime
    promoted_by: str | None
    promoted_at: datetime | None
    updated_at: datetime


@dataclass(frozen=True)
class Promotion:
    """A version became the serving one, by promotion or rollback."""

    version: str
    action: Literal["promote", "rollback"]
    actor: str
    time: datetime


class ModelRegistry:
    """Model versions in the suite's database; changes are audited through ``trail``."""

    def __init__(self, database: Database, *, trail: AuditTrail | None = None, auth_method: str | None = None) -> None:
        self.database = database
        self.trail = trail
        self.auth_method = auth_method

    # ---- reads --------------------------------------------------------------------------

    def versions(self, name: str | None = None) -> list[ModelVersion]:
        """Every version of name (every model when None), newest version first."""
        query = select(ModelVersionRow)
        if name is not None:
            query = query.where(ModelVersionRow.name == name)
        with self.database.session() as session:
            rows = session.scalars(query).all()
        found = [_version(row) for row in rows]
        return sorted(found, key=lambda v: (v.name, Version(v.version)), reverse=True)

    def get(self, name: str, version: str) -> ModelVersion:
        """One version; ModelVersionNotFound when it is not registered."""
        with self.database.session() as session:
            return _version(_row(session, name, version))

    def serving(self, name: str) -> ModelVersion | None:
        """The version name serves now (its directory, format and manifest), or None."""
        with self.database.session() as session:
            row = _serving_row(session, name)
            return _version(row) if row is not None else None

    def serving_dir(self, name: str) -> Path | None:
        """The directory of the version name serves now: what the serving layer points its engines at."""
        version = self.serving(name)
        return version.path if version is not None else None

    def newest_version(self, name: str) -> Version | None:
        """The highest version of name ever imported and still registered (for the downgrade check)."""
        found = [Version(v.version) for v in self.versions(name)]
        return max(found) if found else None

    def history(self, name: str) -> list[Promotion]:
        """Promotions and rollbacks of name, oldest first."""
        query = select(ModelPromotionRow).where(ModelPromotionRow.name == name).order_by(ModelPromotionRow.id)
        with self.database.session() as session:
            return [
                Promotion(row.version, row.action, row.actor, _aware(row.time))  # type: ignore[arg-type]
                for row in session.scalars(query)
            ]

    def revision(self) -> int:
        """A counter that every registry change increases: poll it, re-read when it moved."""
        with self.database.session() as session:
            return int(session.scalar(select(ModelRegistryRevisionRow.revision)) or 0)

    def changed_since(self, revision: int) -> bool:
        """Whether anything changed since ``revision()`` returned revision."""
        return self.revision() != revision

    # ---- changes (each one audited) -------------------------------------------------------

    def register(
        self,
        manifest: Manifest,
        *,
        path: Path,
        manifest_sha256: str,
        signers: list[str],
        actor: str,
        bundle: str | None = None,
    ) -> ModelVersion:
        """Record a freshly imported version (state ``imported``); called by the import, audited as models.import."""

        def work(session: Session, now: datetime) -> ModelVersionRow:
            if session.scalar(_by_key(manifest.name, manifest.version)) is not None:
                raise RegistryConflict(f"{manifest.name} {manifest.version} is registered already")
            row = ModelVersionRow(
                name=manifest.name,
                version=manifest.version,
                state="imported",
                kind=manifest.kind,
                format=manifest.format,
                path=str(path),
                manifest=manifest.model_dump(mode="json"),
                manifest_sha256=manifest_sha256,
                signers=list(signers),
                imported_by=actor,
                imported_at=now,
                updated_at=now,
            )
            session.add(row)
            return row

        details = {
            "version": manifest.version,
            "bundle": bundle,
            "manifest_sha256": manifest_sha256,
            "signers": list(signers),
            "format": manifest.format,
            "bytes": manifest.total_size,
        }
        return _version(self._change("models.import", manifest.name, actor, details, work))

    def promote(self, name: str, version: str, *, actor: str) -> ModelVersion:
        """Make version the one name serves; the previous serving version becomes ``staged``."""

        def work(session: Session, now: datetime) -> ModelVersionRow:
            row = _row(session, name, version)
            if row.state == "serving":
                raise RegistryConflict(f"{name} {version} is serving already")
            current = _serving_row(session, name)
            if current is not None:
                _set_state(current, "staged", now)
            _set_state(row, "serving", now)
            row.promoted_by, row.promoted_at = actor, now
            session.add(ModelPromotionRow(name=name, version=version, action="promote", actor=actor, time=now))
            return row

        return _version(self._change("models.promote", name, actor, {"version": version}, work))

    def rollback(self, name: str, *, actor: str) -> ModelVersion:
        """Serve the version that served before the current one again; the current one is ``retired``."""

        def work(session: Session, now: datetime) -> ModelVersionRow:
            current = _serving_row(session, name)
            if current is None:
                raise RegistryConflict(f"{name} serves no version; there is nothing to roll back")
            target = _rollback_target(session, name, current.version)
            _set_state(current, "retired", now)
            _set_state(target, "serving", now)
            target.promoted_by, target.promoted_at = actor, now
            session.add(ModelPromotionRow(name=name, version=target.version, action="rollback", actor=actor, time=now))
            return target

        return _version(self._change("models.rollback", name, actor, {}, work))

    def remove(self, name: str, version: str, *, actor: str) -> ModelVersion:
        """Unregister a version that is not serving and delete its directory from the model store."""

        def work(session: Session, now: datetime) -> ModelVersionRow:
            row = _row(session, name, version)
            if row.state == "serving":
                raise RegistryConflict(f"{name} {version} is serving; promote another version or roll back first")
            session.execute(delete(ModelVersionRow).where(ModelVersionRow.id == row.id))
            return row

        removed = _version(self._change("models.remove", name, actor, {"version": version}, work))
        discard_directory(removed.path)
        return removed

    def _change(
        self,
        action: str,
        name: str,
        actor: str,
        details: dict[str, Any],
        work: Callable[[Session, datetime], _T],
    ) -> _T:
        if self.trail is None:
            raise AuditUnavailable("model registry changes are audited; this registry has no audit trail")
        try:
            with self.database.sessions.begin() as session:
                _bump_revision(session)
                result = work(session, datetime.now(UTC))
        except SuiteError as exc:
            self._audit(action, name, actor, {**details, "error": exc.message}, status="error")
            raise
        self._audit(action, name, actor, details, status="ok")
        return result

    def _audit(self, action: str, name: str, actor: str, details: dict[str, Any], *, status: str) -> None:
        # Imported here: the audit package pulls in the identity layer, which verify-only runs do not need.
        from suite.audit import AuditEvent

        assert self.trail is not None
        event = AuditEvent(
            event_class="admin",
            action=action,
            subject=actor,
            auth_method=self.auth_method,
            model=name,
            status="ok" if status == "ok" else "error",
            details=details,
        )
        self.trail.record_sync(event)


def _bump_revision(session: Session) -> None:
    # The first statement of every change: it takes the write lock (the row lock on PostgreSQL,
    # the database lock on SQLite), so concurrent changes run one after another.
    bump = (
        update(ModelRegistryRevisionRow)
        .where(ModelRegistryRevisionRow.id == _REVISION_ID)
        .values(revision=ModelRegistryRevisionRow.revision + 1)
        .execution_options(synchronize_session=False)
    )
    if cast("CursorResult[Any]", session.execute(bump)).rowcount:
        return
    # Seeded by the migration; recreated if it was lost. Of concurrent creators one wins and the
    # others, refused by the primary key, bump the winner's row (waiting for its lock).
    try:
        with session.begin_nested():
            session.add(ModelRegistryRevisionRow(id=_REVISION_ID, revision=1))
    except IntegrityError:
        session.execute(bump)


def _by_key(name: str, version: str) -> Select[ModelVersionRow]:
    return select(ModelVersionRow).where(ModelVersionRow.name == name, ModelVersionRow.version == version)


def _row(session: Session, name: str, version: str) -> ModelVersionRow:
    row = session.scalar(_by_key(name, version))
    if row is None:
        raise ModelVersionNotFound(f"no model version {name} {version} in the registry")
    return row


def _serving_row(session: Session, name: str) -> ModelVersionRow | None:
    query = select(ModelVersionRow).where(ModelVersionRow.name == name, ModelVersionRow.state == "serving")
    return session.scalar(query)


def _rollback_target(session: Session, name: str, current: str) -> ModelVersionRow:
    # Walk the serving history back: the newest earlier version that is still staged. Versions
    # rolled back from are retired, so repeated rollbacks step further back instead of flipping.
    query = select(ModelPromotionRow).where(ModelPromotionRow.name == name).order_by(ModelPromotionRow.id.desc())
    for entry in session.scalars(query):
        if entry.version == current:
            continue
        row = session.scalar(_by_key(name, entry.version))
        if row is not None and row.state == "staged":
            return row
    raise RegistryConflict(f"{name} has no earlier serving version to roll back to")


def _set_state(row: ModelVersionRow, state: ModelState, now: datetime) -> None:
    row.state, row.updated_at = state, now


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything the suite stores is UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _version(row: ModelVersionRow) -> ModelVersion:
    return ModelVersion(
        name=row.name,
        version=row.version,
        state=row.state,  # type: ignore[arg-type]
        format=row.format,
        path=Path(row.path),
        manifest=Manifest.model_validate(row.manifest),
        manifest_sha256=row.manifest_sha256,
        signers=tuple(row.signers),
        imported_by=row.imported_by,
        imported_at=_aware(row.imported_at),
        promoted_by=row.promoted_by,
        promoted_at=_aware(row.promoted_at) if row.promoted_at is not None else None,
        updated_at=_aware(row.updated_at),
    )
