"""The API served by a component process (``server local``, ``server standalone``, ``webserver``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from aiohttp import web

from kestra_stream.api._app import create_app
from kestra_stream.api._services import ApiServices

log = structlog.get_logger(__name__)


@asynccontextmanager
async def serving(services: ApiServices) -> AsyncIterator[web.AppRunner]:
    """The API listening on the settings' host and port until the block ends."""
    settings = services.settings
    runner = web.AppRunner(create_app(services), access_log=None, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    log.info("api_listening", host=settings.host, port=settings.port, auth=settings.auth_enabled)
    if not settings.loopback_only and not settings.auth_enabled:
        log.warning("api_exposed_without_authentication", host=settings.host, port=settings.port,
                    fix="configure api.basic_auth or api.tokens (KESTRA_STREAM_API_BASIC_AUTH, "
                        "KESTRA_STREAM_API_TOKENS), or listen on 127.0.0.1")
    try:
        yield runner
    finally:
        await runner.cleanup()
