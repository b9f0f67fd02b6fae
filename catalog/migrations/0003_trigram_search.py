from django.db import migrations


def create_trigram_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return  # SQLite: search falls back to a plain substring scan
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema_editor.execute(
        "CREATE INDEX IF NOT EXISTS catalog_dataset_search_trgm "
        "ON catalog_dataset USING gin (search_text gin_trgm_ops)"
    )


def drop_trigram_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS catalog_dataset_search_trgm")


class Migration(migrations.Migration):
    dependencies = [("catalog", "0002_search_and_regions")]
    operations = [migrations.RunPython(create_trigram_index, drop_trigram_index)]
