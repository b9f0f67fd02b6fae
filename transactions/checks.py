"""Deployment checks of the key store (`manage.py check --deploy`)."""

from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.security, deploy=True)
def key_encryption_key(app_configs=None, **kwargs):
    from transactions.keystore import DEVELOPMENT_KEK, decode_kek

    if settings.KEYSTORE_KEK_PROVIDER != "transactions.keystore.EnvironmentKEK":
        return []
    if not settings.KEYSTORE_KEK or settings.KEYSTORE_KEK == DEVELOPMENT_KEK:
        return [
            checks.Error(
                "JANGTEO_KEK is not set: license keys would be encrypted under the development key.",
                hint="Set JANGTEO_KEK to 32 random bytes in URL-safe base64, kept outside the database "
                "(or configure KEYSTORE_KEK_PROVIDER for a KMS).",
                id="jangteo.E101",
            )
        ]
    try:
        decode_kek(settings.KEYSTORE_KEK)
    except Exception as exc:  # ImproperlyConfigured with the reason
        return [checks.Error(f"JANGTEO_KEK is not a valid key: {exc}", id="jangteo.E102")]
    return []
