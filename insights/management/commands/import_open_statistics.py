"""`manage.py import_open_statistics <file> --layout issuance|spend --center <사업자등록번호>`:
load official open statistics (figures a public body has already published, e.g. from the
province's data portal) as insight releases, as they are.

The file goes through the catalog's own ingestion (CP949, BOM, Excel-mangled months…) into a
dataset of the publishing organization; a release of it, marked official with its attribution,
groups its figures by 시·군 (names such as 수원시 or 수원시 권선구 become 5-digit codes; a name
that is not one of the 31 is refused, listed) and month. Importing again uploads a new version of
the same dataset, and the release gets a new edition: the rows are replaced, the history kept."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Organization
from insights.official import DEFAULT_ATTRIBUTION, LAYOUTS, import_table
from marketplace import errors


class Command(BaseCommand):
    help = "Import official open statistics (a data.gg.go.kr table) as an insight release."

    def add_arguments(self, parser):
        parser.add_argument("file", help="the official table (CSV in UTF-8 or CP949, or Parquet)")
        parser.add_argument("--layout", choices=sorted(LAYOUTS), required=True, help="which official table")
        parser.add_argument(
            "--center",
            required=True,
            help="사업자등록번호 of the organization that publishes the figures here",
        )
        parser.add_argument(
            "--attribution", default=DEFAULT_ATTRIBUTION, help="the source, shown with the figures"
        )

    def handle(self, *args, file, layout, center, attribution, **options):
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"cannot read {file}: no such file")
        organization = Organization.objects.filter(business_number=center.replace("-", "")).first()
        if organization is None or organization.kind != Organization.Kind.CENTER:
            raise CommandError(f"no center has the business number {center}")
        spec = LAYOUTS[layout]
        try:
            release = import_table(path, spec, organization, attribution, log=self.stdout.write)
        except errors.ApplicationError as exc:
            details = "; ".join(m for messages in (exc.errors or {}).values() for m in messages)
            raise CommandError(f"{exc.message} {details}".strip()) from exc
        edition = release.current
        self.stdout.write(
            f"Release {release.slug}: edition {edition.number if edition else '-'}, "
            f"{edition.cell_count if edition else 0} rows, from {path.name}."
        )
