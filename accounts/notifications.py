"""E-mails about accounts, sent by the worker (queued after commit by services)."""

from __future__ import annotations


def organization_verified(organization_id: int) -> None:
    from accounts.tasks import send_organization_verified_email

    send_organization_verified_email.delay(organization_id)


def member_invited(invitation_id: int) -> None:
    from accounts.tasks import send_invitation_email

    send_invitation_email.delay(invitation_id)


def signup_confirmation(user_id: int) -> None:
    from accounts.tasks import send_signup_confirmation_email

    send_signup_confirmation_email.delay(user_id)


def signup_for_existing_account(user_id: int) -> None:
    from accounts.tasks import send_signup_existing_account_email

    send_signup_existing_account_email.delay(user_id)
