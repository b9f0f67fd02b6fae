"""Korean particles that fit the word before them.

Translations hold a value's particle in both forms, as Korean software writes when it cannot
know the word: "버전 %(n)s을(를)", "%(account)s(으)로". Once the value is in, the right form is
known: tossi picks it from the last syllable (or digit, or Latin letter) — "버전 2를",
"110-123으로", "서울로". `with_particles` does it for a text; ParticleMiddleware for every
Korean page and API answer, and the e-mail tasks for their bodies."""

from __future__ import annotations

import tossi

# A particle written in both forms: four characters each, with "(" first or second.
_BOTH = frozenset(
    (
        "을(를)",
        "를(을)",
        "이(가)",
        "가(이)",
        "은(는)",
        "는(은)",
        "과(와)",
        "와(과)",
        "(으)로",
        "(이)라",
        "(이)나",
        "(이)며",
    )
)
_TYPES = ("text/html", "application/json", "text/plain")


def _word_start(text: str, end: int, floor: int) -> int:
    """Where the word ending at `end` starts: the run of characters other than spaces and "("
    before it, not reaching back past `floor` (the end of the previous particle)."""
    start = end
    while start > floor and text[start - 1] != "(" and not text[start - 1].isspace():
        start -= 1
    return start


def _particles(text: str):
    """(position, particle) of each particle in `text`, left to right, not overlapping."""
    end = 0
    opening = text.find("(")
    while opening != -1:
        for at in (opening - 1, opening):
            if at >= end and text[at : at + 4] in _BOTH:
                yield at, text[at : at + 4]
                end = at + 4
                break
        opening = text.find("(", max(opening + 1, end))


def with_particles(text: str) -> str:
    """`text` with every "word을(를)"-style particle resolved for its word.

    The particles are found first (a search for "(", which skips the rest of the text at C
    speed), then each one's word is read backwards from it: a page without particles costs one
    scan, whatever the length of its words (a pattern that tries every word start forwards costs
    the square of the longest run without spaces)."""
    if "(" not in text:
        return text
    parts, done, floor = [], 0, 0
    for at, particle in _particles(text):
        start = _word_start(text, at, floor)
        floor = at + len(particle)
        if start == at:
            continue  # no word before it: keep both forms
        try:
            fitted = tossi.postfix(text[start:at], particle)
        except Exception:  # noqa: S112 - a word tossi cannot read keeps both forms
            continue
        parts += [text[done:start], fitted]
        done = floor
    if not parts:
        return text
    parts.append(text[done:])
    return "".join(parts)


def resolved_for_cache(text: str) -> str:
    """A page about to be kept in a cache, with its particles already resolved when it is in
    Korean: every visitor it is sent to then skips the middleware's work (see `resolved`)."""
    from django.utils.translation import get_language

    return with_particles(text) if (get_language() or "").startswith("ko") else text


def resolved(response):
    """Mark `response` as made from `resolved_for_cache` text: ParticleMiddleware leaves it."""
    response.particles_resolved = True
    return response


class ParticleMiddleware:
    """Resolves particles in Korean HTML and JSON answers (not streamed files, not answers
    marked `resolved`)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            getattr(response, "streaming", False)
            or getattr(response, "particles_resolved", False)
            or not (response.get("Content-Language") or "").startswith("ko")
            or not (response.get("Content-Type") or "").startswith(_TYPES)
        ):
            return response
        charset = response.charset or "utf-8"
        text = response.content.decode(charset, errors="strict")
        fixed = with_particles(text)
        if fixed != text:
            response.content = fixed.encode(charset)
            if response.has_header("Content-Length"):
                response["Content-Length"] = str(len(response.content))
        return response
