"""Risk reports of record-level offers as the site stores, shows and enforces them.

`catalog.risk` measures (no Django); this module reads the operator's threshold, computes an
offer's report over a version (`report_for`), turns a report into translated messages naming
each measure above the threshold (`violation_messages`), and the rows of the small table the
offer and review pages show (`table_rows`). Services in `catalog.services` store the report.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.utils.translation import gettext as _

from catalog import privacy, risk, spark
from catalog.models import DatasetVersion, Offer, RiskThresholdSetting
from catalog.policy import OfferPolicy

log = logging.getLogger(__name__)


def threshold() -> risk.RiskThreshold:
    """The operator's threshold; the defaults of `RiskThreshold` while none was set."""
    row = RiskThresholdSetting.objects.order_by("pk").first()
    if row is None:
        return risk.RiskThreshold.from_dict(getattr(settings, "RISK_THRESHOLD_DEFAULTS", None))
    return risk.RiskThreshold(
        min_k=row.min_k,
        max_sample_uniqueness=row.max_sample_uniqueness,
        max_unicity=row.max_unicity,
        max_linkage=row.max_linkage,
    )


def report_for(policy: OfferPolicy, version: DatasetVersion, progress=None) -> risk.RiskReport | None:
    """The risk report of a record-level `policy` over `version`'s data (None for an aggregate
    or a version without data). Bounded: trajectories are evaluated on a deterministic sample of
    at most `risk.MAX_SUBJECTS` subjects; the other measures are one GROUP BY each. `progress`
    (a worker's measurement): called with the share done, on a connection of its own."""
    from django.core.files.storage import default_storage

    from catalog import selectors
    from marketplace.duckdb import connect, reader, report_progress

    if policy.is_aggregate or not version.parquet or not default_storage.exists(version.parquet):
        return None  # nothing to measure: no data file (yet, or any more)
    schema = [
        privacy.Column(n, t, s) for n, t, s in version.fields.values_list("name", "type", "sensitivity")
    ]
    files = selectors.version_files(version)  # one file, or a partitioned version's files
    try:
        if _on_spark(files, schema, policy):
            log.info("risk of an offer over version %s measured on Spark", version.pk)
            return spark.risk_report(files, schema, policy, progress=progress)
        con = reader() if progress is None else connect()
        try:
            if progress is not None:
                report_progress(con)
            return risk.assess_policy(con, parquet=files, schema=schema, policy=policy, progress=progress)
        finally:
            con.close()
    except privacy.PlanError:
        return None


def _on_spark(files, schema: list, policy: OfferPolicy) -> bool:
    """Whether an offer's report is measured on Spark: Spark is configured and answers, the
    version holds at least SPARK_MIN_SCAN_BYTES (the threshold extracts use) and the plan has a
    Spark form. Otherwise DuckDB measures it, as before."""
    if not spark.scan_is_large(files):
        return False
    reason = spark.compilable({c.name: c for c in schema}, policy, {})
    if reason:
        log.info("risk measured on DuckDB, not Spark: %s", reason)
        return False
    if not spark.reachable():
        log.warning(
            "Spark Connect at %s does not answer; the risk is measured on DuckDB", settings.SPARK_REMOTE
        )
        return False
    return True


def _share(value: float) -> str:
    return f"{value * 100:.1f}%"


def violation_messages(report: dict | None, limit: risk.RiskThreshold | None = None) -> list[str]:
    """One translated sentence per measure of `report` (stored JSON) above the threshold."""
    if not report:
        return []
    limit = limit or threshold()
    messages = []
    for code, v in risk.RiskReport.from_dict(report).violations(limit):
        if code == "k":
            messages.append(
                _("k-anonymity is %(k)s, below the minimum of %(min_k)s.")
                % {"k": v["k"], "min_k": v["min_k"]}
            )
        elif code == "uniqueness":
            messages.append(
                _("Sample uniqueness is %(share)s, above the maximum of %(max)s.")
                % {"share": _share(v["share"]), "max": _share(v["max"])}
            )
        elif code == "unicity":
            messages.append(
                _("Trajectory unicity with %(p)s known points is %(share)s, above the maximum of %(max)s.")
                % {"p": v["p"], "share": _share(v["share"]), "max": _share(v["max"])}
            )
        elif code == "linkage":
            messages.append(
                _("Cross-license linkage is %(share)s, above the maximum of %(max)s.")
                % {"share": _share(v["share"]), "max": _share(v["max"])}
            )
    return messages


def refusal(offer: Offer) -> list[str]:
    """Why `offer` may not be opened or approved now: a report a worker still owes, or its stored
    report against the current threshold (empty for aggregates and for record offers never
    measured)."""
    if offer.kind != Offer.Kind.RECORDS or not guards(offer.dataset):
        return []
    if offer.risk_token:
        return [
            _(
                "Its re-identification risk is being measured on the current data; requests can be "
                "approved once the report is in and within the threshold."
            )
        ]
    return violation_messages(offer.risk_report)


def guards(dataset) -> bool:
    """Whether the threshold blocks `dataset`'s record offers: it guards people; a dataset an
    operator declared to be about businesses keeps its report, for information only."""
    return dataset.subjects != dataset.Subjects.BUSINESSES


def table_rows(report: dict | None, limit: risk.RiskThreshold | None = None) -> list[dict]:
    """Rows of the risk table: measure, value, threshold, passes."""
    if not report:
        return []
    limit = limit or threshold()
    r = risk.RiskReport.from_dict(report)
    rows = [
        {
            "label": _("k-anonymity (smallest group of identical rows)"),
            "value": "—" if r.k_anonymity is None else str(r.k_anonymity),
            "limit": f"≥ {limit.min_k}",
            "passes": r.k_anonymity is None or not r.rows or r.k_anonymity >= limit.min_k,
        },
        {
            "label": _("sample uniqueness (rows unique in the file)"),
            "value": _share(r.sample_uniqueness),
            "limit": f"≤ {_share(limit.max_sample_uniqueness)}",
            "passes": r.sample_uniqueness <= limit.max_sample_uniqueness,
        },
    ]
    for p, share in sorted(r.unicity.items()):
        rows.append(
            {
                "label": _("trajectory unicity, %(p)s known points") % {"p": p},
                "value": "—" if share is None else _share(share),
                "limit": f"≤ {_share(limit.max_unicity)}",
                "passes": share is None or share <= limit.max_unicity,
            }
        )
    if r.linkage is not None:
        rows.append(
            {
                "label": _("cross-license linkage (subjects linked one to one)"),
                "value": _share(r.linkage),
                "limit": f"≤ {_share(limit.max_linkage)}",
                "passes": r.linkage <= limit.max_linkage,
            }
        )
    return rows


def offers_over(limit: risk.RiskThreshold | None = None) -> list[tuple[Offer, list[str]]]:
    """Open record-level offers whose stored report is above `limit` (default: the current
    threshold), with the violations in words: what a change of the threshold would stop."""
    limit = limit or threshold()
    found = []
    offers = Offer.objects.filter(kind=Offer.Kind.RECORDS, is_active=True).select_related("dataset__center")
    for offer in offers.order_by("dataset__title", "pk"):
        if not guards(offer.dataset):
            continue
        messages = violation_messages(offer.risk_report, limit)
        if messages:
            found.append((offer, messages))
    return found
