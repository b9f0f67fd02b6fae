"""The audit log now belongs to the base app (marketplace 0002); its table stays."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("transactions", "0003_extracts"),
        ("marketplace", "0002_h12_auditevent_from_transactions"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="AuditEvent")],
            database_operations=[],
        ),
    ]
