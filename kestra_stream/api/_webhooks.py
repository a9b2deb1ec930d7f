"""The webhook trigger: ``GET|POST|PUT /executions/webhook/{namespace}/{flowId}/{key}``.

Public (no authentication): the key is the secret. The flow's enabled Webhook trigger whose key
matches starts an execution that sees ``trigger.body`` (the JSON body parsed, else its text),
``trigger.headers`` and ``trigger.parameters`` (both maps of lists, as Kestra gives them). A wrong
key, a disabled trigger or a disabled flow all answer 404, alike, so a caller learns nothing about
which keys exist. Conditions that reject the call answer 204 and start nothing.

The answer is the execution as created; with the trigger's ``wait``, the execution once ended, and
with ``returnOutputs`` too, the flow's outputs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import structlog
from aiohttp import web

from kestra_stream.api._executions import created_execution
from kestra_stream.api._http import json_response, read_body, services
from kestra_stream.api._routes import ApiRoutes
from kestra_stream.errors import ExpressionError, KestraStreamError, NotFoundError
from kestra_stream.models.execution import Execution, TriggeredBy, execution_trigger
from kestra_stream.models.flow import Flow
from kestra_stream.plugins.spi import WebhookTrigger
from kestra_stream.scheduler import disabled_in
from kestra_stream.triggers import conditions_hold, emit_execution, render_with_trigger, trigger_uid

log = structlog.get_logger(__name__)

routes = ApiRoutes("Webhooks")

WEBHOOK_PATH = "/executions/webhook/{namespace}/{flowId}/{key}"
_BODY_SCHEMA: dict[str, Any] = {"description": "Any body: given to the flow as `trigger.body` (parsed when JSON)."}
WebhookAnswer = Execution | dict[str, Any]


def parse_body(raw: bytes, charset: str | None) -> Any:
    """``trigger.body``: a JSON object or array parsed, any other body as text, no body as null."""
    if not raw:
        return None
    try:
        text = raw.decode(charset or "utf-8")
    except (UnicodeDecodeError, LookupError):
        text = raw.decode("utf-8", errors="replace")
    try:
        parsed = json.loads(text)
    except ValueError:
        return text
    return parsed if isinstance(parsed, dict | list) else text


def multi_map(pairs: Mapping[str, str] | Any) -> dict[str, list[str]]:
    """A multi-valued map (headers, query parameters) as ``{name: [values]}``, names as sent."""
    out: dict[str, list[str]] = {}
    for name, value in pairs.items():
        out.setdefault(str(name), []).append(str(value))
    return out


def matching_webhook(flow: Flow, key: str, at: datetime) -> WebhookTrigger | None:
    """The flow's first enabled Webhook trigger whose (rendered) key is ``key``."""
    for trigger in flow.triggers or ():
        if not isinstance(trigger, WebhookTrigger) or trigger.disabled:
            continue
        try:
            expected = str(render_with_trigger(trigger.key, flow, {}, at)).strip()
        except ExpressionError as exc:
            # One unrenderable key must not make the other webhooks of the flow unreachable.
            log.warning("webhook_key_not_rendered", namespace=flow.namespace, flow_id=flow.id, trigger_id=trigger.id,
                        error=str(exc))
            continue
        if expected == key:
            return trigger
    return None




async def webhook(request: web.Request) -> web.StreamResponse:
    namespace, flow_id, key = (request.match_info[name] for name in ("namespace", "flowId", "key"))
    svc = services(request)
    not_found = NotFoundError(f"no enabled webhook of flow {namespace}.{flow_id} has this key: check the flow's "
                              "Webhook trigger (its `key`, `disabled`) and that the flow is enabled")
    try:
        flow, revision = svc.flows.get(namespace, flow_id)
    except NotFoundError:
        raise not_found from None
    now = datetime.now(UTC)
    trigger = None if flow.disabled else matching_webhook(flow, key, now)
    if trigger is None or (svc.triggers is not None and disabled_in(svc.triggers)(trigger_uid(flow, trigger))):
        raise not_found
    body = parse_body(await read_body(request), request.charset)
    variables = {"body": body, "headers": multi_map(request.headers), "parameters": multi_map(request.query)}
    if not conditions_hold(flow, trigger, variables, now):
        return web.Response(status=204)
    try:
        execution_id = await emit_execution(svc.backend, flow, trigger, variables, at=now, storage=svc.storage)
    except KestraStreamError as exc:
        log.info("webhook_refused", namespace=namespace, flow_id=flow_id, trigger_id=trigger.id, error=str(exc))
        raise
    if trigger.wait:
        ended = await svc.backend.wait(execution_id)
        return json_response(ended.outputs or {} if trigger.return_outputs else ended)
    state = svc.backend.state(execution_id)
    if state is not None:
        return json_response(state.execution)
    execution = created_execution(execution_id, flow, revision, {})
    return json_response(execution.model_copy(update={
        "trigger": execution_trigger(trigger.id, trigger.type, variables, TriggeredBy.WEBHOOK)}))


_ROUTE: dict[str, Any] = {"summary": "Start an execution through the flow's webhook", "response": WebhookAnswer,
                          "errors": (204,),
                          "public": True}
_BODY: dict[str, Any] = {"body_content": "*/*", "body_schema": _BODY_SCHEMA, "body_required": False}


@routes.route("GET", WEBHOOK_PATH, **_ROUTE)
async def webhook_get(request: web.Request) -> web.StreamResponse:
    return await webhook(request)


@routes.route("POST", WEBHOOK_PATH, **_ROUTE, **_BODY)
async def webhook_post(request: web.Request) -> web.StreamResponse:
    return await webhook(request)


@routes.route("PUT", WEBHOOK_PATH, **_ROUTE, **_BODY)
async def webhook_put(request: web.Request) -> web.StreamResponse:
    return await webhook(request)
