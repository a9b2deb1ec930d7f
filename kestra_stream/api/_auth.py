"""HTTP basic users and bearer API tokens from the server settings.

Compared in constant time; a refused request learns nothing about which part was wrong, and no
credential is ever logged.
"""

from __future__ import annotations

import base64
import binascii
import hmac

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from kestra_stream.api._errors import error_response
from kestra_stream.api._routes import Handler as EndpointHandler
from kestra_stream.api._settings import ApiSettings

PUBLIC_HANDLERS: web.AppKey[frozenset[EndpointHandler]] = web.AppKey("public_handlers", frozenset)
_CHALLENGE = {"WWW-Authenticate": 'Basic realm="kestra-stream", charset="UTF-8"'}


def authorized(settings: ApiSettings, header: str | None) -> bool:
    if not header:
        return False
    scheme, _, credentials = header.partition(" ")
    credentials = credentials.strip()
    if scheme.lower() == "bearer":
        given = credentials.encode()
        return any(hmac.compare_digest(given, token.get_secret_value().encode()) for token in settings.tokens)
    if scheme.lower() == "basic":
        try:
            user, _, password = base64.b64decode(credentials, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        expected = settings.basic_auth.get(user)
        # Compared even for an unknown user, so timing does not tell which users exist.
        secret = expected.get_secret_value() if expected is not None else "\0"
        return hmac.compare_digest(password.encode(), secret.encode()) and expected is not None
    return False


def auth_middleware(settings: ApiSettings) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not settings.auth_enabled or request.method == "OPTIONS":
            return await handler(request)
        if request.match_info.handler in request.config_dict[PUBLIC_HANDLERS]:
            return await handler(request)
        if authorized(settings, request.headers.get("Authorization")):
            return await handler(request)
        return error_response(401, "authentication required: HTTP basic credentials of a configured user, "
                                   "or `Authorization: Bearer <api token>`", headers=_CHALLENGE)

    return middleware
