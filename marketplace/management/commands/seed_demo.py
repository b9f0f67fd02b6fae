from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import Organization
from marketplace import demo


class Command(BaseCommand):
    help = "Create the demo organizations, users and data (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--if-empty", action="store_true", help="Do nothing when organizations exist.")

    def handle(self, *args, **options):
        if options["if_empty"] and Organization.objects.exists():
            self.stdout.write("Demo data already present; skipping the seed.")
            return
        self.stdout.write("Seeding demo organizations and users…")
        with transaction.atomic():
            demo.seed_accounts(log=self.stdout.write)
        self.stdout.write(self.style.SUCCESS("Demo data ready.\n"))
        self.stdout.write(demo.users_table())
