"""Small inline-SVG bar charts for ``ferry report``: no JavaScript, no external resources.

Two shapes cover the report:

- :func:`hbar_chart` draws one horizontal bar per item, the label on the left and the number
  (and an optional note such as a percentage) written next to the bar;
- :func:`column_chart` draws vertical, optionally stacked columns over time buckets, with a y
  axis of round ticks, sparse x labels that never overlap, and the count above each column where
  it fits.

Every text that reaches the SVG goes through :func:`html.escape`; every bar carries a ``<title>``
(a tooltip, and what a screen reader announces), and each ``<svg>`` has ``role="img"`` and an
``aria-label``. Colours are CSS classes (``tone-ok``, ``tone-failed``, ...) styled by the page.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

#: Rough width of one character of the chart font, per pixel of font size (sans-serif average).
CHAR_WIDTH = 0.62


@dataclass(frozen=True)
class Bar:
    """One bar of a horizontal bar chart."""

    label: str
    value: int
    tone: str = "neutral"
    note: str = ""


@dataclass(frozen=True)
class Segment:
    """One part of a stacked column: a count and the tone it is drawn in."""

    value: int
    tone: str
    name: str = ""


@dataclass(frozen=True)
class Column:
    """One column of a column chart.

    ``title`` is its tooltip (default: label and counts). ``sublabel`` is a second x-axis line
    (a date under a time of day, say), drawn only where it differs from the last one drawn.
    """

    label: str
    segments: tuple[Segment, ...]
    title: str = ""
    sublabel: str = ""

    @property
    def total(self) -> int:
        """Sum of the segments."""
        return sum(s.value for s in self.segments)


def esc(value: object) -> str:
    """``value`` as text, escaped for HTML element content and attribute values."""
    return escape(str(value), quote=True)


def fmt_int(value: int) -> str:
    """``1234567`` as ``1,234,567``."""
    return f"{value:,}"


def text_width(text: str, font_size: float) -> float:
    """Estimated rendered width in pixels of ``text`` at ``font_size``."""
    return len(text) * font_size * CHAR_WIDTH


def clip(text: str, max_chars: int) -> str:
    """``text`` cut to ``max_chars`` characters, with an ellipsis when it was cut."""
    if max_chars < 1:
        return ""
    return text if len(text) <= max_chars else text[: max(0, max_chars - 1)] + "…"


def nice_ticks(max_value: int, target: int = 5) -> list[int]:
    """Round tick values ``0, step, 2*step, ...`` covering ``max_value`` in about ``target`` steps.

    Steps are 1, 2 or 5 times a power of ten and at least 1 (the charts count rows).
    """
    if max_value <= 0:
        return [0, 1]
    raw = max_value / target
    magnitude = 10 ** math.floor(math.log10(raw)) if raw >= 1 else 1
    step = magnitude
    for multiple in (1, 2, 5, 10):
        step = multiple * magnitude
        if step >= raw:
            break
    step = max(1, int(step))
    top = math.ceil(max_value / step) * step
    return list(range(0, top + 1, step))


def _n(value: float) -> str:
    """A coordinate with at most one decimal."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def hbar_chart(
    bars: Sequence[Bar],
    *,
    title: str,
    width: int = 760,
    font_size: int = 13,
    max_label_chars: int = 40,
) -> str:
    """Horizontal bars, one per item, label left and the number written right of the bar."""
    if not bars:
        return ""
    row_h, bar_h, pad = 26, 18, 6
    longest = max(len(clip(b.label, max_label_chars)) for b in bars)
    label_w = min(width * 0.42, max(60.0, text_width("x" * longest, font_size) + 14))
    value_texts = [fmt_int(b.value) + (f" {b.note}" if b.note else "") for b in bars]
    value_w = max(text_width(t, font_size) for t in value_texts) + 14
    bar_area = max(40.0, width - label_w - value_w)
    peak = max((b.value for b in bars), default=0) or 1
    height = len(bars) * row_h + 2 * pad
    max_chars = max(4, int((label_w - 12) / (font_size * CHAR_WIDTH)))
    parts = [
        f'<svg class="chart hbar" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label="{esc(title)}">',
        f"<title>{esc(title)}</title>",
    ]
    for index, (bar, value_text) in enumerate(zip(bars, value_texts, strict=True)):
        y = pad + index * row_h
        bar_w = bar.value / peak * bar_area
        if bar.value > 0:
            bar_w = max(bar_w, 2.0)
        mid = y + row_h / 2
        label = clip(bar.label, min(max_chars, max_label_chars))
        parts.append(
            f"<g><title>{esc(bar.label)}: {esc(value_text)}</title>"
            f'<text class="label" x="{_n(label_w - 8)}" y="{_n(mid)}" text-anchor="end" '
            f'dominant-baseline="central" font-size="{font_size}">{esc(label)}</text>'
            f'<rect class="tone-{esc(bar.tone)}" x="{_n(label_w)}" y="{_n(mid - bar_h / 2)}" '
            f'width="{_n(bar_w)}" height="{bar_h}" rx="2"/>'
            f'<text class="value" x="{_n(label_w + bar_w + 6)}" y="{_n(mid)}" '
            f'dominant-baseline="central" font-size="{font_size}">{esc(value_text)}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


def column_chart(
    columns: Sequence[Column],
    *,
    title: str,
    y_label: str,
    x_label: str = "",
    markers: Sequence[tuple[float, str]] = (),
    width: int = 1000,
    height: int = 290,
) -> str:
    """Vertical (stacked) columns with a y axis of round ticks and sparse x labels.

    ``markers`` are dashed vertical lines at a position in column units (``0`` is the left edge
    of the first column, ``len(columns)`` the right edge of the last), each with a short text.
    """
    if not columns:
        return ""
    left, right, top = 62, 14, 22
    bottom = 36 + (14 if any(c.sublabel for c in columns) else 0) + (18 if x_label else 0)
    plot_w, plot_h = width - left - right, height - top - bottom
    ticks = nice_ticks(max(c.total for c in columns))
    y_max = ticks[-1]
    slot = plot_w / len(columns)
    bar_w = min(slot * 0.78, 56.0)
    base = top + plot_h
    parts = [
        f'<svg class="chart columns" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label="{esc(title)}">',
        f"<title>{esc(title)}</title>",
    ]
    for tick in ticks:
        y = base - tick / y_max * plot_h
        parts.append(
            f'<line class="grid" x1="{left}" x2="{width - right}" y1="{_n(y)}" y2="{_n(y)}"/>'
            f'<text class="tick" x="{left - 6}" y="{_n(y)}" text-anchor="end" '
            f'dominant-baseline="central" font-size="11">{fmt_int(tick)}</text>'
        )
    mid_y = top + plot_h / 2
    parts.append(
        f'<text class="axis-title" x="14" y="{_n(mid_y)}" text-anchor="middle" font-size="12" '
        f'transform="rotate(-90 14 {_n(mid_y)})">{esc(y_label)}</text>'
    )
    longest = max(len(c.label) for c in columns)
    every = max(1, math.ceil((text_width("x" * longest, 11) + 10) / slot))
    shown_sublabel = ""
    for index, column in enumerate(columns):
        centre = left + slot * (index + 0.5)
        x = centre - bar_w / 2
        tip = column.title or _default_tip(column)
        parts.append(f"<g><title>{esc(tip)}</title>")
        y = float(base)
        for segment in column.segments:
            if segment.value <= 0:
                continue
            h = segment.value / y_max * plot_h
            y -= h
            parts.append(
                f'<rect class="tone-{esc(segment.tone)}" x="{_n(x)}" y="{_n(y)}" '
                f'width="{_n(bar_w)}" height="{_n(max(h, 0.5))}"/>'
            )
        total = fmt_int(column.total)
        if column.total > 0 and text_width(total, 10) <= slot - 1:
            parts.append(
                f'<text class="count" x="{_n(centre)}" y="{_n(y - 4)}" text-anchor="middle" '
                f'font-size="10">{total}</text>'
            )
        parts.append("</g>")
        if index % every == 0:
            parts.append(
                f'<line class="axis" x1="{_n(centre)}" x2="{_n(centre)}" y1="{base}" '
                f'y2="{base + 4}"/><text class="tick" x="{_n(centre)}" y="{base + 16}" '
                f'text-anchor="middle" font-size="11">{esc(column.label)}</text>'
            )
            if column.sublabel and column.sublabel != shown_sublabel:
                shown_sublabel = column.sublabel
                parts.append(
                    f'<text class="tick sub" x="{_n(centre)}" y="{base + 30}" '
                    f'text-anchor="middle" font-size="11">{esc(column.sublabel)}</text>'
                )
    parts.append(
        f'<line class="axis" x1="{left}" x2="{width - right}" y1="{base}" y2="{base}"/>'
        f'<line class="axis" x1="{left}" x2="{left}" y1="{top}" y2="{base}"/>'
    )
    for position, text in markers:
        x = left + slot * min(max(position, 0.0), len(columns))
        anchor, dx = ("end", -4) if x > left + plot_w * 0.8 else ("start", 4)
        parts.append(
            f'<line class="marker" x1="{_n(x)}" x2="{_n(x)}" y1="{top - 4}" y2="{base}"/>'
            f'<text class="marker-text" x="{_n(x + dx)}" y="{top - 8}" text-anchor="{anchor}" '
            f'font-size="11">{esc(text)}</text>'
        )
    if x_label:
        parts.append(
            f'<text class="axis-title" x="{_n(left + plot_w / 2)}" y="{height - 8}" '
            f'text-anchor="middle" font-size="12">{esc(x_label)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def legend(items: Sequence[tuple[str, str]]) -> str:
    """An HTML legend: ``(tone, text)`` pairs as coloured swatches with their text."""
    spans = "".join(
        f'<span class="key"><svg class="swatch" viewBox="0 0 12 12" width="12" height="12" '
        f'aria-hidden="true"><rect class="tone-{esc(tone)}" width="12" height="12" rx="2"/>'
        f"</svg>{esc(text)}</span>"
        for tone, text in items
    )
    return f'<p class="legend">{spans}</p>'


def _default_tip(column: Column) -> str:
    named = [f"{fmt_int(s.value)} {s.name}".rstrip() for s in column.segments if s.name]
    detail = f" ({', '.join(named)})" if len(named) > 1 else ""
    return f"{column.label}: {fmt_int(column.total)}{detail}"
