"""License keys apart (issue 14): encrypted in `LicenseKey`, out of `License` and of recipes.

1. Create `LicenseKey` (in the key store's database when KEYSTORE_DATABASE_URL is set: run
   `migrate --database keys` first).
2. Seal every existing plaintext `License.secret_key` under the configured KEK, and replace the
   HMAC pads stored in every `Extract.recipe` by placeholders (the engine derives the pads from
   the license key at run time; rebuilt files stay byte-identical).
3. Drop the plaintext column (0005, a migration of its own: PostgreSQL does not alter a table
   with pending trigger events from the updates above).
"""

import hashlib
import json

from django.db import migrations, models, router

KEY_PAD = "key_pad"


def _pads(key: bytes) -> tuple[str, str]:
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    block = key.ljust(64, b"\0")
    return bytes(b ^ 0x36 for b in block).hex(), bytes(b ^ 0x5C for b in block).hex()


def _recipe_sha256(recipe: dict, license_id: int) -> str:
    data = dict(recipe)
    data["params"] = [p for p in data.get("params", []) if not (isinstance(p, str) and p.endswith(".parquet"))]
    data["license"] = license_id
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


def seal_keys(apps, schema_editor):
    from transactions import keystore

    License = apps.get_model("transactions", "License")
    LicenseKey = apps.get_model("transactions", "LicenseKey")
    Extract = apps.get_model("transactions", "Extract")
    db = schema_editor.connection.alias
    keys_db = router.db_for_write(LicenseKey) or db
    licenses = License.objects.using(db).exclude(secret_key="").values_list("pk", "secret_key")
    if not licenses.exists():
        return
    provider = keystore.kek_provider()
    have = set(LicenseKey.objects.using(keys_db).values_list("license_id", flat=True))
    for pk, secret in licenses.iterator():
        key = bytes.fromhex(secret)
        if pk not in have:
            sealed = keystore.seal(pk, key, provider)
            LicenseKey.objects.using(keys_db).create(
                license_id=pk, kek_id=sealed.kek_id, wrapped_dek=sealed.wrapped_dek, ciphertext=sealed.ciphertext
            )
        inner, outer = _pads(key)
        placeholders = {inner: {KEY_PAD: "inner"}, outer: {KEY_PAD: "outer"}}
        for extract in Extract.objects.using(db).filter(license_id=pk).exclude(recipe={}):
            params = extract.recipe.get("params") or []
            scrubbed = [placeholders.get(p, p) if isinstance(p, str) else p for p in params]
            if scrubbed != params:
                extract.recipe = {**extract.recipe, "params": scrubbed}
                extract.recipe_sha256 = _recipe_sha256(extract.recipe, pk)
                extract.save(update_fields=["recipe", "recipe_sha256"])
    License.objects.using(db).update(secret_key="")


class Migration(migrations.Migration):
    dependencies = [
        ("transactions", "0003_extracts"),
    ]

    operations = [
        migrations.CreateModel(
            name="LicenseKey",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("license_id", models.BigIntegerField(unique=True)),
                ("kek_id", models.CharField(db_index=True, max_length=64)),
                ("wrapped_dek", models.BinaryField()),
                ("ciphertext", models.BinaryField()),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("rotated_at", models.DateTimeField(blank=True, null=True)),
            ],
            options={
                "verbose_name": "license key (encrypted)",
                "verbose_name_plural": "license keys (encrypted)",
            },
        ),
        migrations.RunPython(seal_keys, migrations.RunPython.noop, elidable=False),
    ]
