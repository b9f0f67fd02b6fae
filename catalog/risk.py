"""Re-identification risk of a record-level offer, measured over its planned output.

No Django here. `assess` runs over the statement of a records plan (`catalog.privacy.plan`,
treatments applied) and reports:

- **k-anonymity** on the offer's quasi-identifiers: the size of the smallest equivalence class
  (rows sharing every quasi-identifier value). Definition of pyCANON's `k_anonymity` (the
  minimum length of `get_equiv_class`); the tests check this module against pyCANON on small
  frames. NULL (a locally suppressed value) is one value of its own, as pandas' groupby with
  `dropna=False` treats it: the conservative reading (it could also match every value).
- **sample uniqueness**: the share of records whose quasi-identifier combination occurs once in
  the released file (sdcMicro's "sample uniques", fk = 1), and the share of records in classes
  smaller than the threshold's k.
- **trajectory unicity** (de Montjoye et al., "Unique in the Crowd", Sci. Rep. 2013): for p = 1,
  2, 3, the share of subjects (pseudonyms) singled out by p of their (day, place) points drawn
  at random: no other subject has all p. Points are distinct (day, place) pairs; "day" is the
  delivered date field as released (a coarsened week stays a week); "place" is the given columns
  (e.g. the merchant pseudonym, or region × industry). Only subjects with at least p distinct
  points are drawn from (a subject with fewer cannot be given p points); at most `max_subjects`
  of them, a deterministic sample, are evaluated, so the cost stays bounded.

The draw is deterministic (the MD5 of subject, point and `seed` as text, which DuckDB and Spark
compute alike): the same file gives the same report, on either engine.

The measures are spelled once, in SQL both engines run, over tables an adapter makes (create,
one row, drop): DuckDB's temp tables here (`DuckTables`), or Spark's cached views
(`catalog.spark.SparkTables`) for a version too large for one worker
(tests/catalog/test_risk_spark.py: the same report).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from catalog import privacy

UNICITY_POINTS = (1, 2, 3)
MAX_SUBJECTS = 20_000
BELOW_K = 5  # the k of `below_k_share` unless the caller gives its own
SEP = "\x1f"


@dataclass(frozen=True)
class RiskThreshold:
    """The operator's ceiling for publishing or approving a record-level offer."""

    min_k: int = 5
    max_sample_uniqueness: float = 0.01
    max_unicity: float = 0.10  # at each p in UNICITY_POINTS
    max_linkage: float = 0.05  # cross-license linkage, when measured

    @classmethod
    def from_dict(cls, data: dict | None) -> RiskThreshold:
        data = data or {}
        return cls(**{k: type(getattr(cls, k))(data[k]) for k in cls.__dataclass_fields__ if k in data})

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class RiskReport:
    rows: int
    quasi_identifiers: list[str]
    k_anonymity: int | None  # None: no rows or no quasi-identifier
    sample_uniqueness: float
    below_k_share: float
    classes: int
    subject: str | None = None
    day: str | None = None
    place: list[str] = field(default_factory=list)
    subjects: int = 0
    unicity: dict[str, float | None] = field(default_factory=dict)  # "1", "2", "3" → share
    evaluated: dict[str, int] = field(default_factory=dict)  # subjects drawn from, per p
    linkage: float | None = None  # share of subjects linked across two licenses' files

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> RiskReport:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})

    def violations(self, threshold: RiskThreshold) -> list[tuple[str, dict]]:
        """What exceeds `threshold`, as (message code, values) pairs for a translated message."""
        found = []
        if self.rows and self.k_anonymity is not None and self.k_anonymity < threshold.min_k:
            found.append(("k", {"k": self.k_anonymity, "min_k": threshold.min_k}))
        if self.sample_uniqueness > threshold.max_sample_uniqueness:
            found.append(
                ("uniqueness", {"share": self.sample_uniqueness, "max": threshold.max_sample_uniqueness})
            )
        for p, share in sorted(self.unicity.items()):
            if share is not None and share > threshold.max_unicity:
                found.append(("unicity", {"p": int(p), "share": share, "max": threshold.max_unicity}))
        if self.linkage is not None and self.linkage > threshold.max_linkage:
            found.append(("linkage", {"share": self.linkage, "max": threshold.max_linkage}))
        return found


class DuckTables:
    """Where the measures run: temp tables on a DuckDB connection. The measures' SQL is spelled
    with `d` (catalog.privacy's dialect: quoting, the text type, the multiset signature)."""

    d = privacy.Dialect()

    def __init__(self, con) -> None:
        self.con = con

    def create(self, name: str, select: str) -> None:
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {select}")

    def one(self, sql: str) -> tuple:
        return tuple(self.con.execute(sql).fetchone())

    def drop(self, name: str) -> None:
        self.con.execute(f"DROP TABLE IF EXISTS {name}")


