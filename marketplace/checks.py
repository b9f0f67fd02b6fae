"""System checks of the deployment that Django's own `check --deploy` does not make."""

from django.conf import settings
from django.core import checks

PER_PROCESS_CACHES = ("locmem", "dummy")


@checks.register(checks.Tags.security, checks.Tags.caches, deploy=True)
def shared_cache(app_configs, **kwargs):
    """API throttles and the catalog's cache generation live in the default cache: a cache of
    each process's own lets every process count its own quota and serve its own stale pages."""
    backend = settings.CACHES["default"]["BACKEND"].lower()
    if any(name in backend for name in PER_PROCESS_CACHES):
        return [
            checks.Warning(
                "The default cache is kept by each process: API rate limits count per process and "
                "catalog changes reach other processes late.",
                hint="Set CACHE_URL to a shared cache, e.g. redis://host:6379/1.",
                id="jangteo.W001",
            )
        ]
    return []
