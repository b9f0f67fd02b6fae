from django.db import migrations


def add_tsvector(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return  # SQLite ranks by recency only
    schema_editor.execute(
        "ALTER TABLE catalog_dataset ADD COLUMN IF NOT EXISTS search_tsv tsvector "
        "GENERATED ALWAYS AS (to_tsvector('simple', search_text)) STORED"
    )
    schema_editor.execute(
        "CREATE INDEX IF NOT EXISTS catalog_dataset_search_tsv ON catalog_dataset USING gin (search_tsv)"
    )


def drop_tsvector(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE catalog_dataset DROP COLUMN IF EXISTS search_tsv")


class Migration(migrations.Migration):
    dependencies = [("catalog", "0003_trigram_search")]
    operations = [migrations.RunPython(add_tsvector, drop_tsvector)]
