"""`manage.py import_boundaries <geojson> --attribution "출처: …"`: load the 시·군 boundaries the
map draws (an operator's job: boundaries change, and the official file comes from SGIS)."""

import json

from django.core.management.base import BaseCommand, CommandError

from insights import services
from marketplace import errors
from marketplace.actors import SYSTEM

SGIS_2018 = "출처: 통계청 통계지리정보서비스(SGIS), 센서스용 행정구역경계(2018)"


class Command(BaseCommand):
    help = "Import Gyeonggi 시·군 boundaries (GeoJSON, WGS84) for the insight map."

    def add_arguments(self, parser):
        parser.add_argument("geojson", help="a GeoJSON FeatureCollection with a 5-digit code per feature")
        parser.add_argument(
            "--attribution",
            default="",
            help="the source's attribution, shown under the map (default: the file's own "
            "'attribution' member, else the SGIS 2018 census boundaries' credit)",
        )

    def handle(self, *args, geojson, attribution, **options):
        try:
            with open(geojson, encoding="utf-8-sig") as f:
                data = json.load(f)
        except (OSError, ValueError) as exc:
            raise CommandError(f"cannot read {geojson}: {exc}") from exc
        attribution = attribution or (data.get("attribution") if isinstance(data, dict) else "") or SGIS_2018
        try:
            boundary_set = services.boundaries_import(
                actor=SYSTEM, geojson=data, source=str(geojson), attribution=attribution
            )
        except errors.ApplicationError as exc:
            raise CommandError(exc.message) from exc
        count = boundary_set.shapes.count()
        self.stdout.write(f"Imported {count} 시·군 boundaries (view box {boundary_set.view_box}).")
        if count < 31:
            self.stdout.write(self.style.WARNING(f"{31 - count} of the 31 시·군 are missing from the file."))
