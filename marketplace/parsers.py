"""Request-body parsing that fails with a 4xx, never a 500."""

from __future__ import annotations

import json

from django.conf import settings
from django.utils.translation import gettext as _
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser, MultiPartParser


class SafeJSONParser(JSONParser):
    """Invalid UTF-8 and nesting deep enough to exhaust Python's recursion limit are the
    client's error, not the server's. (DRF hands JSON parsers Django's size-limited body, so
    oversize bodies stop earlier, as RequestDataTooBig → 413 in marketplace.api.)"""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            text = stream.read().decode(settings.DEFAULT_CHARSET)
        except UnicodeDecodeError as exc:
            raise ParseError(_("The body is not valid UTF-8 (byte %(pos)s).") % {"pos": exc.start}) from exc
        try:
            return json.loads(text)
        except RecursionError as exc:
            raise ParseError(_("The JSON is nested too deeply.")) from exc
        except ValueError as exc:
            raise ParseError(_("The body is not valid JSON: %(error)s") % {"error": exc}) from exc


class SafeMultiPartParser(MultiPartParser):
    """Django decodes a multipart body's text fields with errors="replace", which would store
    bytes that are not UTF-8 as U+FFFD without a word. A replacement character in a field means
    exactly that (no form asks a person to type it): the request is refused instead."""

    def parse(self, stream, media_type=None, parser_context=None):
        result = super().parse(stream, media_type, parser_context)
        for name, values in result.data.lists():
            if "\ufffd" in name or any("\ufffd" in value for value in values):
                shown = name.replace("\ufffd", "?")
                raise ParseError(_("The form field %(name)s is not valid UTF-8 text.") % {"name": shown})
        return result
