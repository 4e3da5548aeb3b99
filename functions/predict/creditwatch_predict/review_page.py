"""The reviewer's page: one HTML page (Jinja2), its script and style sheet, under a strict Content-Security-Policy.

The page holds no case data: its script reads the queue and cases through the review routes with the
reviewer's token (from the sign-in redirect's `#id_token=` or pasted), so the page itself needs no auth.
Nothing is loaded from elsewhere: the policy allows this origin's script, style and API only.
"""

from __future__ import annotations

import functools
from importlib import resources

from fastapi.responses import Response

from creditwatch_common.review import REASON_CODES

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cache-control": "no-store",
}
ASSETS = {
    "review.js": "text/javascript; charset=utf-8",
    "review.css": "text/css; charset=utf-8",
    # Its own icon: else a browser asks for /favicon.ico, which no route answers.
    "icon.svg": "image/svg+xml",
}


@functools.cache
def _environment() -> object:
    from jinja2 import Environment, PackageLoader, select_autoescape

    return Environment(
        loader=PackageLoader("creditwatch_predict", "templates"),
        autoescape=select_autoescape(default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )


@functools.cache
def render_page(group: str) -> str:
    """The page's HTML (the reason codes and the reviewer group filled in)."""
    template = _environment().get_template("review.html.j2")  # type: ignore[attr-defined]
    return str(template.render(group=group, reason_codes=REASON_CODES))


def page_response(group: str) -> Response:
    """GET /review."""
    return Response(render_page(group), media_type="text/html; charset=utf-8", headers=HEADERS)


@functools.cache
def _asset(name: str) -> bytes:
    return resources.files("creditwatch_predict").joinpath("static", name).read_bytes()


def asset_response(name: str) -> Response | None:
    """GET /review/assets/{name}: the page's script or style sheet; None for anything else."""
    if name not in ASSETS:
        return None
    return Response(_asset(name), media_type=ASSETS[name], headers={**HEADERS, "cache-control": "max-age=300"})
