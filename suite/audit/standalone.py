"""`suite-verify`: an external auditor's verifier of a JSONL export, with public material only.

    suite-verify EXPORT --key audit-signing-<id>.pub [--key ...] [--heads checkpoints.jsonl]
                 [--heads-from-siem siem.log] [--heads-from-witness witness.jsonl --witness-key w.pub]
    suite-verify EXPORT --key-ranges audit-keys.json [...]

Needs no settings file, no database, no data directory and no private key: the export, the
trusted public keys (files, or directories of ``*.pub``) and, when given, signed heads kept
outside the database (the checkpoint file, what the SIEM stored). Imports only the standard library, cryptography and
``suite.audit.offline`` (argparse, not typer; no pydantic, no SQLAlchemy), so it runs on an
auditor's machine with nothing of the suite's configuration, and starts in a fraction of a second.
Exit 0: intact; 1: verification failed (the first bad place is named); 2: an input is unusable.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from suite.audit.keys import KeyRange, TrustedKeys, load_public_keys, read_key_ranges
from suite.audit.offline import read_heads, read_siem_heads, read_witness_heads, report_lines, verify_export
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
        default=[],
        help="A trusted public key (PEM), or a directory of *.pub files; repeatable.",
    )
    parser.add_argument(
        "--key-ranges",
        type=Path,
        default=None,
        help="The key ranges file (`suite audit export-keys`): trusted keys, each valid only in its range.",
    )
    parser.add_argument(
        "--heads",
        type=Path,
        action="append",
        default=[],
        help="Signed heads kept outside the database (the checkpoint file checkpoints.jsonl); repeatable.",
    )
    parser.add_argument(
        "--heads-from-siem",
        type=Path,
        action="append",
        default=[],
        help="What a SIEM stored of the forwarded trail (syslog lines or JSON lines); its signed heads; repeatable.",
    )
    parser.add_argument(
        "--heads-from-witness",
        type=Path,
        action="append",
        default=[],
        help="A witness's countersigned heads (its GET .../heads answer saved to a file); repeatable.",
    )
    parser.add_argument(
        "--witness-key",
        type=Path,
        action="append",
        default=[],
        help="The witness's public key (PEM): every countersignature must be by it; repeatable.",
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


def _keys(paths: Sequence[Path], ranges_file: Path | None) -> tuple[TrustedKeys, dict[str, KeyRange]]:
    keys, ranges = read_key_ranges(ranges_file) if ranges_file is not None else ({}, {})
    files: list[Path] = []
    for path in paths:
        files += sorted(path.glob("*.pub")) if path.is_dir() else [path]
    if not files and not keys:
        where = ", ".join(map(str, paths))
        raise ValueError(f"no public key files (*.pub) in {where}" if where else "give --key or --key-ranges")
    return keys | load_public_keys(files), ranges


def _heads(options: argparse.Namespace) -> list[Checkpoint]:
    heads = [head for path in options.heads for head in read_heads(path)]
    heads += [head for path in options.heads_from_siem for head in read_siem_heads(path)]
    witness_keys = load_public_keys(options.witness_key) if options.witness_key else None
    for path in options.heads_from_witness:
        lines = path.read_text(encoding="utf-8").splitlines()
        heads += read_witness_heads(lines, name=path.name, witness_keys=witness_keys)
    return heads


def main(argv: Sequence[str] | None = None) -> int:
    """Verify as the arguments say; the exit status (0 intact, 1 failed, 2 unusable input)."""
    options = _parser().parse_args(argv)
    try:
        trusted, ranges = _keys(options.key, options.key_ranges)
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
        ranges=ranges,
    )
    for line in report_lines(report):
        print(line)
    return 0 if report.ok else 1


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    run()
