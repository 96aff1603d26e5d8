"""Splitting a bundle into parts for removable media, and joining them again.

Next to the parts lies ``BUNDLE.parts.sha256`` in ``sha256sum`` format (so ``sha256sum -c``
checks it with stock tools too); joining hashes each part as it copies it and names the
first bad or missing part. The joined bundle is then verified like any other.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from suite.errors import BundleRefused
from suite.registry import HASH_BLOCK

_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
_SIZE = re.compile(r"^\s*(\d+)\s*([KMGT]?)(?:I?B)?\s*$", re.IGNORECASE)
_LIST_LINE = re.compile(r"^([0-9a-f]{64}) [ *](.+)$")


def parse_size(text: str) -> int:
    """``4G``, ``500M``, ``650MiB`` or a byte count, in binary units; ValueError otherwise."""
    match = _SIZE.match(text)
    if match is None or int(match.group(1)) == 0:
        raise ValueError(f"{text!r} is not a size such as 4G, 500M or 1048576")
    return int(match.group(1)) * _UNITS[match.group(2).upper()]


def parts_list_of(bundle: Path) -> Path:
    """Where the parts list of a bundle lies: ``BUNDLE.parts.sha256``."""
    return bundle.with_name(f"{bundle.name}.parts.sha256")


def split_bundle(bundle: Path, *, part_size: int, out_dir: Path) -> Path:
    """Cut bundle into ``NAME.part-000``, ... of at most part_size bytes; return the parts list's path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    lines = []
    with bundle.open("rb") as source:
        index = 0
        while True:
            part = out_dir / f"{bundle.name}.part-{index:03d}"
            digest, written = hashlib.sha256(), 0
            with part.open("wb") as dest:
                while written < part_size and (block := source.read(min(HASH_BLOCK, part_size - written))):
                    dest.write(block)
                    digest.update(block)
                    written += len(block)
            if written == 0 and index > 0:
                part.unlink()
                break
            lines.append(f"{digest.hexdigest()}  {part.name}\n")
            index += 1
            if written < part_size:
                break
    listing = parts_list_of(out_dir / bundle.name)
    listing.write_text("".join(lines), encoding="utf-8")
    return listing


def join_parts(parts_list: Path, out: Path) -> Path:
    """Concatenate the listed parts (next to the list) into out, checking each part's SHA-256.

    Raises BundleRefused naming the first missing or changed part; out is then not left behind.
    """
    entries = []
    for number, line in enumerate(parts_list.read_text(encoding="utf-8").splitlines(), start=1):
        match = _LIST_LINE.match(line)
        if match is None or "/" in match.group(2):
            raise BundleRefused(f"{parts_list}:{number}: not a 'SHA256  PART' line")
        entries.append((match.group(1), parts_list.parent / match.group(2)))
    if not entries:
        raise BundleRefused(f"{parts_list} lists no parts")
    partial = out.with_name(f".{out.name}.partial")
    try:
        with partial.open("wb") as dest:
            for expected, part in entries:
                if not part.is_file():
                    raise BundleRefused(f"part {part.name} is missing")
                digest = hashlib.sha256()
                with part.open("rb") as source:
                    while block := source.read(HASH_BLOCK):
                        digest.update(block)
                        dest.write(block)
                if digest.hexdigest() != expected:
                    raise BundleRefused(f"part {part.name} is damaged: its SHA-256 does not match {parts_list.name}")
            dest.flush()
            os.fsync(dest.fileno())
        partial.replace(out)
    finally:
        partial.unlink(missing_ok=True)
    return out
