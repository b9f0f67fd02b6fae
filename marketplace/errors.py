"""Domain errors raised by services. One DRF exception handler (marketplace.api) and the web
views turn them into responses; services never build HTTP responses themselves."""

from __future__ import annotations


class ApplicationError(Exception):
    """A rule of the business refused the operation. `message` is a sentence a person can act
    on; `errors` maps input fields to their messages."""

    status_code = 400

    def __init__(self, message: str, *, errors: dict | None = None):
        super().__init__(message)
        self.message = message
        self.errors = errors or {}


class InvalidState(ApplicationError):
    """The object's current state does not allow the operation (HTTP 409)."""

    status_code = 409


class PermissionDenied(ApplicationError):
    """The caller may see the object but not do this (HTTP 403)."""

    status_code = 403


class NotFound(ApplicationError):
    """The object is absent or the caller may not see it (HTTP 404)."""

    status_code = 404


class TooLarge(ApplicationError):
    status_code = 413


class Throttled(ApplicationError):
    """Too many of these operations in a window (HTTP 429)."""

    status_code = 429
