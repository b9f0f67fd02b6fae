"""How services apply permission rules: invisible → NotFound (404), visible but not allowed →
PermissionDenied (403)."""

from __future__ import annotations

from collections.abc import Callable

from django.utils.translation import gettext as _

from marketplace import errors


def authorize(
    rule: Callable[..., bool],
    actor,
    obj=None,
    *,
    can_view: Callable[..., bool] | None = None,
    message: str | None = None,
) -> None:
    if can_view is not None and not can_view(actor, obj):
        raise errors.NotFound(_("Not found."))
    if not rule(actor, obj):
        raise errors.PermissionDenied(message or _("You do not have permission to do this."))
