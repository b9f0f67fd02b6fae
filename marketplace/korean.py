"""Korean particles that fit the word before them.

Translations hold a value's particle in both forms, as Korean software writes when it cannot
know the word: "버전 %(n)s을(를)", "%(account)s(으)로". Once the value is in, the right form is
known: tossi picks it from the last syllable (or digit, or Latin letter) — "버전 2를",
"110-123으로", "서울로". `with_particles` does it for a text; ParticleMiddleware for every
Korean page and API answer, and the e-mail tasks for their bodies."""

from __future__ import annotations

import re

import tossi

# A word (no spaces) followed by a particle written in both forms.
_BOTH = "|".join(
    re.escape(p)
    for p in (
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
_PARTICLE = re.compile(rf"(?P<word>[^\s(]+?)(?P<particle>{_BOTH})")
_TYPES = ("text/html", "application/json", "text/plain")


def with_particles(text: str) -> str:
    """`text` with every "word을(를)"-style particle resolved for its word."""
    if "(" not in text:
        return text

    def fix(match: re.Match) -> str:
        word, particle = match.group("word"), match.group("particle")
        try:
            return tossi.postfix(word, particle)
        except Exception:  # a word tossi cannot read keeps both forms
            return match.group(0)

    return _PARTICLE.sub(fix, text)


class ParticleMiddleware:
    """Resolves particles in Korean HTML and JSON answers (not streamed files)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            getattr(response, "streaming", False)
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
