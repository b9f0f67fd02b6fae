"""Who performs an operation. Services take an `actor`; work done by the platform itself
(Celery beat, ingestion) passes SYSTEM explicitly, so skipping a permission check is greppable."""


class SystemActor:
    is_authenticated = True
    is_system = True
    pk = None
    email = "system"

    def __repr__(self) -> str:
        return "SYSTEM"

    def __str__(self) -> str:
        return "system"


SYSTEM = SystemActor()


def is_system(actor) -> bool:
    return actor is SYSTEM


def is_authenticated(actor) -> bool:
    """Signed in: a user, or the platform itself."""
    return actor is not None and getattr(actor, "is_authenticated", False)


def is_person(actor) -> bool:
    """A signed-in user (not the platform)."""
    return is_authenticated(actor) and not is_system(actor)
