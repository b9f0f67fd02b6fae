"""Charts drawn on the server as inline SVG: no JavaScript, no CDN, readable by screen readers.

Each chart is an `<svg role="img">` with a `<title>` (its name) and a `<desc>` (the numbers in
words), and each bar has its own `<title>`, so a pointer shows the exact value and assistive
technology can read the data. Text is escaped; numbers are formatted for the active locale.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from html import escape

from django.utils.formats import number_format
from django.utils.safestring import SafeString, mark_safe

_ids = itertools.count(1)

WIDTH = 560
BAR_COLOR = "#1d5fa8"
AXIS_COLOR = "#5b6470"
GRID_COLOR = "#dde3ea"


def _fmt(value: float) -> str:
    if isinstance(value, float) and not value.is_integer():
        return number_format(value, decimal_pos=1, force_grouping=True)
    return number_format(int(value), force_grouping=True)


def _nice_max(value: float) -> float:
    """The smallest 1, 2 or 5 × 10ⁿ at least `value`, so the top gridline is a round number."""
    if value <= 0:
        return 1
    magnitude = 10 ** (len(str(int(value))) - 1) if value >= 1 else 1
    for step in (1, 2, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude


def _svg(title: str, desc: str, width: int, height: int, body: list[str]) -> SafeString:
    n = next(_ids)
    return mark_safe(  # noqa: S308 - every piece of text below is escaped
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" '
        f'preserveAspectRatio="xMidYMid meet" aria-labelledby="chart-t{n} chart-d{n}" '
        f'xmlns="http://www.w3.org/2000/svg">'
        f'<title id="chart-t{n}">{escape(title)}</title><desc id="chart-d{n}">{escape(desc)}</desc>'
        + "".join(body)
        + "</svg>"
    )


def bar_chart(
    data: Sequence[tuple[str, float]],
    *,
    title: str,
    value_format: Callable[[float], str] = _fmt,
    height: int = 220,
    color: str = BAR_COLOR,
) -> SafeString:
    """Vertical bars, one per (label, value), with the value axis starting at zero."""
    data = [(str(label), float(value or 0)) for label, value in data]
    left, right, top, bottom = 56, 8, 12, 40
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    top_value = _nice_max(max((v for _, v in data), default=0))
    if top_value < 4 and all(float(v).is_integer() for _, v in data):
        top_value = 4  # whole gridlines for small counts
    body = []
    for i in range(5):  # gridlines and their labels
        value = top_value * i / 4
        y = top + plot_h - plot_h * i / 4
        body.append(
            f'<line x1="{left}" x2="{WIDTH - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID_COLOR}"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" fill="{AXIS_COLOR}">'
            f"{escape(value_format(value))}</text>"
        )
    if data:
        slot = plot_w / len(data)
        bar_w = max(2.0, slot * 0.7)
        every = max(1, round(len(data) / 12))  # at most about a dozen axis labels
        for i, (label, value) in enumerate(data):
            h = plot_h * value / top_value
            x = left + slot * i + (slot - bar_w) / 2
            y = top + plot_h - h
            body.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" fill="{color}">'
                f"<title>{escape(label)}: {escape(value_format(value))}</title></rect>"
            )
            if i % every == 0:
                body.append(
                    f'<text x="{x + bar_w / 2:.1f}" y="{height - bottom + 16}" text-anchor="middle" '
                    f'font-size="11" fill="{AXIS_COLOR}">{escape(_short(label))}</text>'
                )
    body.append(
        f'<line x1="{left}" x2="{WIDTH - right}" y1="{top + plot_h}" y2="{top + plot_h}" '
        f'stroke="{AXIS_COLOR}"/>'
    )
    desc = "; ".join(f"{label}: {value_format(value)}" for label, value in data)
    return _svg(title, desc, WIDTH, height, body)


def horizontal_bar_chart(
    data: Sequence[tuple[str, float]],
    *,
    title: str,
    value_format: Callable[[float], str] = _fmt,
    color: str = BAR_COLOR,
) -> SafeString:
    """One labelled row per (label, value): for categories with long names (top values)."""
    data = [(str(label), float(value or 0)) for label, value in data]
    row_h, label_w, value_w = 22, 150, 70
    height = max(row_h, row_h * len(data)) + 4
    plot_w = WIDTH - label_w - value_w
    top_value = max((v for _, v in data), default=0) or 1
    body = []
    for i, (label, value) in enumerate(data):
        y = 2 + i * row_h
        w = max(1.0, plot_w * value / top_value) if value else 0
        body.append(
            f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end" font-size="12" fill="#1b1f24">'
            f"{escape(_short(label, 16))}</text>"
            f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}" fill="{color}">'
            f"<title>{escape(label)}: {escape(value_format(value))}</title></rect>"
            f'<text x="{label_w + w + 6:.1f}" y="{y + 15}" font-size="12" fill="{AXIS_COLOR}">'
            f"{escape(value_format(value))}</text>"
        )
    desc = "; ".join(f"{label}: {value_format(value)}" for label, value in data)
    return _svg(title, desc, WIDTH, height, body)


def histogram(bins: Sequence[dict], *, title: str, height: int = 160, color: str = BAR_COLOR) -> SafeString:
    """Equal-width bins as touching bars, from a column profile's
    [{"lower": …, "upper": …, "count": n}, …]."""
    bins = list(bins or [])
    left, right, top, bottom = 48, 8, 10, 34
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    top_value = max(4, _nice_max(max((b.get("count") or 0 for b in bins), default=0)))
    body = []
    for i in (0, 2, 4):
        value = top_value * i / 4
        y = top + plot_h - plot_h * i / 4
        body.append(
            f'<line x1="{left}" x2="{WIDTH - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID_COLOR}"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" fill="{AXIS_COLOR}">'
            f"{escape(_fmt(value))}</text>"
        )
    if bins:
        slot = plot_w / len(bins)
        for i, b in enumerate(bins):
            count = b.get("count") or 0
            h = plot_h * count / top_value
            x = left + slot * i
            label = f"{_edge(b.get('lower'))} – {_edge(b.get('upper'))}"
            body.append(
                f'<rect x="{x + 0.5:.1f}" y="{top + plot_h - h:.1f}" width="{max(1.0, slot - 1):.1f}" '
                f'height="{h:.1f}" fill="{color}">'
                f"<title>{escape(label)}: {escape(_fmt(count))}</title></rect>"
            )
        body.append(
            f'<text x="{left}" y="{height - 12}" font-size="11" fill="{AXIS_COLOR}">'
            f"{escape(_edge(bins[0].get('lower')))}</text>"
            f'<text x="{WIDTH - right}" y="{height - 12}" text-anchor="end" font-size="11" '
            f'fill="{AXIS_COLOR}">{escape(_edge(bins[-1].get("upper")))}</text>'
        )
    body.append(
        f'<line x1="{left}" x2="{WIDTH - right}" y1="{top + plot_h}" y2="{top + plot_h}" '
        f'stroke="{AXIS_COLOR}"/>'
    )
    desc = "; ".join(
        f"{_edge(b.get('lower'))} – {_edge(b.get('upper'))}: {_fmt(b.get('count') or 0)}" for b in bins
    )
    return _svg(title, desc, WIDTH, height, body)


def _edge(value) -> str:
    if value is None:
        return ""
    if isinstance(value, int | float):
        return _fmt(value)
    text = str(value)
    return text[:16].replace("T", " ") if len(text) > 10 else text


def _short(label: str, limit: int = 10) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"
