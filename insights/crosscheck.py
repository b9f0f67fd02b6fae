"""Open statistics are held by everyone: the cross-release check.

A buyer's disclosure ledger (transactions.ledger) compares the aggregate tables one organization
holds. An open statistics release is a table that every organization holds, so it is compared,
before it is published, with every other published release of the dataset and with every
aggregate table buyers can hold of it (open aggregate offers, and the offers of active licenses);
and an aggregate offer is compared with the published releases before it is opened
(`offer_conflicts`, answered to catalog through `marketplace.reactions`).

The comparison is the ledger's (`catalog.privacy.linked_disclosures`): cells one table suppresses
that the other gives back by summing its published cells, and date periods that do not nest. Both
tables are expressed over one derived file of the version: a release's month or year of a date
column becomes that column at the month or year granularity (the cells are the same groups as the
release's "2024-03" labels), its other derived dimensions (weekday, hour, size band, KSIC section)
become columns of the file, and its plain dimensions stay the version's columns.
"""

# ruff: noqa: S608 - column names reach SQL only through catalog.ingestion.sql.ident after being
# checked against the version's schema; transforms are fixed SQL from insights.engine.

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from catalog import privacy
from catalog import selectors as catalog_selectors
from catalog.ingestion.sql import ident
from catalog.models import Dataset, DatasetVersion, Offer
from catalog.policy import OfferPolicy
from insights.engine import TRANSFORMS
from insights.models import Release
from marketplace.duckdb import connect
from transactions.models import License

DEFINITION_KEYS = (
    "dimensions",
    "measures",
    "subject_field",
    "dominance_field",
    "k",
    "p_percent",
    "dominance",
)


def release_definition(release: Release) -> dict:
    return {key: getattr(release, key) for key in DEFINITION_KEYS}


def _as_policy(definition: dict, columns: dict[str, privacy.Column]) -> tuple[OfferPolicy, dict[str, tuple]]:
    """`definition` (a release's) as an aggregate policy over the derived file, and the derived
    columns it needs: {name: (SQL over the version's columns, Column)}."""
    dims, derived, date_field, granularity = [], {}, "", ""
    for dim in definition["dimensions"]:
        source, transform = dim["field"], dim.get("transform") or ""
        column = columns[source]
        if transform in ("month", "year") and not date_field and source not in dims:
            date_field, granularity = source, transform
            dims.append(source)
        elif transform or column.type in ("date", "datetime"):
            # weekday, hour…, or a date kept as it is: a column of its own in the derived file
            name = f"__{transform or 'value'}_{source}"
            if transform:
                _types, out_type, sql = TRANSFORMS[transform]
                expression = sql(ident(source))
            else:
                out_type, expression = "string", f"CAST({ident(source)} AS VARCHAR)"
            derived[name] = (expression, privacy.Column(name, out_type, column.sensitivity))
            dims.append(name)
        else:
            dims.append(source)
    values = {
        "kind": "aggregate",
        "dimensions": dims,
        "measures": [{"field": m["field"], "agg": m["agg"]} for m in definition.get("measures") or []],
        "subject_field": definition.get("subject_field") or "",
        "dominance_field": definition.get("dominance_field") or "",
        "date_field": date_field,
    }
    if granularity:
        values["date_granularity"] = granularity
    for key in ("k", "p_percent", "dominance"):
        if definition.get(key) not in (None, ""):
            values[key] = definition[key]
    return OfferPolicy.from_values(values).normalized(), derived


def _used_columns(policy: OfferPolicy, columns: dict[str, privacy.Column]) -> set[str]:
    names = {
        *policy.dimensions,
        *(m.field for m in policy.measures),
        policy.subject_field,
        policy.dominance_field,
    }
    return {n for n in names if n in columns}


def _common_space(version: DatasetVersion, tables: list) -> tuple[list[OfferPolicy], list[str], list]:
    """Each table as a policy over one derived file of `version`, with that file's SELECT list
    and schema (the version's columns the policies use, then the releases' derived columns)."""
    columns = {f.name: privacy.Column(f.name, f.type, f.sensitivity) for f in version.fields.all()}
    policies, derived = [], {}
    for table in tables:
        if isinstance(table, OfferPolicy):
            policies.append(table)
        else:
            policy, extra = _as_policy(table, columns)
            policies.append(policy)
            derived.update(extra)
    raw = sorted(set().union(*(_used_columns(p, columns) for p in policies)))
    select = [ident(name) for name in raw] + [
        f"{sql} AS {ident(name)}" for name, (sql, _c) in derived.items()
    ]
    schema = [columns[name] for name in raw] + [column for _sql, column in derived.values()]
    return policies, select, schema


