"""Insight charts drawn on the server as SVG, in the house style of marketplace.charts (a
`<title>` and `<desc>` per chart, a `<title>` per mark, text escaped, numbers in the active
locale): a choropleth of the 31 시·군, lines for trends and a weekday × hour heat map. Bar
charts are marketplace.charts' own."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape

from django.utils.translation import gettext as _

from insights.regions import RegionMap
from marketplace.charts import AXIS_COLOR, GRID_COLOR, WIDTH, _fmt, _nice_max, _short, _svg

# Five steps of one blue, light to dark (readable on white, distinct in greyscale).
SCALE = ("#dbe8f5", "#a9c8e8", "#6fa3d4", "#3a78b8", "#1d4f86")
NO_DATA = "#eeeeee"
HIGHLIGHT = "#d9480f"
SERIES_COLORS = ("#1d5fa8", "#d9480f", "#2b8a3e", "#7048e8")


def classes(values: Sequence[float], steps: int = len(SCALE)) -> list[float]:
    """Upper bounds of `steps` classes by quantile (the last is the maximum)."""
    ordered = sorted(v for v in values if v is not None)
    if not ordered:
        return []
    return [ordered[min(len(ordered) - 1, round(len(ordered) * (i + 1) / steps) - 1)] for i in range(steps)]


def _color(value, bounds) -> str:
    if value is None or not bounds:
        return NO_DATA
    for color, bound in zip(SCALE, bounds, strict=False):
        if value <= bound:
            return color
    return SCALE[-1]


def choropleth(
    region_map: RegionMap,
    values: dict[str, float | None],
    *,
    title: str,
    value_format: Callable[[float], str] = _fmt,
    link: Callable[[str], str] | None = None,
    highlight: str | None = None,
    outline: Sequence[str] = (),
) -> str:
    """The 31 시·군 coloured by `values` (code → value; None: no figure, e.g. suppressed). Every
    shape carries `data-region` (its code) and a `<title>` with its name and figure; `link(code)`
    makes it a link; `highlight` is drawn with a thick outline, `outline` codes with a thin one."""
    bounds = classes([v for v in values.values() if v is not None])
    body = []
    for shape in region_map.shapes:
        value = values.get(shape.code)
        name = shape.name_en if _english() and shape.name_en else shape.name
        figure = value_format(value) if value is not None else _("no figure (suppressed or no data)")
        stroke, width = ("#ffffff", 1)
        if shape.code == highlight:
            stroke, width = (HIGHLIGHT, 4)
        elif shape.code in outline:
            stroke, width = ("#1b1f24", 2)
        mark = (
            f'<path class="region" data-region="{shape.code}" d="{shape.path}" '
            f'fill="{_color(value, bounds)}" '
            f'stroke="{stroke}" stroke-width="{width}" stroke-linejoin="round">'
            f"<title>{escape(name)}: {escape(figure)}</title></path>"
        )
        if region_map.tiles:
            mark += (
                f'<text x="{shape.label_x:.1f}" y="{shape.label_y + 4:.1f}" text-anchor="middle" '
                f'font-size="13" '
                f'fill="{_label_color(value, bounds)}" aria-hidden="true" pointer-events="none">'
                f"{escape(_short(_tile_label(name), 6))}</text>"
            )
        if link is not None:
            mark = f'<a href="{escape(link(shape.code))}" aria-label="{escape(name)}">{mark}</a>'
        body.append(mark)
    x0, _y0, w, h = (float(n) for n in region_map.view_box.split())
    legend_y = h + 10
    for i, (color, bound) in enumerate(zip(SCALE, bounds, strict=False)):
        x = x0 + i * 110
        body.append(
            f'<rect x="{x:.0f}" y="{legend_y:.0f}" width="18" height="14" fill="{color}"/>'
            f'<text x="{x + 22:.0f}" y="{legend_y + 12:.0f}" font-size="12" fill="{AXIS_COLOR}">'
            f"≤ {escape(value_format(bound))}</text>"
        )
    body.append(
        f'<rect x="{x0:.0f}" y="{legend_y + 22:.0f}" width="18" height="14" fill="{NO_DATA}"/>'
        f'<text x="{x0 + 22:.0f}" y="{legend_y + 34:.0f}" font-size="12" fill="{AXIS_COLOR}">'
        f"{escape(_('no figure (suppressed or no data)'))}</text>"
    )
    desc = "; ".join(
        f"{s.name_en if _english() and s.name_en else s.name}: "
        f"{value_format(values[s.code]) if values.get(s.code) is not None else '–'}"
        for s in region_map.shapes
    )
    return _svg(title, desc, int(max(w, 560)), int(h + 50), body)


def _tile_label(name: str) -> str:
    """수원시 → 수원; Suwon-si → Suwon."""
    for suffix in ("-si", "-gun"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name[:-1] if len(name) > 2 and name[-1] in "시군" else name


def _label_color(value, bounds) -> str:
    return "#ffffff" if value is not None and bounds and _color(value, bounds) in SCALE[3:] else "#1b1f24"


def _english() -> bool:
    from django.utils.translation import get_language

    return (get_language() or "ko").startswith("en")


def _line_series(s: int, name: str, values, labels, x_of, y_of, value_format, left: int) -> list[str]:
    """Series number `s`: its line (broken at None values), a dot with a tooltip per value and
    its legend entry."""
    color = SERIES_COLORS[s % len(SERIES_COLORS)]
    dash = ' stroke-dasharray="6 4"' if s % 2 else ""
    body, segments, current = [], [], []
    for i, value in enumerate(values):
        if value is None:
            if current:
                segments.append(current)
            current = []
            continue
        current.append((x_of(i), y_of(value)))
    if current:
        segments.append(current)
    for segment in segments:
        points = " ".join(f"{x:.1f},{y:.1f}" for x, y in segment)
        body.append(f'<polyline points="{points}" fill="none" stroke="{color}" stroke-width="2.5"{dash}/>')
    for i, value in enumerate(values):
        if value is None:
            continue
        body.append(
            f'<circle cx="{x_of(i):.1f}" cy="{y_of(value):.1f}" r="4" fill="{color}">'
            f"<title>{escape(name)}, {escape(str(labels[i]))}: {escape(value_format(value))}</title>"
            "</circle>"
        )
    lx = left + s * 200
    body.append(
        f'<line x1="{lx}" x2="{lx + 24}" y1="12" y2="12" stroke="{color}" stroke-width="3"{dash}/>'
        f'<text x="{lx + 30}" y="16" font-size="12" fill="#1b1f24">{escape(_short(name, 24))}</text>'
    )
    return body


def line_chart(
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    *,
    title: str,
    value_format: Callable[[float], str] = _fmt,
    height: int = 240,
) -> str:
    """One line per (name, values) over the same `labels`; a None value breaks the line. The
    value axis starts at zero; a legend names each line."""
    left, right, top, bottom = 64, 28, 28, 40
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    found = [v for _n, values in series for v in values if v is not None]
    top_value = _nice_max(max(found, default=0))
    body = []
    for i in range(5):
        value = top_value * i / 4
        y = top + plot_h - plot_h * i / 4
        body.append(
            f'<line x1="{left}" x2="{WIDTH - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID_COLOR}"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" fill="{AXIS_COLOR}">'
            f"{escape(value_format(value))}</text>"
        )
    n = len(labels)
    step = plot_w / max(1, n - 1) if n > 1 else 0

    def x_of(i: int) -> float:
        return left + (step * i if n > 1 else plot_w / 2)

    every = max(1, round(n / 12))
    for i, label in enumerate(labels):
        if i % every == 0:
            body.append(
                f'<text x="{x_of(i):.1f}" y="{height - bottom + 16}" text-anchor="middle" font-size="11" '
                f'fill="{AXIS_COLOR}">{escape(_short(str(label)))}</text>'
            )
    for s, (name, values) in enumerate(series):
        body += _line_series(
            s, name, values, labels, x_of, lambda v: top + plot_h - plot_h * v / top_value, value_format, left
        )
    body.append(
        f'<line x1="{left}" x2="{WIDTH - right}" y1="{top + plot_h}" y2="{top + plot_h}" '
        f'stroke="{AXIS_COLOR}"/>'
    )
    desc = " / ".join(
        f"{name}: "
        + "; ".join(
            f"{label} {value_format(v) if v is not None else '–'}"
            for label, v in zip(labels, values, strict=True)
        )
        for name, values in series
    )
    return _svg(title, desc, WIDTH, height, body)


def heatmap(
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    values: Sequence[Sequence[float | None]],
    *,
    title: str,
    value_format: Callable[[float], str] = _fmt,
) -> str:
    """A grid of cells shaded by value (rows × columns, e.g. weekday × hour); None is grey."""
    left, top = 44, 22
    cell_w = (WIDTH - left - 8) / max(1, len(col_labels))
    cell_h = 24
    height = top + cell_h * len(row_labels) + 8
    bounds = classes([v for row in values for v in row if v is not None])
    body = []
    for j, label in enumerate(col_labels):
        if j % 3 == 0:
            body.append(
                f'<text x="{left + cell_w * j + cell_w / 2:.1f}" y="{top - 8}" text-anchor="middle" '
                f'font-size="11" fill="{AXIS_COLOR}">{escape(str(label))}</text>'
            )
    for i, row_label in enumerate(row_labels):
        y = top + cell_h * i
        body.append(
            f'<text x="{left - 6}" y="{y + 16}" text-anchor="end" font-size="12" fill="{AXIS_COLOR}">'
            f"{escape(str(row_label))}</text>"
        )
        for j, col_label in enumerate(col_labels):
            value = values[i][j]
            figure = value_format(value) if value is not None else _("no figure (suppressed or no data)")
            body.append(
                f'<rect x="{left + cell_w * j:.1f}" y="{y}" width="{cell_w - 1:.1f}" height="{cell_h - 1}" '
                f'fill="{_color(value, bounds)}"><title>{escape(str(row_label))} {escape(str(col_label))}: '
                f"{escape(figure)}</title></rect>"
            )
    desc = "; ".join(
        f"{row_label} {col_label}: {value_format(values[i][j]) if values[i][j] is not None else '–'}"
        for i, row_label in enumerate(row_labels)
        for j, col_label in enumerate(col_labels)
    )
    return _svg(title, desc, WIDTH, height, body)
