from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("transactions", "0004_approval_snapshot_and_disclosure_ledger"),
        ("transactions", "0005_h14_drop_plaintext_key"),
    ]

    operations = []