def _key(t, columns: list[str]) -> str:
    return ", ".join(t.d.q(c) for c in columns)


def _draw(*texts: str, seed: int) -> str:
    """The order of a deterministic draw: the MD5 of `texts` and `seed`, alike in both engines."""
    return "md5(" + " || chr(31) || ".join([*texts, f"'{int(seed)}'"]) + ")"


def assess(
    con,
    *,
    sql: str,
    params: list,
    quasi_identifiers: list[str],
    subject: str | None = None,
    day: str | None = None,
    place: list[str] | tuple[str, ...] = (),
    k: int = BELOW_K,
    points: tuple[int, ...] = UNICITY_POINTS,
    max_subjects: int = MAX_SUBJECTS,
    seed: int = 0,
) -> RiskReport:
    """The risk report of the rows `sql` returns (bound `params`), on DuckDB connection `con`.

    Column names must be columns of the statement's output (the caller took them from the plan);
    they are quoted. Trajectory unicity needs `subject`, `day` and `place`; without them it is
    not measured (an empty `unicity`)."""
    _materialise(con, "__risk_rows", sql, params)
    try:
        return _assess(
            DuckTables(con), quasi_identifiers, subject, day, list(place), k, points, max_subjects, seed
        )
    finally:
        con.execute("DROP TABLE IF EXISTS __risk_rows")


def _assess(t, qis, subject, day, place, k, points, max_subjects, seed) -> RiskReport:
    """The report over the table __risk_rows of `t` (see assess)."""
    (rows,) = t.one("SELECT count(*) FROM __risk_rows")
    k_anon, uniques, below, classes = None, 0.0, 0.0, 0
    if rows and qis:
        k_anon, unique_rows, below_rows, classes = t.one(
            "SELECT min(n), coalesce(sum(n) FILTER (WHERE n = 1), 0),"  # noqa: S608
            f" coalesce(sum(n) FILTER (WHERE n < {int(k)}), 0), count(*)"
            f" FROM (SELECT count(*) AS n FROM __risk_rows GROUP BY {_key(t, qis)})"
        )
        uniques, below = unique_rows / rows, below_rows / rows
    elif rows:
        k_anon, classes = rows, 1  # no quasi-identifier: every row looks alike
    report = dict(
        rows=rows,
        quasi_identifiers=list(qis),
        k_anonymity=k_anon,
        sample_uniqueness=uniques,
        below_k_share=below,
        classes=classes,
        subject=subject,
        day=day,
        place=list(place),
    )
    if not (rows and subject and day and place):
        return RiskReport(**report)
    q, text = t.d.q, t.d.text
    place_sql = " || chr(31) || ".join(f"coalesce(CAST({q(c)} AS {text}), '')" for c in place)
    t.create(
        "__risk_points",
        "SELECT DISTINCT"  # noqa: S608
        f" CAST({q(subject)} AS {text}) AS subject,"
        f" CAST({q(day)} AS {text}) || chr(31) || {place_sql} AS point"
        f" FROM __risk_rows WHERE {q(subject)} IS NOT NULL AND {q(day)} IS NOT NULL",
    )
    try:
        (subjects,) = t.one("SELECT count(DISTINCT subject) FROM __risk_points")
        unicity, evaluated = {}, {}
        for p in points:
            share, drawn = _unicity(t, int(p), max_subjects, seed)
            unicity[str(p)], evaluated[str(p)] = share, drawn
    finally:
        t.drop("__risk_points")
    return RiskReport(**report, subjects=subjects, unicity=unicity, evaluated=evaluated)


def _unicity(t, p: int, max_subjects: int, seed: int) -> tuple[float | None, int]:
    """Share of the sampled subjects (with ≥ p points) whose p drawn points no other subject
    has all of; None when no subject has p points."""
    row = t.one(
        f"""
        WITH eligible AS (
            SELECT subject FROM __risk_points GROUP BY subject HAVING count(*) >= {p}
        ), targets AS (
            SELECT subject FROM eligible ORDER BY {_draw("subject", seed=seed)} LIMIT {int(max_subjects)}
        ), drawn AS (
            SELECT subject, point FROM (
                SELECT pt.subject, pt.point,
                       row_number() OVER (
                           PARTITION BY pt.subject ORDER BY {_draw("pt.subject", "pt.point", seed=seed)}
                       ) AS r
                FROM __risk_points pt JOIN targets USING (subject)
            ) WHERE r <= {p}
        ), matches AS (
            SELECT d.subject AS target, o.subject AS other, count(*) AS hits
            FROM drawn d JOIN __risk_points o ON o.point = d.point
            GROUP BY d.subject, o.subject
        ), singled AS (
            SELECT target, count(*) FILTER (WHERE hits = {p}) AS holders FROM matches GROUP BY target
        )
        SELECT (SELECT count(*) FROM targets), count(*) FILTER (WHERE holders = 1) FROM singled
        """  # noqa: S608 - only integers are formatted in
    )
    drawn, unique = row
    if not drawn:
        return None, 0
    return unique / drawn, drawn


