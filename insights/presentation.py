"""What the insight pages show, built from released cells: each chart is an SVG, a data table
(the same numbers, for screen readers and for the CSV download) and sentences in plain language
saying what the chart shows. No HTTP here: views pick the charts and add links.

Every figure comes from a release's materialized cells (insights.selectors); a suppressed cell
is shown as "·" in tables and left out of charts and sentences."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from django.utils.formats import number_format
from django.utils.translation import get_language, pgettext
from django.utils.translation import gettext as _

from catalog.vocabularies import gyeonggi_regions, regions_by_code
from insights import cache, charts, regions, selectors
from insights.models import Feature
from marketplace import charts as base_charts

SUPPRESSED = "·"


@dataclass
class Chart:
    key: str
    title: str
    svg: str = ""
    headers: list[str] = field(default_factory=list)
    rows: list[list] = field(default_factory=list)  # raw values (CSV); None = suppressed
    sentences: list[str] = field(default_factory=list)
    note: str = ""
    source: str = ""  # the release slug
    money_columns: tuple[int, ...] = ()

    @property
    def display_rows(self) -> list[list[str]]:
        return [[_cell(v, i in self.money_columns) for i, v in enumerate(row)] for row in self.rows]

    @property
    def available(self) -> bool:
        return bool(self.svg)


class UnknownChart(LookupError):
    pass


# --- formatting -------------------------------------------------------------------------------


def _english() -> bool:
    return (get_language() or "ko").startswith("en")


def number(value, decimals: int = 0) -> str:
    if value is None:
        return SUPPRESSED
    if decimals:
        return number_format(round(float(value), decimals), decimal_pos=decimals, force_grouping=True)
    return number_format(round(float(value)), force_grouping=True)


def won(value) -> str:
    return _("%(amount)s won") % {"amount": number(value)}


def won_short(value) -> str:
    """Compact amounts for axes and legends: 1.2억 / 3,400만 in Korean, 1.2B / 3.4M in English."""
    value = float(value or 0)
    if _english():
        for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
            if abs(value) >= size:
                return f"{number(value / size, 1)}{suffix}"
        return number(value)
    if abs(value) >= 1e8:
        return f"{number(value / 1e8, 1)}억"
    if abs(value) >= 1e4:
        return f"{number(value / 1e4)}만"
    return number(value)


def percent(value) -> str:
    return number(value, 1)


def _cell(value, money: bool) -> str:
    if value is None:
        return SUPPRESSED
    if isinstance(value, int | float) and not isinstance(value, bool):
        return won(value) if money else number(value, 0 if float(value).is_integer() else 1)
    return str(value)


def region_name(code) -> str:
    region = regions_by_code().get(str(code))
    return region.label if region else str(code)


def weekday_name(value) -> str:
    names = {
        1: pgettext("weekday", "Monday"),
        2: pgettext("weekday", "Tuesday"),
        3: pgettext("weekday", "Wednesday"),
        4: pgettext("weekday", "Thursday"),
        5: pgettext("weekday", "Friday"),
        6: pgettext("weekday", "Saturday"),
        7: pgettext("weekday", "Sunday"),
    }
    return str(names.get(value, value))


def weekday_short(value) -> str:
    return str(
        {
            1: pgettext("weekday", "Mon"),
            2: pgettext("weekday", "Tue"),
            3: pgettext("weekday", "Wed"),
            4: pgettext("weekday", "Thu"),
            5: pgettext("weekday", "Fri"),
            6: pgettext("weekday", "Sat"),
            7: pgettext("weekday", "Sun"),
        }.get(value, value)
    )


def hour_name(value) -> str:
    return _("%(hour)s h") % {"hour": value}


def sex_name(value) -> str:
    return {"F": _("women"), "M": _("men")}.get(value, str(value))


def age_name(value) -> str:
    if not _english():
        return str(value)
    text = str(value)
    if text.endswith("대 이상"):
        return text[: -len("대 이상")] + "+"
    if text.endswith("대"):
        return text[:-1] + "s"
    return text


def ksic_name(letter) -> str:
    return {
        "A": _("Agriculture, forestry and fishing"),
        "B": _("Mining"),
        "C": _("Manufacturing"),
        "D": _("Electricity and gas"),
        "E": _("Water, sewage and waste"),
        "F": _("Construction"),
        "G": _("Wholesale and retail"),
        "H": _("Transport and storage"),
        "I": _("Accommodation and food"),
        "J": _("Information and communication"),
        "K": _("Finance and insurance"),
        "L": _("Real estate"),
        "M": _("Professional and scientific services"),
        "N": _("Business support services"),
        "O": _("Public administration"),
        "P": _("Education"),
        "Q": _("Health and social work"),
        "R": _("Arts, sports and recreation"),
        "S": _("Other personal services"),
    }.get(letter, str(letter or _("unclassified")))


def size_name(value) -> str:
    return _("%(size)s employees") % {"size": value}


def month_name(value) -> str:
    return str(value or "").replace("-", ".")


def _note(rows) -> str:
    if not any(r.get("suppressed") for r in rows):
        return ""
    return _(
        "Cells shown as · are withheld to protect privacy: too few distinct cards or companies, "
        "or one business dominating the figure."
    )


def _shown(rows):
    return [r for r in rows if not r.get("suppressed")]


def _top(pairs, n=3):
    return sorted((p for p in pairs if p[1] is not None), key=lambda p: -p[1])[:n]


def _slug(feature: str) -> str:
    release = selectors.feature_release(feature)
    return release.slug if release else ""


def _missing(key: str, title: str) -> Chart:
    return Chart(key, title, sentences=[_("These statistics have not been published yet.")])


# --- the Gyeonggi overview --------------------------------------------------------------------


def gg_map(params: dict, *, link: Callable[[str], str] | None = None) -> Chart:
    title = _("Local-currency spending by city and county")
    rows = selectors.feature_rows(Feature.SPEND_REGION)
    if not rows:
        return _missing("gg-map", title)
    values = {r["sigungu_code"]: r.get("sum_amount") for r in rows}
    region_map = regions.region_map()
    svg = charts.choropleth(region_map, values, title=title, value_format=won_short, link=link)
    shown = _shown(rows)
    total = sum(r["sum_amount"] for r in shown) or 1
    top = _top([(r["sigungu_code"], r["sum_amount"]) for r in shown])
    sentences = []
    if len(top) == 3:
        sentences.append(
            _(
                "%(first)s had the most local-currency spending (%(amount)s, %(share)s%% of the "
                "figures shown), followed by %(second)s and %(third)s."
            )
            % {
                "first": region_name(top[0][0]),
                "amount": won(top[0][1]),
                "share": percent(100 * top[0][1] / total),
                "second": region_name(top[1][0]),
                "third": region_name(top[2][0]),
            }
        )
    low = sorted(shown, key=lambda r: r["sum_amount"])[:1]
    if low:
        sentences.append(
            _("The least was spent in %(region)s (%(amount)s).")
            % {"region": region_name(low[0]["sigungu_code"]), "amount": won(low[0]["sum_amount"])}
        )
    by_code = {r["sigungu_code"]: r for r in rows}
    table = [
        [
            region.code,
            region.label,
            by_code.get(region.code, {}).get("sum_amount"),
            by_code.get(region.code, {}).get("records"),
        ]
        for region in gyeonggi_regions()
    ]
    return Chart(
        "gg-map",
        title,
        svg,
        [_("Code"), _("City or county"), _("Spending (won)"), _("Payments")],
        table,
        sentences,
        _note(rows),
        _slug(Feature.SPEND_REGION),
        money_columns=(2,),
    )


def _monthly_sentences(months, amounts, *, where: str) -> list[str]:
    pairs = [(m, a) for m, a in zip(months, amounts, strict=True) if a is not None]
    if len(pairs) < 2:
        return []
    high = max(pairs, key=lambda p: p[1])
    low = min(pairs, key=lambda p: p[1])
    sentences = [
        _(
            "In %(where)s, spending was highest in %(high)s "
            "(%(high_amount)s) and lowest in %(low)s (%(low_amount)s)."
        )
        % {
            "where": where,
            "high": month_name(high[0]),
            "high_amount": won(high[1]),
            "low": month_name(low[0]),
            "low_amount": won(low[1]),
        }
    ]
    first, last = pairs[0], pairs[-1]
    if first[1]:
        change = 100 * (last[1] - first[1]) / first[1]
        template = (
            _("From %(first)s to %(last)s it rose by %(change)s%%.")
            if change >= 0
            else _("From %(first)s to %(last)s it fell by %(change)s%%.")
        )
        sentences.append(
            template
            % {"first": month_name(first[0]), "last": month_name(last[0]), "change": percent(abs(change))}
        )
    return sentences


def gg_trend(params: dict) -> Chart:
    title = _("Monthly local-currency spending in Gyeonggi")
    rows = selectors.feature_rows(Feature.SPEND_MONTH)
    if not rows:
        return _missing("gg-trend", title)
    months = [r["month"] for r in rows]
    amounts = [r.get("sum_amount") for r in rows]
    svg = base_charts.bar_chart(
        [(month_name(m), a or 0) for m, a in zip(months, amounts, strict=True)],
        title=title,
        value_format=won_short,
    )
    return Chart(
        "gg-trend",
        title,
        svg,
        [_("Month"), _("Spending (won)"), _("Payments"), _("Average payment (won)")],
        [[m, r.get("sum_amount"), r.get("records"), _ticket(r)] for m, r in zip(months, rows, strict=True)],
        _monthly_sentences(months, amounts, where=_("Gyeonggi")),
        _note(rows),
        _slug(Feature.SPEND_MONTH),
        money_columns=(1, 3),
    )


def _ticket(row) -> float | None:
    if row.get("suppressed") or not row.get("records"):
        return None
    return round(row["sum_amount"] / row["records"])


def _industry_chart(key: str, title: str, rows, *, where: str, limit: int = 15) -> Chart:
    shown = _shown(rows)
    total = sum(r["sum_amount"] for r in shown) or 1
    ordered = sorted(rows, key=lambda r: -(r.get("sum_amount") or -1))
    svg = base_charts.horizontal_bar_chart(
        [(r["industry"], r["sum_amount"]) for r in ordered if not r.get("suppressed")][:limit],
        title=title,
        value_format=won_short,
    )
    top = _top([(r["industry"], r["sum_amount"]) for r in shown])
    sentences = []
    if len(top) == 3:
        sentences.append(
            _("In %(where)s, %(first)s, %(second)s and %(third)s took %(share)s%% of the spending shown.")
            % {
                "where": where,
                "first": top[0][0],
                "second": top[1][0],
                "third": top[2][0],
                "share": percent(100 * sum(t[1] for t in top) / total),
            }
        )
    return Chart(
        key,
        title,
        svg,
        [_("Industry"), _("Spending (won)"), _("Payments"), _("Average payment (won)")],
        [[r["industry"], r.get("sum_amount"), r.get("records"), _ticket(r)] for r in ordered],
        sentences,
        _note(rows),
        money_columns=(1, 3),
    )


def gg_industries(params: dict) -> Chart:
    title = _("Spending by industry in Gyeonggi")
    rows = selectors.feature_rows(Feature.SPEND_INDUSTRY)
    if not rows:
        return _missing("gg-industries", title)
    chart = _industry_chart("gg-industries", title, rows, where=_("Gyeonggi"))
    chart.source = _slug(Feature.SPEND_INDUSTRY)
    return chart


def _people_chart(key: str, title: str, rows, *, where: str) -> Chart:
    shown = _shown(rows)
    total = sum(r["sum_amount"] for r in shown) or 1
    svg = base_charts.horizontal_bar_chart(
        [(f"{age_name(r['age_band'])} {sex_name(r['sex'])}", r["sum_amount"]) for r in shown],
        title=title,
        value_format=won_short,
    )
    by_age = defaultdict(float)
    women = 0.0
    for r in shown:
        by_age[r["age_band"]] += r["sum_amount"]
        if r["sex"] == "F":
            women += r["sum_amount"]
    sentences = []
    if by_age:
        age, amount = max(by_age.items(), key=lambda p: p[1])
        sentences.append(
            _("In %(where)s, people in their %(age)s spent the most (%(share)s%% of the spending shown).")
            % {"where": where, "age": age_name(age), "share": percent(100 * amount / total)}
        )
        sentences.append(
            _("Women made %(share)s%% of the spending shown.") % {"share": percent(100 * women / total)}
        )
    return Chart(
        key,
        title,
        svg,
        [_("Age band"), _("Sex"), _("Spending (won)"), _("Payments")],
        [[age_name(r["age_band"]), sex_name(r["sex"]), r.get("sum_amount"), r.get("records")] for r in rows],
        sentences,
        _note(rows),
        money_columns=(2,),
    )


def gg_people(params: dict) -> Chart:
    title = _("Spending by age band and sex in Gyeonggi")
    rows = selectors.feature_rows(Feature.SPEND_AGE_SEX)
    if not rows:
        return _missing("gg-people", title)
    chart = _people_chart("gg-people", title, rows, where=_("Gyeonggi"))
    chart.source = _slug(Feature.SPEND_AGE_SEX)
    return chart


def gg_week(params: dict) -> Chart:
    title = _("Payments by weekday and hour in Gyeonggi")
    rows = selectors.feature_rows(Feature.SPEND_WEEKDAY_HOUR)
    if not rows:
        return _missing("gg-week", title)
    grid = {(r["weekday"], r["hour"]): (None if r.get("suppressed") else r["records"]) for r in rows}
    days, hours = list(range(1, 8)), list(range(24))
    svg = charts.heatmap(
        [weekday_short(d) for d in days],
        [str(h) for h in hours],
        [[grid.get((d, h)) for h in hours] for d in days],
        title=title,
    )
    by_day, by_hour = defaultdict(float), defaultdict(float)
    for (d, h), n in grid.items():
        if n is not None:
            by_day[d] += n
            by_hour[h] += n
    sentences = []
    if by_day and by_hour:
        sentences.append(
            _("Payments peak on %(weekday)s and around %(hour)s; the quietest day is %(quiet)s.")
            % {
                "weekday": weekday_name(max(by_day.items(), key=lambda p: p[1])[0]),
                "hour": hour_name(max(by_hour.items(), key=lambda p: p[1])[0]),
                "quiet": weekday_name(min(by_day.items(), key=lambda p: p[1])[0]),
            }
        )
    return Chart(
        "gg-week",
        title,
        svg,
        [_("Weekday"), _("Hour"), _("Payments"), _("Spending (won)")],
        [[weekday_name(r["weekday"]), r["hour"], r.get("records"), r.get("sum_amount")] for r in rows],
        sentences,
        _note(rows),
        _slug(Feature.SPEND_WEEKDAY_HOUR),
        money_columns=(3,),
    )


def _jobs_chart(key: str, title: str, rows, *, codes=None) -> Chart:
    if codes is not None:
        rows = [r for r in rows if r["sigungu_code"] in codes]
    wage_key = next((k for k in (rows[0] if rows else {}) if k.startswith("avg_")), "avg_monthly_wage")
    ordered = sorted(rows, key=lambda r: -(r.get("records") or -1))
    svg = base_charts.horizontal_bar_chart(
        [(region_name(r["sigungu_code"]), r["records"]) for r in ordered if not r.get("suppressed")],
        title=title,
    )
    shown = _shown(rows)
    sentences = []
    if shown:
        most = max(shown, key=lambda r: r["records"])
        best = max(shown, key=lambda r: r.get(wage_key) or 0)
        sentences.append(
            _(
                "%(region)s had the most job postings (%(count)s); offered monthly wages were highest "
                "in %(wage_region)s (on average %(wage)s)."
            )
            % {
                "region": region_name(most["sigungu_code"]),
                "count": number(most["records"]),
                "wage_region": region_name(best["sigungu_code"]),
                "wage": won(best.get(wage_key)),
            }
        )
    return Chart(
        key,
        title,
        svg,
        [_("City or county"), _("Job postings"), _("Average offered monthly wage (won)")],
        [[region_name(r["sigungu_code"]), r.get("records"), r.get(wage_key)] for r in ordered],
        sentences,
        _note(rows),
        _slug(Feature.JOBS_REGION),
        money_columns=(2,),
    )


def gg_jobs(params: dict) -> Chart:
    title = _("Job postings and offered wages by city and county")
    rows = selectors.feature_rows(Feature.JOBS_REGION)
    if not rows:
        return _missing("gg-jobs", title)
    return _jobs_chart("gg-jobs", title, rows)


def gg_companies(params: dict) -> Chart:
    title = _("Companies by industry and size")
    rows = selectors.feature_rows(Feature.COMPANIES_INDUSTRY_SIZE)
    if not rows:
        return _missing("gg-companies", title)
    shown = _shown(rows)
    by_section = defaultdict(int)
    small = 0
    for r in shown:
        by_section[r["section"]] += r["records"]
        if r["size"] in ("1-4", "5-9"):
            small += r["records"]
    total = sum(by_section.values()) or 1
    ordered = sorted(by_section.items(), key=lambda p: -p[1])
    svg = base_charts.horizontal_bar_chart([(ksic_name(s), n) for s, n in ordered], title=title)
    sentences = []
    if ordered:
        sentences.append(
            _(
                "Most companies are in %(section)s (%(count)s); %(share)s%% of "
                "the companies shown employ fewer than 10 people."
            )
            % {
                "section": ksic_name(ordered[0][0]),
                "count": number(ordered[0][1]),
                "share": percent(100 * small / total),
            }
        )
    return Chart(
        "gg-companies",
        title,
        svg,
        [_("Industry"), _("Size"), _("Companies")],
        [[ksic_name(r["section"]), size_name(r["size"]), r.get("records")] for r in rows],
        sentences,
        _note(rows),
        _slug(Feature.COMPANIES_INDUSTRY_SIZE),
    )


# --- one 시·군 ---------------------------------------------------------------------------------


def _index(values):
    """Values as an index: the average of the shown values = 100."""
    shown = [v for v in values if v is not None]
    mean = sum(shown) / len(shown) if shown else 0
    return [round(100 * v / mean, 1) if v is not None and mean else None for v in values]


def region_trend(params: dict) -> Chart:
    code = params["region"]
    name = region_name(code)
    title = _("Monthly spending in %(region)s and in Gyeonggi (index, average month = 100)") % {
        "region": name
    }
    rows = selectors.feature_rows(Feature.SPEND_REGION_MONTH, sigungu_code=code)
    gg = {r["month"]: r for r in selectors.feature_rows(Feature.SPEND_MONTH)}
    if not rows:
        return _missing("region-trend", title)
    months = [r["month"] for r in rows]
    local = [r.get("sum_amount") for r in rows]
    overall = [gg.get(m, {}).get("sum_amount") for m in months]
    svg = charts.line_chart(
        [month_name(m) for m in months],
        [(name, _index(local)), (_("Gyeonggi"), _index(overall))],
        title=title,
    )
    sentences = _monthly_sentences(months, local, where=name)
    both = [(a, b) for a, b in zip(local, overall, strict=True) if a is not None and b is not None]
    shown_local, shown_gg = sum(a for a, _b in both), sum(b for _a, b in both)
    if shown_gg:
        sentences.append(
            _("%(region)s accounts for %(share)s%% of Gyeonggi's local-currency spending in these months.")
            % {"region": name, "share": percent(100 * shown_local / shown_gg)}
        )
    return Chart(
        "region-trend",
        title,
        svg,
        [_("Month"), _("Spending in %(region)s (won)") % {"region": name}, _("Spending in Gyeonggi (won)")],
        [[m, a, b] for m, a, b in zip(months, local, overall, strict=True)],
        sentences,
        _note(rows),
        _slug(Feature.SPEND_REGION_MONTH),
        money_columns=(1, 2),
    )


def _per_resident(rows_by_code, code):
    row = rows_by_code.get(code)
    region = regions_by_code().get(code)
    if not row or row.get("suppressed") or not region or not region.population:
        return None
    return round(row["sum_amount"] / region.population)


def region_map(params: dict, *, link: Callable[[str], str] | None = None) -> Chart:
    code = params["region"]
    name = region_name(code)
    title = _("%(region)s and its neighbours: local-currency spending per resident") % {"region": name}
    rows = selectors.feature_rows(Feature.SPEND_REGION)
    if not rows:
        return _missing("region-map", title)
    by_code = {r["sigungu_code"]: r for r in rows}
    near = regions.neighbours(code)
    values = {c: _per_resident(by_code, c) for c in regions_by_code()}
    svg = charts.choropleth(
        regions.region_map(), values, title=title, value_format=won, link=link, highlight=code, outline=near
    )
    mine = values.get(code)
    others = [values[c] for c in near if values.get(c) is not None]
    sentences = []
    if mine is not None and others:
        average = sum(others) / len(others)
        template = (
            _(
                "Per resident, %(region)s spent %(amount)s in local currency: more "
                "than the average of its neighbours (%(average)s)."
            )
            if mine >= average
            else _(
                "Per resident, %(region)s spent %(amount)s in local currency: less "
                "than the average of its neighbours (%(average)s)."
            )
        )
        sentences.append(template % {"region": name, "amount": won(mine), "average": won(average)})
    if near:
        sentences.append(_("Neighbours: %(names)s.") % {"names": ", ".join(region_name(c) for c in near)})
    table = [[c, region_name(c), by_code.get(c, {}).get("sum_amount"), values.get(c)] for c in [code, *near]]
    return Chart(
        "region-map",
        title,
        svg,
        [_("Code"), _("City or county"), _("Spending (won)"), _("Spending per resident (won)")],
        table,
        sentences,
        _note([by_code.get(c, {"suppressed": True}) for c in [code, *near]]),
        _slug(Feature.SPEND_REGION),
        money_columns=(2, 3),
    )


def region_industries(params: dict) -> Chart:
    code = params["region"]
    name = region_name(code)
    title = _("Spending by industry in %(region)s") % {"region": name}
    rows = selectors.feature_rows(Feature.SPEND_REGION_INDUSTRY, sigungu_code=code)
    if not rows:
        return _missing("region-industries", title)
    chart = _industry_chart("region-industries", title, rows, where=name, limit=12)
    chart.source = _slug(Feature.SPEND_REGION_INDUSTRY)
    return chart


def region_people(params: dict) -> Chart:
    code = params["region"]
    name = region_name(code)
    title = _("Spending by age band and sex in %(region)s") % {"region": name}
    rows = selectors.feature_rows(Feature.SPEND_REGION_AGE_SEX, sigungu_code=code)
    if not rows:
        return _missing("region-people", title)
    chart = _people_chart("region-people", title, rows, where=name)
    chart.source = _slug(Feature.SPEND_REGION_AGE_SEX)
    return chart


def _busiest(key, title, rows, *, dim: str, label, where: str, source: str, count: int = 2) -> Chart:
    ordered = sorted(rows, key=lambda r: r[dim])
    svg = base_charts.bar_chart(
        [(label(r[dim]), None if r.get("suppressed") else r["records"]) for r in ordered], title=title
    )
    top = _top([(r[dim], r["records"]) for r in _shown(rows)], count)
    sentences = []
    if top:
        quiet = min(_shown(rows), key=lambda r: r["records"])
        sentences.append(
            _("In %(where)s, the busiest times are %(busiest)s; the quietest is %(quiet)s.")
            % {"where": where, "busiest": ", ".join(label(t[0]) for t in top), "quiet": label(quiet[dim])}
        )
    return Chart(
        key,
        title,
        svg,
        [_("Weekday") if dim == "weekday" else _("Hour"), _("Payments"), _("Spending (won)")],
        [[label(r[dim]), r.get("records"), r.get("sum_amount")] for r in ordered],
        sentences,
        _note(rows),
        source,
        money_columns=(2,),
    )


def region_weekdays(params: dict) -> Chart:
    code = params["region"]
    name = region_name(code)
    title = _("Payments by weekday in %(region)s") % {"region": name}
    rows = selectors.feature_rows(Feature.SPEND_REGION_WEEKDAY, sigungu_code=code)
    if not rows:
        return _missing("region-weekdays", title)
    return _busiest(
        "region-weekdays",
        title,
        rows,
        dim="weekday",
        label=weekday_name,
        where=name,
        source=_slug(Feature.SPEND_REGION_WEEKDAY),
    )


def region_hours(params: dict) -> Chart:
    code = params["region"]
    name = region_name(code)
    title = _("Payments by hour in %(region)s") % {"region": name}
    rows = selectors.feature_rows(Feature.SPEND_REGION_HOUR, sigungu_code=code)
    if not rows:
        return _missing("region-hours", title)
    return _busiest(
        "region-hours",
        title,
        rows,
        dim="hour",
        label=hour_name,
        where=name,
        source=_slug(Feature.SPEND_REGION_HOUR),
        count=3,
    )


def region_jobs(params: dict) -> Chart:
    code = params["region"]
    name = region_name(code)
    title = _("Job postings in %(region)s and its neighbours") % {"region": name}
    rows = selectors.feature_rows(Feature.JOBS_REGION)
    if not rows:
        return _missing("region-jobs", title)
    return _jobs_chart("region-jobs", title, rows, codes={code, *regions.neighbours(code)})


# --- my business vs my area --------------------------------------------------------------------


def _index_sentence(months, local_index, overall_index, *, industry: str, region: str) -> list[str]:
    """The last month with both indexes, in words (none when there is no such month)."""
    last = next(
        (
            i
            for i in range(len(months) - 1, -1, -1)
            if local_index[i] is not None and overall_index[i] is not None
        ),
        None,
    )
    if last is None:
        return []
    return [
        _(
            "In %(month)s, %(industry)s in %(region)s stood at %(index)s against its own monthly average "
            "of 100, while %(industry)s across Gyeonggi stood at %(gg_index)s."
        )
        % {
            "month": month_name(months[last]),
            "industry": industry,
            "region": region,
            "index": number(local_index[last], 1),
            "gg_index": number(overall_index[last], 1),
        }
    ]


def compare_trend(params: dict) -> Chart:
    code, industry = params["region"], params["industry"]
    name = region_name(code)
    title = _("%(industry)s in %(region)s and in Gyeonggi, month by month (index, average month = 100)") % {
        "industry": industry,
        "region": name,
    }
    rows = selectors.feature_rows(Feature.SPEND_REGION_INDUSTRY_MONTH, sigungu_code=code, industry=industry)
    gg = {r["month"]: r for r in selectors.feature_rows(Feature.SPEND_INDUSTRY_MONTH, industry=industry)}
    if not rows:
        return _missing("compare-trend", title)
    months = [r["month"] for r in rows]
    local = [r.get("sum_amount") for r in rows]
    overall = [gg.get(m, {}).get("sum_amount") for m in months]
    local_index, overall_index = _index(local), _index(overall)
    svg = charts.line_chart(
        [month_name(m) for m in months],
        [
            (f"{name} {industry}", local_index),
            (_("Gyeonggi %(industry)s") % {"industry": industry}, overall_index),
        ],
        title=title,
    )
    sentences = _monthly_sentences(months, local, where=f"{name} {industry}")
    sentences += _index_sentence(months, local_index, overall_index, industry=industry, region=name)
    return Chart(
        "compare-trend",
        title,
        svg,
        [
            _("Month"),
            _("Spending in %(region)s (won)") % {"region": name},
            _("Spending in Gyeonggi (won)"),
            _("Index in %(region)s") % {"region": name},
            _("Index in Gyeonggi"),
        ],
        [
            [m, a, b, i, j]
            for m, a, b, i, j in zip(months, local, overall, local_index, overall_index, strict=True)
        ],
        sentences,
        _note(rows),
        _slug(Feature.SPEND_REGION_INDUSTRY_MONTH),
        money_columns=(1, 2),
    )


def compare_ticket(params: dict) -> Chart:
    code, industry = params["region"], params["industry"]
    name = region_name(code)
    title = _("Average payment at %(industry)s: %(region)s and Gyeonggi") % {
        "industry": industry,
        "region": name,
    }
    local_rows = selectors.feature_rows(Feature.SPEND_REGION_INDUSTRY, sigungu_code=code, industry=industry)
    gg_rows = selectors.feature_rows(Feature.SPEND_INDUSTRY, industry=industry)
    if not local_rows and not gg_rows:
        return _missing("compare-ticket", title)
    mine = _ticket(local_rows[0]) if local_rows else None
    theirs = _ticket(gg_rows[0]) if gg_rows else None
    svg = base_charts.bar_chart(
        [(name, mine or 0), (_("Gyeonggi"), theirs or 0)], title=title, value_format=won_short
    )
    sentences = _ticket_sentences(mine, theirs, industry=industry, region=name)
    return Chart(
        "compare-ticket",
        title,
        svg,
        [_("Area"), _("Average payment (won)"), _("Payments"), _("Spending (won)")],
        [_ticket_row(name, mine, local_rows), _ticket_row(_("Gyeonggi"), theirs, gg_rows)],
        sentences,
        _note(local_rows + gg_rows),
        _slug(Feature.SPEND_REGION_INDUSTRY),
        money_columns=(1, 3),
    )


def _ticket_row(area: str, ticket, rows) -> list:
    return [
        area,
        ticket,
        rows[0].get("records") if rows else None,
        rows[0].get("sum_amount") if rows else None,
    ]


def _ticket_sentences(mine, theirs, *, industry: str, region: str) -> list[str]:
    """The area's average payment against Gyeonggi's, or Gyeonggi's alone when the area's is
    withheld."""
    sentences = []
    if mine is not None and theirs:
        diff = 100 * (mine - theirs) / theirs
        template = (
            _(
                "An average %(industry)s payment in %(region)s was %(ticket)s: "
                "%(pct)s%% more than across Gyeonggi (%(gg_ticket)s)."
            )
            if diff >= 0
            else _(
                "An average %(industry)s payment in %(region)s was %(ticket)s: "
                "%(pct)s%% less than across Gyeonggi (%(gg_ticket)s)."
            )
        )
        sentences.append(
            template
            % {
                "industry": industry,
                "region": region,
                "ticket": won(mine),
                "pct": percent(abs(diff)),
                "gg_ticket": won(theirs),
            }
        )
    elif theirs is not None:
        sentences.append(
            _(
                "The figure for %(region)s is withheld to protect privacy; across "
                "Gyeonggi an average %(industry)s payment was %(gg_ticket)s."
            )
            % {"region": region, "industry": industry, "gg_ticket": won(theirs)}
        )
    return sentences


def compare_weekdays(params: dict) -> Chart:
    code, industry = params["region"], params["industry"]
    name = region_name(code)
    title = _("%(industry)s in %(region)s: payments by weekday") % {"industry": industry, "region": name}
    rows = selectors.feature_rows(Feature.SPEND_REGION_INDUSTRY_WEEKDAY, sigungu_code=code, industry=industry)
    if not rows:
        return _missing("compare-weekdays", title)
    return _busiest(
        "compare-weekdays",
        title,
        rows,
        dim="weekday",
        label=weekday_name,
        where=f"{name} {industry}",
        source=_slug(Feature.SPEND_REGION_INDUSTRY_WEEKDAY),
    )


def compare_hours(params: dict) -> Chart:
    code, industry = params["region"], params["industry"]
    name = region_name(code)
    title = _("%(industry)s in %(region)s: payments by hour") % {"industry": industry, "region": name}
    rows = selectors.feature_rows(Feature.SPEND_REGION_INDUSTRY_HOUR, sigungu_code=code, industry=industry)
    if not rows:
        return _missing("compare-hours", title)
    return _busiest(
        "compare-hours",
        title,
        rows,
        dim="hour",
        label=hour_name,
        where=f"{name} {industry}",
        source=_slug(Feature.SPEND_REGION_INDUSTRY_HOUR),
        count=3,
    )


def _year_before(month: str) -> str:
    year, mm = month.split("-")
    return f"{int(year) - 1:04d}-{mm}"


def _change(now, then):
    """Percent change from `then` to `now` (None when either is withheld or `then` is 0)."""
    return 100 * (now - then) / then if now is not None and then else None


def _year_table(by_month: dict, gg: dict) -> tuple[list, list]:
    """Rows (month, spending, a year earlier, change, change in Gyeonggi) for every month with
    a year before it, and the chart's (month label, change) bars."""
    table, bars = [], []
    for month in sorted(by_month):
        before = by_month.get(_year_before(month))
        if before is None:
            continue
        now_amount, then_amount = by_month[month].get("sum_amount"), before.get("sum_amount")
        change = _change(now_amount, then_amount)
        gg_change = _change(
            gg.get(month, {}).get("sum_amount"), gg.get(_year_before(month), {}).get("sum_amount")
        )
        table.append([month, now_amount, then_amount, _round(change), _round(gg_change)])
        bars.append((month_name(month), change))
    return table, bars


