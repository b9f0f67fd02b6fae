"""django-axes handler (AXES_HANDLER): locks an account after failures from many addresses."""

from __future__ import annotations

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username, get_failure_limit
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Sum
from django.utils import timezone


class LockoutHandler(AxesDatabaseHandler):
    """django-axes locks a (account, address) pair after LOGIN_FAILURE_LIMIT failures. This also
    locks the account, from every address, once it has LOGIN_ACCOUNT_FAILURE_LIMIT failures in the
    cool-off window from any number of addresses: guessing spread over many addresses is limited
    too. The account limit is higher, so one address alone cannot lock its owner out."""

    def get_failures(self, request, credentials=None) -> int:
        failures = super().get_failures(request, credentials)
        username = get_client_username(request, credentials)
        if not username:
            return failures
        since = timezone.now() - settings.AXES_COOLOFF_TIME
        account = (
            AccessAttempt.objects.filter(username=username, attempt_time__gte=since).aggregate(
                total=Sum("failures_since_start")
            )["total"]
            or 0
        )
        if account >= settings.LOGIN_ACCOUNT_FAILURE_LIMIT:
            return max(failures, get_failure_limit(request, credentials))
        return failures