def _linkage_sql(t, tup: str, subject: str, truth: str | None, tables: tuple[str, str]) -> str:
    """Counts of linkage (see linkage) over the rows of the temp `tables` (first, second file)
    and their per-subject signatures __link_a_s, __link_b_s."""
    first, second = tables
    return f"""
            WITH ra AS (SELECT {tup} AS t, any_value({t.d.q(subject)}) AS s FROM {first}
                        GROUP BY t HAVING count(*) = 1),
                 rb AS (SELECT {tup} AS t, any_value({t.d.q(subject)}) AS s FROM {second}
                        GROUP BY t HAVING count(*) = 1),
                 ta AS (SELECT sig, any_value(s) AS s FROM __link_a_s GROUP BY sig HAVING count(*) = 1),
                 tb AS (SELECT sig, any_value(s) AS s FROM __link_b_s GROUP BY sig HAVING count(*) = 1),
                 links AS (SELECT DISTINCT ra.s AS a, rb.s AS b FROM ra JOIN rb USING (t)
                           UNION SELECT ta.s, tb.s FROM ta JOIN tb USING (sig)),
                 one AS (SELECT a, any_value(b) AS b FROM links GROUP BY a HAVING count(*) = 1),
                 pairs AS (SELECT one.a, one.b FROM one
                           JOIN (SELECT b FROM links GROUP BY b HAVING count(*) = 1) USING (b)),
                 judged AS (SELECT pairs.a, sa.real AS real,
                                   {"sa.real = sb.real" if truth else "true"} AS correct
                            FROM pairs JOIN __link_a_s sa ON sa.s = pairs.a
                            JOIN __link_b_s sb ON sb.s = pairs.b)
            SELECT (SELECT count(*) FROM __link_a_s), count(*) FILTER (WHERE correct),
                   (SELECT count(DISTINCT real) FROM __link_a_s), count(DISTINCT real) FILTER (WHERE correct)
            FROM judged
            """  # noqa: S608 - column names quoted, no values formatted in


def linkage(
    con,
    *,
    first: tuple[str, list],
    second: tuple[str, list],
    subject: str,
    columns: list[str],
    truth: str | None = None,
) -> dict:
    """Cross-license linkage: the share of subjects of the first file that an attacker holding
    both files maps one to one onto a subject of the second, by their non-identifier `columns`.

    Two attacks, pooled: records whose `columns` are unique in both files link their subjects;
    subjects whose whole trajectory (the sorted multiset of their rows) is unique in both files
    link too. A pair counts when each side links to exactly one subject. With `truth` (a hidden
    column naming the real subject, present in both statements: tests only), only correct links
    count and `subjects_linked` also gives the share of real subjects with any correct link.
    Returns `{"subjects", "linked", "share", "real_subjects", "real_linked", "real_share"}`."""
    try:
        for name, (sql, params) in (("__link_a", first), ("__link_b", second)):
            _materialise(con, name, sql, params)
        return _linkage_over(
            DuckTables(con), ("__link_a", "__link_b"), subject=subject, columns=columns, truth=truth
        )
    finally:
        for name in ("__link_a", "__link_b"):
            con.execute(f"DROP TABLE IF EXISTS {name}")


def _linkage_over(t, tables: tuple[str, str], *, subject: str, columns: list[str], truth: str | None) -> dict:
    """linkage over two files already in the `tables` of `t` (the caller drops them)."""
    q, text = t.d.q, t.d.text
    tup = " || chr(30) || ".join(f"coalesce(CAST({q(c)} AS {text}), chr(29))" for c in columns)
    real = f"any_value(CAST({q(truth)} AS {text}))" if truth else f"CAST(NULL AS {text})"
    try:
        for table, name in zip(tables, ("__link_a_s", "__link_b_s"), strict=True):
            t.create(
                name,
                f"SELECT {q(subject)} AS s, {real} AS real,"  # noqa: S608
                f" {t.d.signature(tup)} AS sig FROM {table} GROUP BY {q(subject)}",
            )
        row = t.one(_linkage_sql(t, tup, subject, truth, tables))
    finally:
        for name in ("__link_a_s", "__link_b_s"):
            t.drop(name)
    subjects, linked, real_subjects, real_linked = row
    return {
        "subjects": subjects,
        "linked": linked,
        "share": linked / subjects if subjects else 0.0,
        "real_subjects": real_subjects if truth else None,
        "real_linked": real_linked if truth else None,
        "real_share": (real_linked / real_subjects if real_subjects else 0.0) if truth else None,
    }


