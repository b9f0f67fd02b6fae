"""How services apply permission rules: invisible → NotFound (404), visible but not allowed →
PermissionDenied (403).

What an actor may see is written once per entity, as `<entity>_visible(actor) -> Q` in the
app's permissions module: selectors filter lists with it, and `is_visible` applies the same Q
to one object (in memory when the Q compares the object's own values, else by one query)."""

from __future__ import annotations

from collections.abc import Callable

from django.db.models import Manager, Q
from django.db.models.query import QuerySet
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


# The Q that matches no row (an anonymous caller's view of private things).
NOTHING = Q(pk__in=[])


def is_visible(obj, visible: Q) -> bool:
    """`obj` is among the rows `visible` (an `<entity>_visible(actor)`) lets through."""
    if not visible:  # Q(): sees everything
        return True
    answer = _matches(obj, visible)
    if answer is None:
        answer = type(obj)._default_manager.filter(visible, pk=obj.pk).exists()
    return answer


def _matches(obj, q: Q) -> bool | None:
    """Evaluate `q` against `obj`'s attributes; None when it cannot be told in memory."""
    results = []
    for child in q.children:
        result = _matches(obj, child) if isinstance(child, Q) else _compare(obj, *child)
        if result is None:
            return None
        results.append(result)
    value = any(results) if q.connector == Q.OR else all(results)
    return not value if q.negated else value


def _compare(obj, key: str, expected) -> bool | None:
    path, _sep, op = key.rpartition("__")
    if op not in ("in", "isnull"):
        path, op = key, "exact"
    if isinstance(expected, QuerySet):
        return None
    value = obj
    for name in path.split("__"):
        value = getattr(value, name, _MISSING)
        if value is _MISSING or isinstance(value, Manager):  # a reverse relation: ask the database
            return None
    if op == "in":
        return value in expected
    if op == "isnull":
        return (value is None) == expected
    return value == expected


_MISSING = object()
