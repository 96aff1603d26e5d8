"""The audit console's chart, drawn on the server as SVG: requests, blocks and errors per stretch of time.

No charting library and no script: a few rectangles and labels, every text escaped, shown by the
page as an image (``img-src 'self'``), with the same numbers in a table beside it for screen readers.
"""

from __future__ import annotations

from datetime import timedelta
from xml.sax.saxutils import escape

from suite.audit import Bucket

WIDTH, HEIGHT = 760, 240
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 28, 36
# Colours readable on white and distinguishable with the common colour-vision deficiencies.
SERIES = (("requests", "#1f4fbf"), ("blocked", "#e08a00"), ("errors", "#b3261e"))
LEGEND = {
    "en": {"requests": "requests", "blocked": "blocked", "errors": "errors"},
    "de": {"requests": "Anfragen", "blocked": "blockiert", "errors": "Fehler"},
}


def timeline_svg(buckets: list[Bucket], *, lang: str = "en") -> str:
    """Grouped bars (requests, blocked, errors) per bucket, a y axis from 0 to the largest count, time labels."""
    names = LEGEND.get(lang, LEGEND["en"])
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    peak = max([1, *(max(b.requests, b.blocked, b.errors) for b in buckets)])
    slot = plot_w / max(1, len(buckets))
    bar = max(1.0, slot / 4)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}"'
        ' font-family="sans-serif" font-size="11">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - RIGHT}" y2="{TOP + plot_h}" stroke="#5a5a66"/>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}" stroke="#5a5a66"/>',
        f'<text x="{LEFT - 6}" y="{TOP + 4}" text-anchor="end" fill="#1b1b1f">{peak}</text>',
        f'<text x="{LEFT - 6}" y="{TOP + plot_h}" text-anchor="end" fill="#1b1b1f">0</text>',
    ]
    for i, bucket in enumerate(buckets):
        for j, (key, colour) in enumerate(SERIES):
            value = getattr(bucket, key)
            if not value:
                continue
            h = plot_h * value / peak
            x = LEFT + i * slot + bar * (j + 0.5) - bar / 2 + slot / 8
            parts.append(
                f'<rect class="{key}" x="{x:.1f}" y="{TOP + plot_h - h:.1f}" width="{bar:.1f}" height="{h:.1f}"'
                f' fill="{colour}"><title>{escape(names[key])}: {value}</title></rect>'
            )
    step = max(1, len(buckets) // 6)
    span = buckets[-1].start - buckets[0].start if len(buckets) > 1 else timedelta(0)
    fmt = "%H:%M" if span < timedelta(days=2) else "%d.%m."
    for i in range(0, len(buckets), step):
        x = LEFT + i * slot + slot / 2
        label = escape(buckets[i].start.strftime(fmt))
        parts.append(f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" fill="#1b1b1f">{label}</text>')
    x = LEFT
    for key, colour in SERIES:
        parts.append(f'<rect x="{x}" y="8" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{x + 14}" y="17" fill="#1b1b1f">{escape(names[key])}</text>')
        x += 24 + 7 * len(names[key])
    parts.append("</svg>")
    return "".join(parts)
