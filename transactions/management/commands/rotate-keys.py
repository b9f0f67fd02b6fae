"""`manage.py rotate-keys`: re-encrypt every license key under the current KEK.

Set the new key as JANGTEO_KEK and the old one(s) in JANGTEO_KEK_PREVIOUS, run this, then drop
JANGTEO_KEK_PREVIOUS. Each key gets a new data key; the license keys (and so every pseudonym
already delivered) do not change. Safe to run again: keys already under the current KEK stay."""

from django.core.management.base import BaseCommand

from transactions.keystore import rotate


class Command(BaseCommand):
    help = "Re-encrypt every license key under the current key-encryption key (JANGTEO_KEK)."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=500)

    def handle(self, *args, batch_size: int, **options):
        result = rotate(batch_size=batch_size)
        self.stdout.write(
            f"{result['rotated']} key(s) re-encrypted under KEK {result['kek']}; "
            f"{result['already_current']} already under it."
        )
