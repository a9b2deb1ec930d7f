"""Prometheus metrics of one API application: its HTTP traffic and the executions of its backend.

Each application owns a ``CollectorRegistry`` (never prometheus-client's global one), so a process
or a test suite can build many applications without their series colliding.
``install_metrics(app, services)`` wires everything into an application before it starts:

    kestra_http_requests_total{method, route, status}            requests answered
    kestra_http_request_duration_seconds{method, route}          their latency (histogram)
    kestra_executions_created_total{namespace, flow_id}          executions seen starting (first seen running)
    kestra_executions_ended_total{namespace, flow_id, state}     executions seen ending, by final state
    kestra_info{version, backend}                                always 1

Routes are labelled by their declared path (``/api/v1/flows/{namespace}/{id}``), never by the
requested one, so the number of series stays bounded whatever clients ask for.
"""

from __future__ import annotations

import threading
import time
from importlib.metadata import PackageNotFoundError, version

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from kestra_stream.api._routes import API_PREFIX, TENANT_PREFIX
from kestra_stream.api._services import ApiServices
from kestra_stream.executor.fold import ExecutionState

__all__ = ["METRICS", "ApiMetrics", "install_metrics"]

# Request latencies of an API: from a millisecond (a health check) to minutes (wait=true, SSE).
_LATENCY_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
_UNMATCHED = "unmatched"


def _package_version() -> str:
    try:
        return version("kestra-stream")
    except PackageNotFoundError:
        return "0.0.0"


class ApiMetrics:
    """The metrics of one application, and the backend listener that counts executions."""

    def __init__(self, backend_name: str) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("kestra_http_requests", "HTTP requests answered by the API",
                                ("method", "route", "status"), registry=self.registry)
        self.latency = Histogram("kestra_http_request_duration_seconds", "Time to answer an HTTP request",
                                 ("method", "route"), buckets=_LATENCY_BUCKETS, registry=self.registry)
        self.created = Counter("kestra_executions_created", "Executions created",
                               ("namespace", "flow_id"), registry=self.registry)
        self.ended = Counter("kestra_executions_ended", "Executions ended, by final state",
                             ("namespace", "flow_id", "state"), registry=self.registry)
        info = Gauge("kestra_info", "The running kestra-stream", ("version", "backend"), registry=self.registry)
        info.labels(version=_package_version(), backend=backend_name).set(1)
        # Executions seen running, so an end is counted once even when its snapshot is seen again.
        # Listeners of the Kafka backend are called from its client thread, hence the lock.
        self._running: set[str] = set()
        self._lock = threading.Lock()

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method=method, route=route, status=str(status)).inc()
        self.latency.labels(method=method, route=route).observe(seconds)

    def on_state(self, state: ExecutionState) -> None:
        """A backend listener: counts an execution when it is created and when it ends."""
        execution = state.execution
        current = execution.state.current
        with self._lock:
            running = execution.id in self._running
            if state.finished:
                if not running:
                    return
                self._running.discard(execution.id)
            else:
                if running:
                    return
                self._running.add(execution.id)
        if state.finished:
            self.ended.labels(namespace=execution.namespace, flow_id=execution.flow_id, state=current.value).inc()
        elif not any(history.state.is_terminated for history in execution.state.histories):
            # Seen running for the first time and never ended before (a restart is no creation).
            self.created.labels(namespace=execution.namespace, flow_id=execution.flow_id).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


METRICS: web.AppKey[ApiMetrics] = web.AppKey("metrics", ApiMetrics)


def route_label(request: web.Request) -> str:
    """The declared path of the route that served ``request``, tenant aliases folded into /api/v1."""
    resource = request.match_info.route.resource
    if resource is None:
        return _UNMATCHED
    canonical = resource.canonical
    if canonical.startswith(TENANT_PREFIX + "/"):
        return API_PREFIX + canonical[len(TENANT_PREFIX):]
    return canonical


def _middleware(metrics: ApiMetrics) -> Middleware:
    @web.middleware
    async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        status = 500  # what the client gets when the handler escapes every other middleware
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            metrics.observe_request(request.method, route_label(request), status, time.perf_counter() - started)

    return metrics_middleware


def install_metrics(app: web.Application, services: ApiServices) -> ApiMetrics:
    """Give ``app`` its metrics: the outermost middleware, and a backend listener once it starts.

    Call it before the application starts (middlewares are frozen then); a second call is a no-op.
    """
    existing = app.get(METRICS)
    if existing is not None:
        return existing
    metrics = ApiMetrics(services.backend_name)
    app[METRICS] = metrics
    # Outermost, so the status counted is the one the error middleware answered.
    app.middlewares.insert(0, _middleware(metrics))

    async def subscribe(_app: web.Application) -> None:
        services.backend.subscribe(metrics.on_state)

    app.on_startup.append(subscribe)
    return metrics
