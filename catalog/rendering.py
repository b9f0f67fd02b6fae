"""Markdown descriptions rendered to safe HTML (Markdown → HTML → nh3 allow-list)."""

import threading

import markdown
import nh3

ALLOWED_TAGS = {
    "p",
    "br",
    "strong",
    "em",
    "code",
    "pre",
    "blockquote",
    "ul",
    "ol",
    "li",
    "a",
    "h2",
    "h3",
    "h4",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "hr",
}


_local = threading.local()


def _renderer() -> markdown.Markdown:
    # Building a Markdown instance (its extensions especially) costs more than rendering a
    # description; keep one per thread (instances are not thread-safe) and reset it per use.
    renderer = getattr(_local, "renderer", None)
    if renderer is None:
        renderer = _local.renderer = markdown.Markdown(
            extensions=["tables", "fenced_code"], output_format="html"
        )
    return renderer.reset()


def markdown_to_html(text: str) -> str:
    if not text:
        return ""
    html = _renderer().convert(text)
    return nh3.clean(
        html, tags=ALLOWED_TAGS, attributes={"a": {"href", "title"}}, link_rel="nofollow noopener"
    )
