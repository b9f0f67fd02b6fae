"""E-mails about accounts, sent by the worker (queued after commit by services)."""

from __future__ import annotations


def organization_verified(organization_id: int) -> None:
    from accounts.tasks import send_organization_verified_email

    send_organization_verified_email.delay(organization_id)


def member_invited(membership_id: int) -> None:
    from accounts.tasks import send_member_invitation_email

    send_member_invitation_email.delay(membership_id)
