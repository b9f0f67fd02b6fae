"""License keys kept apart from the data they pseudonymize (the guideline's 추가정보).

Each license's HMAC key (32 random bytes) is stored only encrypted, by envelope encryption:

- a fresh data-encryption key (DEK, AES-256) per license encrypts the license key with AES-GCM,
  bound to the license id (authenticated data), so a row copied onto another license fails;
- the DEK is itself encrypted ("wrapped") with AES-GCM under the key-encryption key (KEK), which
  never touches the database: it comes from the environment (`JANGTEO_KEK`), or from a KMS
  through `KEYSTORE_KEK_PROVIDER`.

Rows live in `LicenseKey`, with no foreign key, so the key store can be its own database
(`KEYSTORE_DATABASE_URL`, routed by `KeyStoreRouter`) with its own credentials and backups.
`rotate()` re-encrypts every row under the current KEK (new DEK, same license key), so no
pseudonym changes. Recipes and manifests never hold key material (transactions.extracts.engine).
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

KEY_BYTES = 32
NONCE_BYTES = 12
# The development KEK: used only with DEBUG on and no JANGTEO_KEK (`check --deploy` refuses it).
DEVELOPMENT_KEK = base64.urlsafe_b64encode(hashlib.sha256(b"jangteo development KEK").digest()).decode()
KEYSTORE_ALIAS = "keys"


class KeyStoreError(RuntimeError):
    """A key cannot be read: missing, or sealed under a KEK this process does not have."""


def decode_kek(text: str) -> bytes:
    """A KEK as configured: 32 bytes, URL-safe base64 (`python -c "import secrets, base64;
    print(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())"`)."""
    try:
        raw = base64.urlsafe_b64decode(text.strip().encode() + b"=" * (-len(text.strip()) % 4))
    except ValueError as exc:
        raise ImproperlyConfigured("A key-encryption key must be URL-safe base64.") from exc
    if len(raw) != KEY_BYTES:
        raise ImproperlyConfigured(
            f"A key-encryption key must be {KEY_BYTES} bytes (base64), not {len(raw)}."
        )
    return raw


def kek_id(kek: bytes) -> str:
    """A short public name of a KEK (which KEK sealed a row), not usable to recover it."""
    return hashlib.sha256(b"jangteo-kek-id:" + kek).hexdigest()[:16]


class EnvironmentKEK:
    """KEKs from settings: `KEYSTORE_KEK` (current; JANGTEO_KEK) and `KEYSTORE_PREVIOUS_KEKS`
    (JANGTEO_KEK_PREVIOUS, comma-separated), kept only while `rotate-keys` moves rows off them.

    A KMS provider implements the same three methods (`current_id`, `wrap`, `unwrap`), e.g.
    with AWS KMS `Encrypt`/`Decrypt` of the DEK under a key ARN: the KEK then never leaves the
    KMS and every unwrap is in its audit log."""

    def __init__(self) -> None:
        current = settings.KEYSTORE_KEK
        if not current:
            raise ImproperlyConfigured("JANGTEO_KEK must be set: license keys are encrypted under it.")
        keks = [decode_kek(current)] + [decode_kek(k) for k in settings.KEYSTORE_PREVIOUS_KEKS if k]
        self._keks = {kek_id(k): k for k in reversed(keks)}
        self._current = kek_id(keks[0])

    def current_id(self) -> str:
        return self._current

    def wrap(self, dek: bytes, *, context: bytes) -> tuple[str, bytes]:
        nonce = os.urandom(NONCE_BYTES)
        return self._current, nonce + AESGCM(self._keks[self._current]).encrypt(nonce, dek, context)

    def unwrap(self, wrapped: bytes, *, kek: str, context: bytes) -> bytes:
        if kek not in self._keks:
            raise KeyStoreError(
                f"The key was sealed under KEK {kek}, which is not configured (set JANGTEO_KEK_PREVIOUS)."
            )
        try:
            return AESGCM(self._keks[kek]).decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], context)
        except InvalidTag as exc:
            raise KeyStoreError("A wrapped key failed authentication: wrong KEK or tampered row.") from exc


def kek_provider():
    return import_string(settings.KEYSTORE_KEK_PROVIDER)()


@dataclass(frozen=True)
class Sealed:
    kek_id: str
    wrapped_dek: bytes
    ciphertext: bytes


def _context(license_id: int, what: str) -> bytes:
    return f"jangteo:license:{int(license_id)}:{what}".encode()


def seal(license_id: int, key: bytes, provider=None) -> Sealed:
    """Encrypt one license key: a new DEK encrypts it, the KEK wraps the DEK."""
    provider = provider or kek_provider()
    dek = AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = nonce + AESGCM(dek).encrypt(nonce, key, _context(license_id, "key"))
    kek, wrapped = provider.wrap(dek, context=_context(license_id, "dek"))
    return Sealed(kek_id=kek, wrapped_dek=wrapped, ciphertext=ciphertext)


def unseal(license_id: int, sealed: Sealed, provider=None) -> bytes:
    provider = provider or kek_provider()
    dek = provider.unwrap(bytes(sealed.wrapped_dek), kek=sealed.kek_id, context=_context(license_id, "dek"))
    data = bytes(sealed.ciphertext)
    try:
        return AESGCM(dek).decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], _context(license_id, "key"))
    except InvalidTag as exc:
        raise KeyStoreError(f"The key of license {license_id} failed authentication.") from exc


# --- the store ------------------------------------------------------------------------------------


def _model():
    from transactions.models import LicenseKey

    return LicenseKey


def _db() -> str:
    return KEYSTORE_ALIAS if KEYSTORE_ALIAS in settings.DATABASES else "default"


def license_key_create(license_id: int) -> bytes:
    """A new random key for a license, stored sealed; returns the key (for this call only)."""
    key = secrets.token_bytes(KEY_BYTES)
    sealed = seal(license_id, key)
    _model().objects.using(_db()).create(
        license_id=license_id,
        kek_id=sealed.kek_id,
        wrapped_dek=sealed.wrapped_dek,
        ciphertext=sealed.ciphertext,
    )
    return key


def license_key(license_id: int) -> bytes:
    """The license's key, decrypted for the caller's use; never store or log it."""
    row = _model().objects.using(_db()).filter(license_id=license_id).first()
    if row is None:
        raise KeyStoreError(f"License {license_id} has no key in the key store.")
    return unseal(license_id, Sealed(row.kek_id, row.wrapped_dek, row.ciphertext))


def license_keys(license_ids: list[int]) -> dict[int, bytes]:
    """Keys of several licenses (one query)."""
    provider = kek_provider()
    rows = _model().objects.using(_db()).filter(license_id__in=list(license_ids))
    return {
        r.license_id: unseal(r.license_id, Sealed(r.kek_id, r.wrapped_dek, r.ciphertext), provider)
        for r in rows
    }


def rotate(*, batch_size: int = 500) -> dict:
    """Re-encrypt every key not sealed under the current KEK (each under a new DEK); the license
    keys themselves, and so every pseudonym, stay the same. Idempotent: rows already under the
    current KEK are left alone. Returns `{"rotated", "already_current", "kek"}`."""
    from django.db import transaction
    from django.utils import timezone

    provider = kek_provider()
    current = provider.current_id()
    model = _model()
    db = _db()
    rotated = 0
    stale = model.objects.using(db).exclude(kek_id=current).order_by("pk").values_list("pk", flat=True)
    ids = list(stale)
    for start in range(0, len(ids), batch_size):
        with transaction.atomic(using=db):
            for row in (
                model.objects.using(db).select_for_update().filter(pk__in=ids[start : start + batch_size])
            ):
                if row.kek_id == current:
                    continue
                key = unseal(row.license_id, Sealed(row.kek_id, row.wrapped_dek, row.ciphertext), provider)
                sealed = seal(row.license_id, key, provider)
                row.kek_id, row.wrapped_dek, row.ciphertext = (
                    sealed.kek_id,
                    sealed.wrapped_dek,
                    sealed.ciphertext,
                )
                row.rotated_at = timezone.now()
                row.save(update_fields=["kek_id", "wrapped_dek", "ciphertext", "rotated_at"])
                rotated += 1
    total = model.objects.using(db).count()
    return {"rotated": rotated, "already_current": total - rotated, "kek": current}


class KeyStoreRouter:
    """Sends `LicenseKey` to the `keys` database when one is configured (KEYSTORE_DATABASE_URL);
    nothing else goes there. Without it, everything stays in `default`."""

    @staticmethod
    def _is_key(model) -> bool:
        return model._meta.app_label == "transactions" and model._meta.model_name == "licensekey"

    def db_for_read(self, model, **hints):
        if self._is_key(model) and KEYSTORE_ALIAS in settings.DATABASES:
            return KEYSTORE_ALIAS
        return None

    db_for_write = db_for_read

    def allow_relation(self, obj1, obj2, **hints):
        return None

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        if KEYSTORE_ALIAS not in settings.DATABASES:
            return None
        is_key = app_label == "transactions" and model_name == "licensekey"
        if db == KEYSTORE_ALIAS:
            return is_key
        return False if is_key else None
