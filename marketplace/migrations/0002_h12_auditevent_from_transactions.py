"""The audit log moves from `transactions` to the base app. Only Django's idea of where the
model lives changes: the table (`transactions_auditevent`) and its rows stay as they are, and
the content type is renamed so admin permissions on audit events are kept."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def _move_content_type(apps, schema_editor, old, new):
    ContentType = apps.get_model("contenttypes", "ContentType")
    if not ContentType.objects.filter(app_label=new, model="auditevent").exists():
        ContentType.objects.filter(app_label=old, model="auditevent").update(app_label=new)


def forwards(apps, schema_editor):
    _move_content_type(apps, schema_editor, "transactions", "marketplace")


def backwards(apps, schema_editor):
    _move_content_type(apps, schema_editor, "marketplace", "transactions")


class Migration(migrations.Migration):

    dependencies = [
        ("marketplace", "0001_initial"),
        ("accounts", "0001_initial"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("transactions", "0003_extracts"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="AuditEvent",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("created_at", models.DateTimeField(auto_now_add=True, db_index=True, verbose_name="time")),
                        ("actor_label", models.CharField(max_length=254, verbose_name="actor")),
                        ("verb", models.CharField(db_index=True, max_length=100, verbose_name="event")),
                        ("target_type", models.CharField(max_length=100, verbose_name="object type")),
                        ("target_id", models.CharField(max_length=64, verbose_name="object id")),
                        ("target_repr", models.CharField(max_length=255, verbose_name="object")),
                        ("before", models.JSONField(blank=True, null=True, verbose_name="before")),
                        ("after", models.JSONField(blank=True, null=True, verbose_name="after")),
                        ("ip", models.GenericIPAddressField(blank=True, null=True, verbose_name="IP address")),
                        ("actor", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+", to=settings.AUTH_USER_MODEL, verbose_name="actor")),
                        ("organization", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name="+", to="accounts.organization", verbose_name="organization")),
                        ("other_organization", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name="+", to="accounts.organization", verbose_name="other organization")),
                    ],
                    options={
                        "verbose_name": "audit event",
                        "verbose_name_plural": "audit events",
                        "ordering": ["-created_at", "-id"],
                        "db_table": "transactions_auditevent",
                        "indexes": [models.Index(fields=["target_type", "target_id"], name="transaction_target__000a28_idx")],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(forwards, backwards),
    ]
