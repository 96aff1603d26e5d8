"""Text as the injection screen sees it: one canonical form plus every hidden form decoded.

Steps: Unicode NFKC; the tag block (U+E0000..U+E007F, invisible ASCII mirrors) decoded and
removed; zero-width and bidi controls removed; homoglyphs (Cyrillic, Greek and other
look-alikes of Latin letters, from the Unicode confusables table that confusable-homoglyphs
ships) folded to ASCII; whitespace collapsed. Carriers are decoded into extra variants:
letter-spaced words ("I G N O R E"), leetspeak ("1gn0r3"), URL and HTML escapes, base64, hex
runs and rot13. Each variant names its carrier, so a verdict can say what was decoded.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import html
import json
import re
import unicodedata
import urllib.parse
from dataclasses import dataclass
from functools import cache
from importlib import resources

_INVISIBLE = re.compile("[\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
_TAGS = re.compile("[\U000e0000-\U000e007f]+")
_SPACES = re.compile(r"\s+")
_SPACED = re.compile(r"(?<![\w.\-_*])(?:\w(?:[ .\-_*]|\s{2,})){3,}\w(?![\w.\-_*])")
_GAP = re.compile(r"\s{2,}")
_LEET_WORD = re.compile(r"(?<![\w%])(?=[\w@$]*[A-Za-z])(?=[\w@$]*[0-9@$])[\w@$]{3,20}(?![\w%])")
_LEET = str.maketrans({"4": "a", "@": "a", "3": "e", "1": "i", "!": "i", "0": "o", "5": "s", "$": "s", "7": "t"})
_URL_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
_HTML_ESCAPE = re.compile(r"&(#\d+|#x[0-9a-fA-F]+|[a-zA-Z]+);")
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/]{16,}={0,2}")
_HEX_RUN = re.compile(r"\b(?:[0-9a-fA-F]{2}[\s:]?){12,}")
_ROT13_HINT = re.compile(r"\brot-?13\b|\bcaesar\b", re.IGNORECASE)
# Frequent English and German words, plain and in rot13: more of the latter means rot13 text.
_COMMON = re.compile(r"\b(the|and|you|your|all|und|die|der|ist|deine?|alle)\b", re.IGNORECASE)
_COMMON_ROT13 = re.compile(r"\b(gur|naq|lbh|lbhe|nyy|haq|qvr|qre|vfg|qrvar?|nyyr)\b", re.IGNORECASE)
# Latin script itself (basic, Latin-1, Extended A/B) is never folded: ä, ö, ü, ß stay.
_LATIN_END = 0x024F


@dataclass(frozen=True)
class Variant:
    """One form of the text to screen: the carrier it was decoded from (None: the plain text)."""

    text: str
    carrier: str | None = None


@cache
def _homoglyph_table() -> dict[int, str]:
    raw = resources.files("confusable_homoglyphs").joinpath("confusables.json").read_text(encoding="utf-8")
    table: dict[int, str] = {}
    for char, entries in json.loads(raw).items():
        if len(char) != 1 or ord(char) <= _LATIN_END:
            continue
        for entry in entries:
            target = entry["c"]
            if len(target) == 1 and target.isascii() and target.isalnum():
                table[ord(char)] = target
                break
    return table


def canonical(text: str) -> str:
    """NFKC, no invisible or tag characters, homoglyphs folded, single spaces."""
    text = unicodedata.normalize("NFKC", text)
    text = _TAGS.sub("", _INVISIBLE.sub("", text))
    if not text.isascii():
        text = text.translate(_homoglyph_table())
    return _SPACES.sub(" ", text).strip()


def variants(text: str) -> list[Variant]:
    """The canonical text first, then each decoded carrier that differs from it."""
    found = [Variant(canonical(text))]
    spaced = unicodedata.normalize("NFKC", _INVISIBLE.sub("", text))
    if _SPACED.search(spaced):
        joined = _SPACED.sub(lambda m: " ".join(w.replace(" ", "") for w in _GAP.split(m.group())), spaced)
        found.append(Variant(canonical(re.sub(r"(?<=\w)[.\-_*](?=\w)", "", joined)), "spacing"))
    hidden = "".join(chr(ord(ch) - 0xE0000) for run in _TAGS.findall(text) for ch in run)
    if hidden.strip():
        found.append(Variant(canonical(hidden), "tags"))
    plain = found[0].text
    if _LEET_WORD.search(plain):
        leet = _LEET_WORD.sub(lambda m: m.group().translate(_LEET), plain)
        if leet != plain:
            found.append(Variant(leet, "leetspeak"))
    if _URL_ESCAPE.search(plain):
        found.append(Variant(canonical(urllib.parse.unquote(plain)), "url"))
    if _HTML_ESCAPE.search(plain):
        found.append(Variant(canonical(html.unescape(plain)), "html"))
    for run in _BASE64_RUN.findall(plain):
        decoded = _readable(_b64decode(run))
        if decoded:
            found.append(Variant(canonical(decoded), "base64"))
    for run in _HEX_RUN.findall(plain):
        try:
            decoded = _readable(bytes.fromhex(re.sub(r"[\s:]", "", run)))
        except ValueError:
            decoded = None
        if decoded:
            found.append(Variant(canonical(decoded), "hex"))
    if _ROT13_HINT.search(plain) or len(_COMMON_ROT13.findall(plain)) > max(1, len(_COMMON.findall(plain))):
        found.append(Variant(codecs.decode(plain, "rot13"), "rot13"))
    return found


def _b64decode(run: str) -> bytes | None:
    try:
        return base64.b64decode(run + "=" * (-len(run) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def _readable(data: bytes | None) -> str | None:
    # Decoded bytes count as a payload only if they are mostly printable text.
    if not data or len(data) < 8:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    printable = sum(ch.isprintable() or ch.isspace() for ch in text)
    return text if printable / len(text) > 0.9 and any(ch.isalpha() for ch in text) else None
