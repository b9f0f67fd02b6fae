"""The 31 시·군 as the map draws them: real boundaries when an operator imported some
(`manage.py import_boundaries`), else a tile grid shipped with the code; and who borders whom.

Importing projects WGS84 longitude/latitude to a local equirectangular plane (scaled by the
cosine of the mean latitude, adequate over one province), simplifies each ring with
Douglas–Peucker and stores SVG path data, so drawing the map reads a few short strings."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from catalog.vocabularies import gyeonggi_regions, regions_by_code

DATA = Path(__file__).resolve().parent / "data"
MAP_WIDTH = 600
TILE = 80  # tile-grid cell size in SVG units
SIMPLIFY_TOLERANCE = 0.7  # SVG units (the map is 600 wide)


@dataclass(frozen=True)
class Shape:
    code: str
    name: str
    name_en: str
    path: str  # SVG path data
    label_x: float
    label_y: float


@dataclass(frozen=True)
class RegionMap:
    shapes: tuple[Shape, ...]
    view_box: str
    tiles: bool  # True: the tile grid (no boundaries imported)
    attribution: str = ""


@cache
def _tiles() -> dict:
    with open(DATA / "gyeonggi_tiles.json", encoding="utf-8") as f:
        return json.load(f)


def tile_map() -> RegionMap:
    grid = _tiles()["tiles"]
    shapes = []
    for region in gyeonggi_regions():
        row, col = grid[region.code]
        x, y = col * TILE + 2, row * TILE + 2
        size = TILE - 4
        path = f"M{x},{y}h{size}v{size}h{-size}Z"
        shapes.append(Shape(region.code, region.name, region.name_en, path, x + size / 2, y + size / 2))
    rows = 1 + max(r for r, _c in grid.values())
    cols = 1 + max(c for _r, c in grid.values())
    return RegionMap(tuple(shapes), f"0 0 {cols * TILE} {rows * TILE}", tiles=True)


def region_map() -> RegionMap:
    """Imported boundaries (the newest set), or the tile grid."""
    from insights.models import BoundarySet

    latest = BoundarySet.objects.order_by("-imported_at", "-pk").first()
    if latest is None:
        return tile_map()
    shapes = tuple(
        Shape(s.code, s.name, s.name_en, s.path, s.label_x, s.label_y) for s in latest.shapes.order_by("code")
    )
    return RegionMap(shapes, latest.view_box, tiles=False, attribution=latest.attribution)


def neighbours(code: str) -> list[str]:
    """Codes of the 시·군 that share a border with `code` (imported boundaries first)."""
    from insights.models import RegionShape

    shape = RegionShape.objects.filter(code=code).order_by("-boundary_set__imported_at", "-pk").first()
    if shape is not None and shape.neighbours:
        return list(shape.neighbours)
    return list(_tiles()["neighbours"].get(code, []))


# --- importing boundaries ---------------------------------------------------------------------

CODE_KEYS = ("code", "SIG_CD", "sig_cd", "adm_cd", "sigungu_code")
NAME_KEYS = ("name", "SIG_KOR_NM", "sig_kor_nm", "adm_nm", "sigungu_name")
NAME_EN_KEYS = ("name_en", "SIG_ENG_NM", "sig_eng_nm")


class BoundaryError(ValueError):
    """The file is not GeoJSON polygons of Gyeonggi's 시·군."""


def _first(props: dict, keys) -> str:
    for key in keys:
        if props.get(key) not in (None, ""):
            return str(props[key]).strip()
    return ""


def _polygons(geometry: dict) -> list:
    kind = (geometry or {}).get("type")
    if kind == "Polygon":
        return [geometry["coordinates"]]
    if kind == "MultiPolygon":
        return list(geometry["coordinates"])
    raise BoundaryError(f"geometry {kind!r} is not a polygon")