def _year_sentences(last: list, *, industry: str, region: str) -> list[str]:
    if last[3] is None:
        return []
    template = (
        _("In %(month)s, %(industry)s spending in %(region)s was %(pct)s%% higher than a year earlier.")
        if last[3] >= 0
        else _("In %(month)s, %(industry)s spending in %(region)s was %(pct)s%% lower than a year earlier.")
    )
    return [
        template
        % {"month": month_name(last[0]), "industry": industry, "region": region, "pct": percent(abs(last[3]))}
    ]


def compare_year(params: dict) -> Chart:
    code, industry = params["region"], params["industry"]
    name = region_name(code)
    title = _("%(industry)s in %(region)s: change against the same month a year earlier") % {
        "industry": industry,
        "region": name,
    }
    rows = selectors.feature_rows(Feature.SPEND_REGION_INDUSTRY_MONTH, sigungu_code=code, industry=industry)
    gg = {r["month"]: r for r in selectors.feature_rows(Feature.SPEND_INDUSTRY_MONTH, industry=industry)}
    if not rows:
        return _missing("compare-year", title)
    by_month = {r["month"]: r for r in rows}
    table, bars = _year_table(by_month, gg)
    if not table:
        months = sorted(by_month)
        return Chart(
            "compare-year",
            title,
            sentences=[
                _(
                    "The published figures cover %(first)s to %(last)s only, so there is no same month "
                    "a year earlier to compare with yet."
                )
                % {"first": month_name(months[0]), "last": month_name(months[-1])}
            ],
            source=_slug(Feature.SPEND_REGION_INDUSTRY_MONTH),
        )
    svg = charts.line_chart(
        [b[0] for b in bars],
        [
            (f"{name} {industry}", [b[1] for b in bars]),
            (_("Gyeonggi %(industry)s") % {"industry": industry}, [t[4] for t in table]),
        ],
        title=title,
        value_format=lambda v: f"{number(v, 1)}%",
    )
    sentences = _year_sentences(table[-1], industry=industry, region=name)
    return Chart(
        "compare-year",
        title,
        svg,
        [
            _("Month"),
            _("Spending (won)"),
            _("A year earlier (won)"),
            _("Change (%)"),
            _("Change in Gyeonggi (%)"),
        ],
        table,
        sentences,
        _note(rows),
        _slug(Feature.SPEND_REGION_INDUSTRY_MONTH),
        money_columns=(1, 2),
    )


