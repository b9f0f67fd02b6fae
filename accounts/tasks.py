from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import send_mail
from django.urls import reverse
from django.utils import translation
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext as _

from accounts.models import Membership, Organization

EMAIL_RETRY = {"autoretry_for": (OSError,), "retry_backoff": True, "max_retries": 5}


@shared_task(**EMAIL_RETRY)
def send_organization_verified_email(organization_id: int) -> int:
    org = Organization.objects.filter(pk=organization_id).first()
    if org is None:
        return 0
    recipients = list(
        org.memberships.filter(role=Membership.Role.MANAGER).values_list("user__email", flat=True)
    )
    with translation.override(settings.LANGUAGE_CODE):
        return send_mail(
            _("[Jangteo] %(org)s is verified") % {"org": org.name},
            _("Your organization %(org)s has been verified. You can now publish or request data.")
            % {"org": org.name},
            None,
            recipients,
        )


@shared_task(**EMAIL_RETRY)
def send_member_invitation_email(membership_id: int) -> int:
    membership = Membership.objects.select_related("user", "organization").filter(pk=membership_id).first()
    if membership is None:
        return 0
    user = membership.user
    path = reverse(
        "password_reset_confirm",
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": default_token_generator.make_token(user),
        },
    )
    with translation.override(settings.LANGUAGE_CODE):
        return send_mail(
            _("[Jangteo] You are invited to %(org)s") % {"org": membership.organization.name},
            _("You have been added to %(org)s as %(role)s. Set your password here: %(url)s")
            % {
                "org": membership.organization.name,
                "role": membership.get_role_display(),
                "url": settings.SITE_URL.rstrip("/") + path,
            },
            None,
            [user.email],
        )