def _conflicts(
    version: DatasetVersion, new: tuple[str, object], others: list[tuple[str, object]]
) -> list[str]:
    """Messages naming each of `others` that, with `new`, gives a suppressed cell back. Each
    table is (label, release definition dict or OfferPolicy)."""
    if not others or not version.parquet:
        return []
    policies, select, schema = _common_space(version, [table for _label, table in [new, *others]])
    work = Path(settings.WORK_DIR) / f"crosscheck-{uuid.uuid4().hex}"
    work.mkdir(parents=True, exist_ok=True)
    con = connect()
    problems = []
    try:
        path = str(work / "tables.parquet")
        con.execute(
            f"COPY (SELECT {', '.join(select)} FROM read_parquet(?)) TO '{path}' (FORMAT parquet)",
            [catalog_selectors.version_files(version)],
        )
        for (label, _table), policy in zip(others, policies[1:], strict=True):
            try:
                cells = privacy.linked_disclosures(
                    con,
                    parquet=path,
                    schema=schema,
                    noise_seed=version.cell_key_seed,
                    new=(policies[0], {}),
                    held=(policy, {}),
                )
            except privacy.LinkedDisclosure:
                problems.append(
                    _("%(table)s groups the same date column by periods that do not nest with this one.")
                    % {"table": label}
                )
                continue
            except privacy.PlanError:
                continue  # a table the engine cannot build over this version is not released either
            if cells:
                problems.append(
                    _(
                        "Together with %(table)s, which everyone can hold, this table would give back "
                        "%(count)s cells that one of the two suppresses. Use the same dimensions and "
                        "rules, or rules at least as strict as the other table's."
                    )
                    % {"table": label, "count": cells}
                )
    finally:
        con.close()
        shutil.rmtree(work, ignore_errors=True)
    return problems


def _published_releases(dataset: Dataset, exclude: Release | None = None):
    releases = Release.objects.filter(dataset=dataset, status=Release.Status.PUBLISHED).exclude(
        subject_field=""
    )
    return releases.exclude(pk=exclude.pk) if exclude is not None else releases


def _buyer_tables(dataset: Dataset) -> list[tuple[str, OfferPolicy]]:
    """Every aggregate table buyers can hold of `dataset`: open offers, and the offer snapshots
    of active licenses (an offer closed since still delivers to them)."""
    tables: dict[str, tuple[str, OfferPolicy]] = {}
    for offer in Offer.objects.filter(dataset=dataset, is_active=True):
        policy = offer.policy
        if policy.is_aggregate:
            tables.setdefault(
                repr(policy.to_snapshot()), (_("the offer “%(name)s”") % {"name": offer.name}, policy)
            )
    active = License.objects.filter(
        Q(state=License.State.ACTIVE), dataset=dataset, valid_until__gt=timezone.now()
    ).only("pk", "offer_snapshot")
    for license in active:
        policy = OfferPolicy.from_snapshot(license.offer_snapshot)
        if policy.is_aggregate:
            name = license.offer_snapshot.get("name", "")
            tables.setdefault(
                repr(policy.to_snapshot()), (_("the offer “%(name)s”") % {"name": name}, policy)
            )
    return list(tables.values())


def release_conflicts(
    *, dataset: Dataset, version: DatasetVersion, definition: dict, exclude=None
) -> list[str]:
    """Why the release `definition` cannot be published beside what is already out (empty: it can)."""
    others: list[tuple[str, object]] = [
        (_("the open statistics “%(title)s”") % {"title": r.label}, release_definition(r))
        for r in _published_releases(dataset, exclude)
    ]
    others += _buyer_tables(dataset)
    return _conflicts(version, (_("this release"), definition), others)


def offer_conflicts(*, dataset_id: int, version: DatasetVersion, policy: OfferPolicy) -> list[str]:
    """Why an aggregate offer with `policy` cannot be opened beside the published open statistics
    of its dataset (answers catalog's `reactions.PUBLIC_TABLE_CONFLICTS`)."""
    if not policy.is_aggregate:
        return []
    releases = _published_releases(Dataset(pk=dataset_id))
    others = [
        (_("the open statistics “%(title)s”") % {"title": r.label}, release_definition(r)) for r in releases
    ]
    return _conflicts(version, (_("this offer"), policy), others)