def _round(value):
    return None if value is None else round(value, 1)


# --- official statistics (published figures, loaded by `import_open_statistics`) ---------------

USE = "sum_월별카드사용액(천원)"
ISSUED = "sum_월별카드발행수량(건)"


def _official(key: str, title: str, rows: list[dict], *, where: str) -> Chart:
    """Monthly local-currency card use from the official table (thousand won → won), with the
    source named under the chart."""
    by_month: dict[str, list] = {}
    for row in rows:
        use, issued = row.get(USE), row.get(ISSUED)
        total = by_month.setdefault(row["month"], [0, 0])
        total[0] += (use or 0) * 1000
        total[1] += issued or 0
    months = sorted(by_month)
    amounts = [by_month[m][0] for m in months]
    svg = base_charts.bar_chart(
        [(month_name(m), a) for m, a in zip(months, amounts, strict=True)],
        title=title,
        value_format=won_short,
    )
    release = selectors.feature_release(Feature.OFFICIAL_CURRENCY_USE)
    note = _("Official statistics as published, not computed by Jangteo. Source: %(source)s") % {
        "source": release.attribution if release else ""
    }
    return Chart(
        key,
        title,
        svg,
        [_("Month"), _("Card spending (won)"), _("Cards issued")],
        [[m, by_month[m][0], by_month[m][1]] for m in months],
        _monthly_sentences(months, amounts, where=where),
        note,
        _slug(Feature.OFFICIAL_CURRENCY_USE),
        money_columns=(1,),
    )


