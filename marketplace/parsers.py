"""Request-body parsing that fails with a 4xx, never a 500."""

from __future__ import annotations

import json

from django.conf import settings
from django.utils.translation import gettext as _
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


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
