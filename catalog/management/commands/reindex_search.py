"""Recompute every dataset's search text (after a change to what search indexes)."""

from django.core.management.base import BaseCommand

from catalog import services
from catalog.models import Dataset
from marketplace.actors import SYSTEM


class Command(BaseCommand):
    help = "Recompute what search matches for every dataset (regions, column titles, public values)."

    def handle(self, *args, **options):
        n = 0
        for dataset in Dataset.objects.order_by("pk").iterator():
            services.dataset_reindex(actor=SYSTEM, dataset=dataset)
            n += 1
        self.stdout.write(f"{n} datasets reindexed")
