import time

from celery import current_app as celery_app
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.test.utils import override_settings

from accounts.models import Organization
from demo import organizations
from demo import seed as demo_seed


class Command(BaseCommand):
    help = (
        "Create the demo economy: organizations, users, generated datasets published through the "
        "normal ingestion path, offers, and requests/invoices/licenses/extracts in every state."
    )

    def add_arguments(self, parser):
        parser.add_argument("--rows", type=int, default=200_000, help="Card transactions to generate.")
        parser.add_argument("--seed", type=int, default=42, help="Random seed (same seed, same data).")
        parser.add_argument("--reset", action="store_true", help="Delete ALL data first (flush).")
        parser.add_argument("--if-empty", action="store_true", help="Do nothing when organizations exist.")

    def handle(self, *args, rows, seed, reset, if_empty, **options):
        if rows < 1000:
            raise CommandError("--rows must be at least 1000.")
        if reset:
            self.stdout.write(self.style.WARNING("Flushing the database (--reset)…"))
            call_command("flush", interactive=False, verbosity=0)
        elif if_empty and Organization.objects.exists():
            self.stdout.write("Demo data already present; skipping the seed.")
            return
        started = time.monotonic()
        # Work that a worker would do later (ingestion, extracts, e-mails) runs inline here, so
        # the demo is complete when the command ends; e-mails are kept in memory, not printed.
        eager = celery_app.conf.task_always_eager
        celery_app.conf.task_always_eager = True
        try:
            with override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"):
                self.stdout.write("Seeding demo organizations and users…")
                organizations.seed_accounts(log=self.stdout.write)
                offers = demo_seed.seed_data(rows=rows, seed=seed, log=self.stdout.write)
                self.stdout.write("Creating requests, invoices, licenses and extracts…")
                demo_seed.seed_requests(offers=offers, log=self.stdout.write)
                self.stdout.write("Publishing open statistics for the insight pages…")
                demo_seed.seed_insights(offers=offers, log=self.stdout.write)
        finally:
            celery_app.conf.task_always_eager = eager
        self.stdout.write(self.style.SUCCESS(f"Demo data ready in {time.monotonic() - started:.0f} s.\n"))
        self.stdout.write(organizations.users_table())