def _simplify(points: list[tuple[float, float]], tolerance: float) -> list[tuple[float, float]]:
    """Douglas–Peucker, iterative (rings may have thousands of points)."""
    if len(points) < 3:
        return points
    keep = [False] * len(points)
    keep[0] = keep[-1] = True
    stack = [(0, len(points) - 1)]
    while stack:
        first, last = stack.pop()
        (x1, y1), (x2, y2) = points[first], points[last]
        dx, dy = x2 - x1, y2 - y1
        norm = math.hypot(dx, dy)
        best, index = 0.0, None
        for i in range(first + 1, last):
            px, py = points[i]
            d = abs(dy * px - dx * py + x2 * y1 - y2 * x1) / norm if norm else math.hypot(px - x1, py - y1)
            if d > best:
                best, index = d, i
        if index is not None and best > tolerance:
            keep[index] = True
            stack += [(first, index), (index, last)]
    return [p for p, k in zip(points, keep, strict=True) if k]


def _area_centroid(ring: list[tuple[float, float]]) -> tuple[float, float, float]:
    area = cx = cy = 0.0
    for (x1, y1), (x2, y2) in zip(ring, ring[1:] + ring[:1], strict=True):
        cross = x1 * y2 - x2 * y1
        area += cross
        cx += (x1 + x2) * cross
        cy += (y1 + y2) * cross
    area /= 2
    if not area:
        xs, ys = zip(*ring, strict=True)
        return 0.0, sum(xs) / len(xs), sum(ys) / len(ys)
    return abs(area), cx / (6 * area), cy / (6 * area)


def _feature_path(polys, xy) -> tuple[list[str], tuple[float, float, float]]:
    """SVG path parts of a feature's simplified rings (those that keep a shape) and the
    (area, x, y) of its biggest outer ring, where its label goes."""
    parts, biggest = [], (0.0, 0.0, 0.0)
    for poly in polys:
        for ring_index, ring in enumerate(poly):
            simple = _simplify([xy(p) for p in ring], SIMPLIFY_TOLERANCE)
            if len(simple) < 4:
                continue
            parts.append("M" + "L".join(f"{x:.1f},{y:.1f}" for x, y in simple[:-1]) + "Z")
            if ring_index == 0:
                biggest = max(biggest, _area_centroid(simple[:-1]))
    return parts, biggest


def project_features(geojson: dict) -> tuple[list[dict], str]:
    """The 시·군 features of `geojson` projected and simplified: [{"code", "name", "name_en",
    "path", "label_x", "label_y", "neighbours"}] and the SVG view box."""
    if not isinstance(geojson, dict) or geojson.get("type") != "FeatureCollection":
        raise BoundaryError("the file is not a GeoJSON FeatureCollection")
    known = regions_by_code()
    features = []
    for feature in geojson.get("features") or []:
        props = feature.get("properties") or {}
        code = _first(props, CODE_KEYS)
        if code not in known:
            continue
        features.append((code, props, _polygons(feature.get("geometry"))))
    if not features:
        raise BoundaryError("no feature has the 5-digit code of a Gyeonggi 시·군 (41110 … 41830)")
    points = [pt for _c, _p, polys in features for poly in polys for ring in poly for pt in ring]
    lons, lats = [p[0] for p in points], [p[1] for p in points]
    if not (min(lons) > 120 and max(lons) < 135 and min(lats) > 30 and max(lats) < 45):
        raise BoundaryError("coordinates are not longitude/latitude in Korea (WGS84 expected)")
    squeeze = math.cos(math.radians((min(lats) + max(lats)) / 2))
    scale = MAP_WIDTH / ((max(lons) - min(lons)) * squeeze)
    height = math.ceil((max(lats) - min(lats)) * scale)

    def xy(pt) -> tuple[float, float]:
        return (pt[0] - min(lons)) * squeeze * scale, (max(lats) - pt[1]) * scale

    vertices = {
        code: {(round(p[0], 5), round(p[1], 5)) for poly in polys for ring in poly for p in ring}
        for code, _props, polys in features
    }
    out = []
    for code, props, polys in features:
        parts, biggest = _feature_path(polys, xy)
        if not parts:
            continue
        region = known[code]
        out.append(
            {
                "code": code,
                "name": _first(props, NAME_KEYS) or region.name,
                "name_en": _first(props, NAME_EN_KEYS) or region.name_en,
                "path": "".join(parts),
                "label_x": round(biggest[1], 1),
                "label_y": round(biggest[2], 1),
                "neighbours": sorted(
                    other
                    for other in vertices
                    if other != code and len(vertices[code] & vertices[other]) >= 2
                ),
            }
        )
    return out, f"0 0 {MAP_WIDTH} {height}"
