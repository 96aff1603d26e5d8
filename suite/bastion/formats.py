"""What a model bundle may carry: safetensors (Hugging Face layout) or GGUF weights, and no code.

Pickle-based weights run code when loaded, and so do ``.py`` files that ``trust_remote_code``
or an ``auto_map`` entry would import; both are refused, by name from the manifest before
anything is written, and by content (weight magic, config keys) while and after unpacking.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Any

from suite.errors import BundleRefused
from suite.registry import Manifest, WeightFormat

PICKLE_SUFFIXES = frozenset({".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib", ".npy", ".npz"})
CODE_SUFFIXES = frozenset({".py", ".pyc", ".pyo", ".pyd", ".so", ".dll", ".dylib", ".sh", ".ipynb", ".js"})
# Hugging Face JSON files that can name code to import (auto_map) or ask for remote code.
_CONFIG_FILES = ("config.json", "tokenizer_config.json", "processor_config.json", "preprocessor_config.json")
_CODE_KEYS = frozenset({"auto_map", "trust_remote_code"})
GGUF_MAGIC = b"GGUF"
_MAX_CONFIG_BYTES = 16 * 1024 * 1024


def detect_format(paths: list[str]) -> WeightFormat:
    """The weight format of a model directory's files; ValueError when there is none or a mix."""
    suffixes = {PurePosixPath(path).suffix.lower() for path in paths}
    found = [name for name in ("safetensors", "gguf") if f".{name}" in suffixes]
    if len(found) != 1:
        what = "both safetensors and GGUF" if found else "no .safetensors or .gguf file"
        raise ValueError(f"cannot tell the model's weight format: {what}")
    format_: WeightFormat = "safetensors" if found[0] == "safetensors" else "gguf"
    return format_


def check_model_manifest(manifest: Manifest) -> None:
    """Refuse by name: pickle weights, code files, and a payload that is not the declared format."""
    if manifest.kind != "model":
        raise BundleRefused(f"a {manifest.kind} bundle is not a model; it cannot be imported into the model store")
    paths = [entry.path for entry in manifest.files]
    for path in paths:
        suffix = PurePosixPath(path).suffix.lower()
        if suffix in PICKLE_SUFFIXES:
            raise BundleRefused(f"pickle-based weights are refused (they run code when loaded): {path}")
        if suffix in CODE_SUFFIXES:
            raise BundleRefused(f"code is refused in a model bundle: {path}")
    try:
        found = detect_format(paths)
    except ValueError as exc:
        raise BundleRefused(str(exc)) from None
    if found != manifest.format:
        raise BundleRefused(f"the manifest says format {manifest.format} but the files are {found}")
    if manifest.format == "safetensors" and "config.json" not in paths:
        raise BundleRefused("a safetensors model needs config.json at the top of the payload (Hugging Face layout)")


def check_weight_header(path: str, first_block: bytes) -> None:
    """Refuse a weight file whose first bytes are not what its name says (a pickle renamed .safetensors)."""
    suffix = PurePosixPath(path).suffix.lower()
    if suffix == ".gguf" and not first_block.startswith(GGUF_MAGIC):
        raise BundleRefused(f"{path} is not a GGUF file (no GGUF magic)")
    if suffix == ".safetensors" and not _looks_like_safetensors(first_block):
        raise BundleRefused(f"{path} is not a safetensors file (no JSON header)")


def check_model_config(model_dir: Path) -> None:
    """Refuse Hugging Face configs that would import code (``auto_map``, ``trust_remote_code``)."""
    for name in _CONFIG_FILES:
        path = model_dir / name
        if not path.is_file():
            continue
        if path.stat().st_size > _MAX_CONFIG_BYTES:
            raise BundleRefused(f"{name} is implausibly large for a config file")
        try:
            config = json.loads(path.read_bytes())
        except (ValueError, UnicodeDecodeError) as exc:
            raise BundleRefused(f"{name} is not valid JSON: {exc}") from None
        key = _code_key(config)
        if key is not None:
            raise BundleRefused(f"{name} asks for custom code ({key}); trust_remote_code is never used")


def _code_key(node: Any) -> str | None:
    # auto_map may sit at the top or inside a nested config (text_config, ...); look everywhere.
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _CODE_KEYS and value:
                return str(key)
            found = _code_key(value)
            if found is not None:
                return found
    elif isinstance(node, list):
        for value in node:
            found = _code_key(value)
            if found is not None:
                return found
    return None


def _looks_like_safetensors(first_block: bytes) -> bool:
    # 8 bytes little-endian header length, then the JSON header, which starts with "{".
    if len(first_block) < 9:
        return False
    header_size = int.from_bytes(first_block[:8], "little")
    return 0 < header_size < 100 * 1024 * 1024 and first_block[8:9] == b"{"
