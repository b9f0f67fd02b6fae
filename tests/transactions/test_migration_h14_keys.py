"""The data migration that seals the plaintext license keys of an existing database and strips
the HMAC pads from its stored recipes (transactions 0004_h14 / 0005_h14)."""

import importlib

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from catalog import privacy

pytestmark = pytest.mark.django_db(transaction=True)


def test_plaintext_keys_and_recipe_pads_are_migrated(world, django_capture_on_commit_callbacks):
    from tests.privacy.test_records_keys import _license
    from transactions import keystore
    from transactions.models import LicenseKey

    license = _license(world, django_capture_on_commit_callbacks)
    extract = license.extracts.get()
    key = keystore.license_key(license.pk)
    inner, outer = privacy.hmac_pads(key)
    stored = [
        outer if p == {"key_pad": "outer"} else inner if p == {"key_pad": "inner"} else p
        for p in extract.recipe["params"]
    ]
    try:
        call_command("migrate", "transactions", "0004_h14_license_keys", verbosity=0)
        # The database as it was before: a plaintext key and a recipe holding its pads.
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE transactions_license SET secret_key = %s WHERE id = %s", [key.hex(), license.pk]
            )
        LicenseKey.objects.all().delete()
        executor = MigrationExecutor(connection)
        apps = executor.loader.project_state(("transactions", "0004_h14_license_keys")).apps
        apps.get_model("transactions", "Extract").objects.filter(pk=extract.pk).update(
            recipe={**extract.recipe, "params": stored}
        )
        with connection.schema_editor() as editor:
            importlib.import_module("transactions.migrations.0004_h14_license_keys").seal_keys(apps, editor)
        with connection.cursor() as cursor:
            cursor.execute("SELECT secret_key FROM transactions_license WHERE id = %s", [license.pk])
            assert cursor.fetchone() == ("",)
    finally:
        call_command("migrate", "transactions", verbosity=0)
    assert keystore.license_key(license.pk) == key
    extract.refresh_from_db()
    assert extract.recipe["params"] == [
        {"key_pad": "outer"} if p == outer else {"key_pad": "inner"} if p == inner else p for p in stored
    ]
    assert outer not in str(extract.recipe) and inner not in str(extract.recipe)
