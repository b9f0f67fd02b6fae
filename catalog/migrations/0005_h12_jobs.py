"""Ingestion is a job (marketplace.jobs.Job): the version's ingestion times become the job's
`started_at`/`finished_at` (same columns, same index: state only) and it gains `queued_at`
(the upload time for existing rows)."""

import django.utils.timezone
from django.conf import settings
from django.db import migrations, models
from django.db.models import F


def queued_at_upload(apps, schema_editor):
    apps.get_model("catalog", "DatasetVersion").objects.update(queued_at=F("created_at"))


class Migration(migrations.Migration):

    dependencies = [
        ('catalog', '0004_search_tsvector'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveIndex(
                    model_name='datasetversion',
                    name='catalog_dat_status_f289ad_idx',
                ),
                migrations.AlterField(
                    model_name='datasetversion',
                    name='ingest_finished_at',
                    field=models.DateTimeField(blank=True, db_column='ingest_finished_at', null=True, verbose_name='ingestion finished'),
                ),
                migrations.RenameField(
                    model_name='datasetversion',
                    old_name='ingest_finished_at',
                    new_name='finished_at',
                ),
                migrations.AlterField(
                    model_name='datasetversion',
                    name='ingest_started_at',
                    field=models.DateTimeField(blank=True, db_column='ingest_started_at', null=True, verbose_name='ingestion started'),
                ),
                migrations.RenameField(
                    model_name='datasetversion',
                    old_name='ingest_started_at',
                    new_name='started_at',
                ),
                migrations.AddIndex(
                    model_name='datasetversion',
                    index=models.Index(fields=['status', 'started_at'], name='catalog_dat_status_f289ad_idx'),
                ),
            ],
            database_operations=[],
        ),
        migrations.AddField(
            model_name='datasetversion',
            name='queued_at',
            field=models.DateTimeField(db_index=True, default=django.utils.timezone.now, verbose_name='queued at'),
        ),
        migrations.RunPython(queued_at_upload, migrations.RunPython.noop),
    ]
