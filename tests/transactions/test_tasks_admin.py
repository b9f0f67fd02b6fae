"""Beat schedule, task wiring and the admin pages of the transactions models."""

import pytest
from django.conf import settings
from django.urls import reverse

from config.celery import app
from tests import factories
from tests.transactions.factories import request_in_state
from transactions import keystore
from transactions.models import AccessRequest, License

State = AccessRequest.State


def test_periodic_work_is_scheduled_and_registered():
    app.loader.import_default_modules()
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    for name in (
        "transactions.tasks.expire_licenses",
        "transactions.tasks.lapse_overdue_requests",
        "transactions.tasks.send_renewal_reminders",
    ):
        assert name in scheduled
        assert name in app.tasks
    assert "transactions.tasks.send_notification_emails" in app.tasks
    assert settings.REQUEST_REVIEW_DEADLINE_DAYS == 30


@pytest.mark.django_db
def test_admin_pages_open_and_never_show_the_secret(world, client):
    license = License.objects.get(access_request=request_in_state(world, State.LICENSED))
    request_in_state(world, State.AWAITING_PAYMENT)
    admin = factories.UserFactory(is_staff=True, is_superuser=True)
    client.force_login(admin)
    for model in (
        "accessrequest",
        "requestevent",
        "requestmessage",
        "invoice",
        "invoicesequence",
        "license",
        "downloadevent",
        "notification",
    ):
        response = client.get(reverse(f"admin:transactions_{model}_changelist"))
        assert response.status_code == 200, model
    assert client.get(reverse("admin:marketplace_auditevent_changelist")).status_code == 200
    page = client.get(reverse("admin:transactions_license_change", args=[license.pk]))
    assert page.status_code == 200
    assert keystore.license_key(license.pk).hex() not in page.content.decode()
    detail = client.get(reverse("admin:transactions_accessrequest_change", args=[license.access_request_id]))
    assert detail.status_code == 200
