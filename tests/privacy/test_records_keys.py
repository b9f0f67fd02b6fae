"""Finding: each license key sat in plain text in `License.secret_key`, and again, recoverably,
as HMAC pads in every `Extract.recipe`. Keys are now sealed under a key-encryption key from the
environment; recipes and manifests hold no key material; `rotate-keys` re-encrypts without
changing a pseudonym."""

import base64
import io
import json
import zipfile

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.db import connection
from django.test import override_settings

from catalog import privacy
from catalog.models import Offer
from tests import factories
from tests.transactions.factories import submit
from transactions import keystore, services
from transactions.models import License, LicenseKey

pytestmark = pytest.mark.django_db
RECORDS = ["sigungu_code", "industry", "card_id", "amount", "approved_at"]
OLD_KEK = base64.urlsafe_b64encode(b"o" * 32).decode()
NEW_KEK = base64.urlsafe_b64encode(b"n" * 32).decode()


def _license(world, capture) -> License:
    dataset = factories.published_dataset(world.center, with_data=True, row_count=40)
    offer = factories.OfferFactory(dataset=dataset, fields=RECORDS, approval=Offer.Approval.AUTOMATIC)
    with capture(execute=True):
        request = submit(world.buyer_analyst, offer, scope={"fields": RECORDS})
    return License.objects.get(access_request=request)


def _key_material(key: bytes) -> list[str]:
    inner, outer = privacy.hmac_pads(key)
    return [key.hex(), inner, outer, base64.b64encode(key).decode()]


def _dump_database() -> str:
    """Every text and binary value of every table, as an attacker with a database dump sees it."""
    parts = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT * FROM "{table}"')
            for row in cursor.fetchall():
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        parts.append(bytes(value).hex())
                    elif value is not None:
                        parts.append(str(value))
    return "\n".join(parts)


def test_no_key_material_in_the_database_recipes_or_manifests(world, django_capture_on_commit_callbacks):
    license = _license(world, django_capture_on_commit_callbacks)
    (extract,) = license.extracts.all()
    assert extract.status == "succeeded", extract.error
    key = keystore.license_key(license.pk)
    dump = _dump_database()
    recipe = json.dumps(extract.recipe)
    with zipfile.ZipFile(io.BytesIO(default_storage.open(extract.file).read())) as bundle:
        manifest = bundle.read("manifest.json").decode() + bundle.read("datapackage.json").decode()
    for material in _key_material(key):
        assert material not in dump
        assert material not in recipe
        assert material not in manifest
    assert {"key_pad": "outer"} in extract.recipe["params"]
    row = LicenseKey.objects.get(license_id=license.pk)
    assert row.kek_id == keystore.kek_id(keystore.decode_kek(keystore.DEVELOPMENT_KEK))


def test_a_sealed_key_does_not_open_under_another_kek_or_license(world, django_capture_on_commit_callbacks):
    license = _license(world, django_capture_on_commit_callbacks)
    row = LicenseKey.objects.get(license_id=license.pk)
    sealed = keystore.Sealed(row.kek_id, row.wrapped_dek, row.ciphertext)
    with (
        override_settings(KEYSTORE_KEK=NEW_KEK, KEYSTORE_PREVIOUS_KEKS=[]),
        pytest.raises(keystore.KeyStoreError, match="not configured"),
    ):
        keystore.license_key(license.pk)
    with pytest.raises(keystore.KeyStoreError):
        keystore.unseal(license.pk + 1, sealed)  # a row copied onto another license


def test_rotate_keys_reencrypts_every_key_without_changing_a_pseudonym(
    world, tmp_path, django_capture_on_commit_callbacks
):
    with override_settings(KEYSTORE_KEK=OLD_KEK):
        first = _license(world, django_capture_on_commit_callbacks)
        second = _license(world, django_capture_on_commit_callbacks)
        keys = {lic.pk: keystore.license_key(lic.pk) for lic in (first, second)}
        before = {r.license_id: bytes(r.wrapped_dek) for r in LicenseKey.objects.all()}
    digests = {lic.pk: lic.extracts.get().sha256 for lic in (first, second)}

    out = io.StringIO()
    with override_settings(KEYSTORE_KEK=NEW_KEK, KEYSTORE_PREVIOUS_KEKS=[OLD_KEK]):
        call_command("rotate-keys", stdout=out)
    assert "2 key(s) re-encrypted" in out.getvalue()
    new_id = keystore.kek_id(keystore.decode_kek(NEW_KEK))
    assert set(LicenseKey.objects.values_list("kek_id", flat=True)) == {new_id}
    assert all(bytes(r.wrapped_dek) != before[r.license_id] for r in LicenseKey.objects.all())

    with override_settings(KEYSTORE_KEK=NEW_KEK, KEYSTORE_PREVIOUS_KEKS=[]):
        assert {pk: keystore.license_key(pk) for pk in keys} == keys
        # The same files again, byte for byte: every pseudonym is unchanged.
        for lic in (first, second):
            extract = lic.extracts.get()
            default_storage.delete(extract.file)
            rebuilt = services.extract_build(actor=_system(), extract_id=extract.pk)
            assert rebuilt.status == "succeeded" and rebuilt.sha256 == digests[lic.pk]
        again = io.StringIO()
        call_command("rotate-keys", stdout=again)
        assert "0 key(s) re-encrypted" in again.getvalue()
    with (
        override_settings(KEYSTORE_KEK=OLD_KEK, KEYSTORE_PREVIOUS_KEKS=[]),
        pytest.raises(keystore.KeyStoreError),
    ):
        keystore.license_key(first.pk)


def _system():
    from marketplace.actors import SYSTEM

    return SYSTEM


def test_the_router_sends_keys_to_their_own_database_when_configured():
    router = keystore.KeyStoreRouter()
    with override_settings(DATABASES={"default": {}, "keys": {}}):
        assert router.db_for_write(LicenseKey) == "keys"
        assert router.db_for_read(License) is None
        assert router.allow_migrate("keys", "transactions", "licensekey") is True
        assert router.allow_migrate("keys", "transactions", "license") is False
        assert router.allow_migrate("default", "transactions", "licensekey") is False
    assert router.db_for_write(LicenseKey) is None
    assert router.allow_migrate("default", "transactions", "licensekey") is None