# Two keys standing for two licenses when the linkage of an offer's files is measured.
ASSESSMENT_KEYS = (b"jangteo-risk-license-a".ljust(32, b"."), b"jangteo-risk-license-b".ljust(32, b"."))


@dataclass(frozen=True)
class Roles:
    """Which delivered columns the measures read (see assess_policy)."""

    quasi_identifiers: list[str]
    subject: str | None
    day: str | None
    place: list[str]


def roles(plan, schema: list, policy) -> Roles:
    """The roles of a records `plan`'s output columns under `policy`: quasi-identifiers are
    every delivered non-identifier column (the conservative reading: an attacker may know any
    of them); the subject is the offer's `subject_field` when delivered, else its first
    delivered identifier; the day is the offer's date field; the place is the other delivered
    identifiers (a merchant pseudonym), else every other delivered text column."""

    sensitivity = {c.name: c.sensitivity for c in schema}
    kinds = dict(zip(plan.columns, plan.types, strict=True))
    identifiers = [n for n in plan.columns if sensitivity[n] == privacy.IDENTIFIER]
    qis = [n for n in plan.columns if sensitivity[n] != privacy.IDENTIFIER]
    subject = policy.subject_field if policy.subject_field in identifiers else next(iter(identifiers), None)
    day = policy.date_field if policy.date_field in plan.columns else None
    place = [n for n in identifiers if n != subject] or [n for n in qis if n != day and kinds[n] == "string"]
    return Roles(qis, subject, day, place)


def assessment_plans(parquet, schema: list, policy) -> tuple:
    """The planned output of `policy` over `parquet` as two licenses would receive it: every
    field, no narrowing, under the two stand-in keys of ASSESSMENT_KEYS."""

    return tuple(
        privacy.plan(parquet=parquet, schema=schema, policy=policy, scope={}, key=k) for k in ASSESSMENT_KEYS
    )


def assess_policy(con, *, parquet: str, schema: list, policy, seed: int = 0, progress=None) -> RiskReport:
    """The risk report of a record-level `policy` (catalog.policy.OfferPolicy) over `parquet`:
    its whole planned output as a license would receive it, and its linkage with a second
    license's file (`assessment_plans`), the columns in the `roles` that function gives.

    The first license's rows are materialised once, for the report and for the linkage (two
    treated copies in all, not three). With `progress`, it is called with the share done (0 to
    1; the copies are nearly all of the work, measured as DuckDB runs them: `con` needs
    marketplace.duckdb.report_progress) and may raise to stop the measurement."""
    plans = assessment_plans(parquet, schema, policy)

    def copy(name: str, which: int, lo: float, hi: float) -> None:
        _materialise(con, name, plans[which].sql, plans[which].params, progress, lo, hi)

    return measure_policy(
        DuckTables(con), roles(plans[0], schema, policy), copy, seed=seed, progress=progress
    )


def measure_policy(t, r: Roles, copy, *, seed: int = 0, progress=None) -> RiskReport:
    """assess_policy's measures on the tables of `t`: `copy(name, which, lo, hi)` makes the
    table `name` of the `which`-th assessment plan's rows (progress spanning [lo, hi])."""
    linked = None
    try:
        copy("__risk_rows", 0, 0.0, 0.45)
        report = _assess(
            t, r.quasi_identifiers, r.subject, r.day, r.place, BELOW_K, UNICITY_POINTS, MAX_SUBJECTS, seed
        )
        if r.subject is not None and r.quasi_identifiers:
            copy("__link_b", 1, 0.5, 0.95)
            linked = _linkage_over(
                t, ("__risk_rows", "__link_b"), subject=r.subject, columns=r.quasi_identifiers, truth=None
            )
    finally:
        t.drop("__risk_rows")
        t.drop("__link_b")
    if progress is not None:
        progress(1.0)
    return report if linked is None else RiskReport(**{**report.to_dict(), "linkage": linked["share"]})


def _materialise(con, table: str, sql: str, params: list, progress=None, lo=0.0, hi=1.0) -> None:
    """The rows of `sql` into the temp `table`; with `progress`, DuckDB's progress of the copy is
    reported to it scaled into [lo, hi] (marketplace.duckdb.execute_reporting)."""
    from marketplace.duckdb import execute_reporting

    statement = f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT * FROM ({sql})"  # noqa: S608
    if progress is None:
        con.execute(statement, params)
    else:
        execute_reporting(con, statement, params, lambda fraction: progress(lo + (hi - lo) * fraction))
