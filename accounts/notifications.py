"""E-mails about accounts, sent by the worker (queued after commit by services)."""

from __future__ import annotations

from marketplace.jobs import enqueue


def organization_verified(organization_id: int) -> None:
    enqueue("accounts.tasks.send_organization_verified_email", organization_id)


def member_invited(invitation_id: int) -> None:
    enqueue("accounts.tasks.send_invitation_email", invitation_id)


def signup_confirmation(user_id: int) -> None:
    enqueue("accounts.tasks.send_signup_confirmation_email", user_id)


def signup_for_existing_account(user_id: int) -> None:
    enqueue("accounts.tasks.send_signup_existing_account_email", user_id)