def gg_official(params: dict) -> Chart:
    title = _("Local-currency card spending in Gyeonggi, official statistics")
    rows = selectors.feature_rows(Feature.OFFICIAL_CURRENCY_USE)
    if not rows:
        return _missing("gg-official", title)
    return _official("gg-official", title, rows, where=_("Gyeonggi"))


def region_official(params: dict) -> Chart:
    name = region_name(params["region"])
    title = _("Local-currency card spending in %(region)s, official statistics") % {"region": name}
    rows = selectors.feature_rows(Feature.OFFICIAL_CURRENCY_USE, sigungu_code=params["region"])
    if not rows:
        return _missing("region-official", title)
    return _official("region-official", title, rows, where=name)


# --- registry -----------------------------------------------------------------------------------

OVERVIEW = (
    "gg-map",
    "gg-trend",
    "gg-industries",
    "gg-people",
    "gg-week",
    "gg-jobs",
    "gg-companies",
    "gg-official",
)
REGION = (
    "region-map",
    "region-trend",
    "region-industries",
    "region-people",
    "region-weekdays",
    "region-hours",
    "region-jobs",
    "region-official",
)
COMPARE = ("compare-trend", "compare-ticket", "compare-weekdays", "compare-hours", "compare-year")

BUILDERS: dict[str, Callable[..., Chart]] = {
    "gg-map": gg_map,
    "gg-trend": gg_trend,
    "gg-industries": gg_industries,
    "gg-people": gg_people,
    "gg-week": gg_week,
    "gg-jobs": gg_jobs,
    "gg-companies": gg_companies,
    "gg-official": gg_official,
    "region-map": region_map,
    "region-trend": region_trend,
    "region-industries": region_industries,
    "region-people": region_people,
    "region-weekdays": region_weekdays,
    "region-hours": region_hours,
    "region-jobs": region_jobs,
    "region-official": region_official,
    "compare-trend": compare_trend,
    "compare-ticket": compare_ticket,
    "compare-weekdays": compare_weekdays,
    "compare-hours": compare_hours,
    "compare-year": compare_year,
}
NEEDS = {key: ("region",) for key in REGION} | {key: ("region", "industry") for key in COMPARE}


