from __future__ import annotations

import re

from celery import shared_task
from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import send_mail
from django.urls import reverse
from django.utils import translation
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext as _

from accounts.models import Invitation, Membership, Organization, User

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


ORGANIZATION_NAME_IN_EMAIL = 60
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069]")
_LINKISH = re.compile(r"(?i)(://|www\.|\w\.[a-z]{2,})")


def organization_name_for_email(name: str) -> str:
    """An organization's name as an e-mail may quote it: on one line, no control or bidi
    characters, at most ORGANIZATION_NAME_IN_EMAIL characters, and no dot that could make it
    read as a link (`evil.example` → `evil[.]example`). The inviter writes nothing else."""
    text = " ".join(_CONTROL.sub(" ", name or "").split())
    if _LINKISH.search(text):
        text = text.replace(".", "[.]").replace("://", "[:]//")
    if len(text) > ORGANIZATION_NAME_IN_EMAIL:
        text = text[: ORGANIZATION_NAME_IN_EMAIL - 1].rstrip() + "…"
    return text


def _site(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


@shared_task(**EMAIL_RETRY)
def send_invitation_email(invitation_id: int) -> int:
    invitation = Invitation.objects.select_related("organization").filter(pk=invitation_id).first()
    if invitation is None or invitation.state != Invitation.State.PENDING:
        return 0
    with translation.override(settings.LANGUAGE_CODE):
        return send_mail(
            _("[Jangteo] An invitation to join an organization"),
            _(
                "You are invited to join the organization 「%(org)s」 on Jangteo as %(role)s.\n\n"
                "Nothing changes unless you accept. To accept or decline, log in and open:\n%(url)s\n\n"
                "No password yet, or forgotten it? Set one here with this e-mail address:\n%(reset)s\n\n"
                "Did not expect this? Ignore this e-mail; the invitation lapses on its own."
            )
            % {
                "org": organization_name_for_email(invitation.organization.name),
                "role": invitation.get_role_display(),
                "url": _site(reverse("invitations")),
                "reset": _site(reverse("password_reset")),
            },
            None,
            [invitation.email],
        )


@shared_task(**EMAIL_RETRY)
def send_signup_confirmation_email(user_id: int) -> int:
    user = User.objects.filter(pk=user_id, is_active=False).first()
    if user is None:
        return 0
    path = reverse(
        "signup-confirm",
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": default_token_generator.make_token(user),
        },
    )
    with translation.override(settings.LANGUAGE_CODE):
        return send_mail(
            _("[Jangteo] Confirm your e-mail address"),
            _(
                "Someone (we hope you) signed up for Jangteo with this address. "
                "Confirm it to start using your account:\n%(url)s\n\n"
                "Did not sign up? Ignore this e-mail; the account stays unusable."
            )
            % {"url": _site(path)},
            None,
            [user.email],
        )


@shared_task(**EMAIL_RETRY)
def send_signup_existing_account_email(user_id: int) -> int:
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        return 0
    with translation.override(settings.LANGUAGE_CODE):
        return send_mail(
            _("[Jangteo] You already have an account"),
            _(
                "Someone (we hope you) tried to sign up for Jangteo with this address, which "
                "already has an account; nothing was changed.\n\n"
                "Log in here:\n%(login)s\n\nNo password yet, or forgotten it? Set one here:\n%(reset)s"
            )
            % {"login": _site(reverse("login")), "reset": _site(reverse("password_reset"))},
            None,
            [user.email],
        )
