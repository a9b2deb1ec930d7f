"""The REST API: Kestra's paths under /api/v1 (and /api/v1/main), on aiohttp, on either backend.

    app = create_app(ApiServices(backend=..., search=..., storage=..., registry=..., settings=ApiSettings()))

Handlers live in one module per part (``_flows``, ``_executions`` ...), each declaring its
endpoints on an ``ApiRoutes`` table; the OpenAPI document is built from those declarations.
"""

from kestra_stream.api._app import OPENAPI_PATH, ROUTE_TABLES, create_app
from kestra_stream.api._errors import ApiError, ErrorDetail, ErrorResponse
from kestra_stream.api._routes import ApiRoutes, Endpoint, openapi_document
from kestra_stream.api._server import serving
from kestra_stream.api._services import ApiServices
from kestra_stream.api._settings import ApiSettings

__all__ = [
    "OPENAPI_PATH",
    "ROUTE_TABLES",
    "ApiError",
    "ApiRoutes",
    "ApiServices",
    "ApiSettings",
    "Endpoint",
    "ErrorDetail",
    "ErrorResponse",
    "create_app",
    "openapi_document",
    "serving",
]
