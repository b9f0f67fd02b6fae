"""`manage.py trace_leak <file> --dataset <slug> [--operator <e-mail>] [--json]`: which license
did a leaked file come from? The same service as the operator's page and
`POST /api/v1/leaks/trace/` (pseudonyms matched against every license's key, in DuckDB, candidates
batched so memory stays bounded; without pseudonyms, the rows against each delivered extract,
with a confidence measured on decoy keys); the search is audited under the operator named, or the
platform."""

from __future__ import annotations

import json
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from catalog.models import Dataset
from marketplace import errors
from marketplace.actors import SYSTEM
from transactions.services.extracts import license_trace_leak


class Command(BaseCommand):
    help = (
        "Rank the licenses of a dataset by how many pseudonyms of a leaked file their keys produce,"
        " or, when none does, by how many of its rows their extracts held."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="the leaked file: CSV, TSV, XLSX, JSON Lines or Parquet")
        parser.add_argument("--dataset", required=True, help="the dataset's slug")
        parser.add_argument("--operator", default="", help="the operator's e-mail, recorded in the audit log")
        parser.add_argument("--json", action="store_true", help="print the candidates as JSON")

    def handle(self, *args, file, dataset, operator, json: bool, **options):
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"cannot read {file}: no such file")
        found = Dataset.objects.filter(slug=dataset).select_related("current_version").first()
        if found is None:
            raise CommandError(f"no dataset has the slug {dataset!r}")
        actor = SYSTEM
        if operator:
            actor = get_user_model().objects.filter(email__iexact=operator).first()
            if actor is None:
                raise CommandError(f"no account has the e-mail {operator}")
        try:
            ranked = license_trace_leak(actor=actor, dataset=found, leaked_file=path, file_name=path.name)
        except errors.ApplicationError as exc:
            raise CommandError(exc.message) from exc
        if json:
            self.stdout.write(_dumps(ranked))
            return
        matched = [row for row in ranked if row["matches"] or row["rows_matched"]]
        if not matched:
            self.stdout.write(f"No license of {found.slug} produced a pseudonym or a row of {path.name}.")
            return
        heading = f"{'license':>8}  {'matches':>8}  {'share':>6}  {'rows':>13}  {'confidence':>10}"
        self.stdout.write(f"{heading}  column  organization")
        for row in matched:
            share = f"{row['share']:.0%}" if row.get("share") is not None else "-"
            rows = f"{row['rows_matched']}/{row['rows']}" if row["rows_matched"] is not None else "-"
            confidence = f"{row['confidence']:.1%}" if row["confidence"] is not None else "-"
            column = row["column"] or "-"
            self.stdout.write(
                f"{row['license']:>8}  {row['matches']:>8}  {share:>6}  {rows:>13}  {confidence:>10}"
                f"  {column}  {row['organization']}{'  (identified)' if row['identified'] else ''}"
            )


def _dumps(rows) -> str:
    return json.dumps(rows, ensure_ascii=False, indent=2)
