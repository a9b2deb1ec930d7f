"""The web UI: the built single-page application served at ``/ui/``, behind the API's authentication.

    GET /              302 to /ui/
    GET /ui            302 to /ui/
    GET /ui/<file>     the file of the build, as it is
    GET /ui/<route>    index.html: the application routes in the browser (history mode)

The build (``kestra_stream/ui/dist``: ``index.html`` and ``assets/`` with hashed names) is made
by ``make install``. Hashed assets never change under their name, so browsers keep them for a
year; index.html is revalidated on every load so a new build is picked up at once. When the UI is
not built, ``/ui/`` answers 503 with a page saying how to build it.
"""

from __future__ import annotations

import html
from pathlib import Path

from aiohttp import web

from kestra_stream.api._errors import ApiError

UI_PATH = "/ui/"
UI_DIST = Path(__file__).resolve().parent.parent / "ui" / "dist"
ASSETS = "assets"
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"

_NOT_BUILT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>kestra-stream: the UI is not built</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 3em auto">
<h1>The web UI is not built</h1>
<p>This server has no UI build in <code>{dist}</code>.</p>
<p>Build it from the source tree with <code>make install</code> (it needs Node.js and npm), then reload
this page. The REST API works without it: <a href="/api/v1/openapi.json">/api/v1/openapi.json</a>.</p>
</body></html>
"""


def install_ui(app: web.Application, dist: Path = UI_DIST) -> None:
    """Add the UI's routes to ``app`` (the main application, so its middlewares apply)."""
    root = dist.resolve()

    async def to_ui(_request: web.Request) -> web.StreamResponse:
        return web.Response(status=302, headers={"Location": UI_PATH})

    async def ui(request: web.Request) -> web.StreamResponse:
        index = root / "index.html"
        if not index.is_file():
            return web.Response(status=503, text=_NOT_BUILT.format(dist=html.escape(str(root))),
                                content_type="text/html", headers={"Cache-Control": REVALIDATE})
        relative = request.match_info["path"]
        target = _within(root, relative)
        if target is None:
            raise ApiError(404, f"no file {relative!r} in the UI build")
        asset = target.is_relative_to(root / ASSETS)
        if target.is_file():
            return web.FileResponse(target, headers={"Cache-Control": IMMUTABLE if asset else REVALIDATE})
        if asset:
            # A missing asset answered with the page would be run as a script and fail obscurely.
            raise ApiError(404, f"no file {relative!r} in the UI build")
        return web.FileResponse(index, headers={"Cache-Control": REVALIDATE})

    app.router.add_get("/", to_ui)
    app.router.add_get(UI_PATH.rstrip("/"), to_ui)
    app.router.add_get(UI_PATH + "{path:.*}", ui)


def _within(root: Path, relative: str) -> Path | None:
    """``root / relative`` when it stays inside ``root`` (symbolic links followed), else None."""
    if "\0" in relative:
        return None
    target = (root / relative).resolve()
    return target if target.is_relative_to(root) else None
