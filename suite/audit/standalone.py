"""`suite-verify`: an external auditor's verifier of a JSONL export, with public material only.

    suite-verify EXPORT --key audit-signing-<id>.pub [--key ...] [--heads checkpoints.jsonl]

Needs no settings file, no database, no data directory and no private key: the export, the
trusted public keys (files, or directories of ``*.pub``) and, when given, signed heads kept
outside the database (the checkpoint file). Imports only the standard library, cryptography and
``suite.audit.offline`` (argparse, not typer; no pydantic, no SQLAlchemy), so it runs on an
auditor's machine with nothing of the suite's configuration, and starts in a fraction of a second.
Exit 0: intact; 1: verification failed (the first bad place is named); 2: an input is unusable.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from suite.audit.keys import TrustedKeys, load_public_keys
from suite.audit.offline import read_heads, report_lines, verify_export
from suite.audit.walk import Checkpoint

__all__ = ["main", "run"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="suite-verify",
        description="Verify a JSONL audit export (`suite audit export`) with the trail's public keys only.",
    )
    parser.add_argument("export", type=Path, help="The JSONL export to verify.")
    parser.add_argument(
        "--key",
        "-k",
        type=Path,
        action="append",
        required=True,
        help="A trusted public key (PEM), or a directory of *.pub files; repeatable.",
    )
    parser.add_argument(
        "--heads",
        type=Path,
        action="append",
        default=[],
        help="Signed heads kept outside the database (the checkpoint file checkpoints.jsonl); repeatable.",
    )
    parser.add_argument(
        "--every-records", type=int, default=None, help="The writer's audit.checkpoint_every_records (rhythm check)."
    )
    parser.add_argument(
        "--rhythm-from",
        type=int,
        default=0,
        help="Leave records up to this seq out of the rhythm check (written by a suite before the rhythm).",
    )
    parser.add_argument(
        "--interval-s", type=float, default=None, help="The writer's audit.checkpoint_every_s (gaps in time)."
    )
    return parser


def _keys(paths: Sequence[Path]) -> TrustedKeys:
    files: list[Path] = []
    for path in paths:
        files += sorted(path.glob("*.pub")) if path.is_dir() else [path]
    if not files:
        raise ValueError(f"no public key files (*.pub) in {', '.join(map(str, paths))}")
    return load_public_keys(files)


def _heads(options: argparse.Namespace) -> list[Checkpoint]:
    return [head for path in options.heads for head in read_heads(path)]


def main(argv: Sequence[str] | None = None) -> int:
    """Verify as the arguments say; the exit status (0 intact, 1 failed, 2 unusable input)."""
    options = _parser().parse_args(argv)
    try:
        trusted = _keys(options.key)
        heads = _heads(options)
    except OSError as exc:
        print(f"suite-verify: {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"suite-verify: {exc}", file=sys.stderr)
        return 2
    if not options.export.is_file():
        print(f"suite-verify: {options.export}: no such file", file=sys.stderr)
        return 2
    report = verify_export(
        options.export,
        trusted,
        heads=heads,
        every_records=options.every_records,
        interval_s=options.interval_s,
        rhythm_from=options.rhythm_from,
    )
    for line in report_lines(report):
        print(line)
    return 0 if report.ok else 1


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    run()