def industries() -> list[str]:
    """Industries the comparison can be made for: those of the region × industry releases (the
    coarser one may be withheld beside the finer ones: insights.crosscheck)."""

    def compute() -> list[str]:
        found: set = set()
        for feature in (Feature.SPEND_REGION_INDUSTRY, Feature.SPEND_REGION_INDUSTRY_MONTH):
            found.update(selectors.feature_values(feature, "industry"))
        return sorted(found, key=str)

    # Every compare page checks its industry against this list: kept small in the cache rather
    # than read out of the (large) region × industry × month rows each time.
    return cache.cached("industries", (), compute)


def clean_params(raw) -> dict:
    """`region` and `industry` from a query string or URL, kept only when valid."""
    params = {}
    region = str(raw.get("region") or "").strip()
    if region in regions_by_code():
        params["region"] = region
    industry = str(raw.get("industry") or "").strip()
    if industry and industry in industries():
        params["industry"] = industry
    return params


def build(key: str, params: dict, **kwargs) -> Chart:
    """The chart `key` for `params`; UnknownChart when there is no such chart or a filter it
    needs is missing."""
    builder = BUILDERS.get(key)
    if builder is None or any(p not in params for p in NEEDS.get(key, ())):
        raise UnknownChart(key)
    return builder(params, **kwargs)
