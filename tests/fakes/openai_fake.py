"""A fake ``api.openai.com``: Chat Completions, Responses and the model list.

Point an SDK at ``f"{fake.base_url}/v1"``. With ``api_key`` set, every call must carry
``Authorization: Bearer <api_key>`` (401 ``invalid_api_key`` otherwise), as upstream.
"""

from __future__ import annotations

import time

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes.openai_chat_wire import ChatWire
from tests.fakes.openai_common import error_plan, response_headers
from tests.fakes.openai_responses_wire import ResponsesWire
from tests.fakes.plans import Frame, Plan
from tests.fakes.scenarios import Error, Scenario
from tests.fakes.server import FakeServer, RecordedRequest

_NO_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization "
    "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
)


class FakeOpenAI(FakeServer):
    """``POST /v1/chat/completions``, ``POST /v1/responses``, ``GET /v1/models[/{id}]``."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        models: tuple[str, ...] = ("gpt-4o-mini", "gpt-4o"),
        default: Scenario | None = None,
    ) -> None:
        super().__init__(default=default)
        self.api_key = api_key
        self.models = models

    def routes(self) -> list[Route]:
        return [
            Route("/v1/chat/completions", self._chat, methods=["POST"]),
            Route("/v1/responses", self._responses, methods=["POST"]),
            Route("/v1/models", self._list_models, methods=["GET"]),
            Route("/v1/models/{model:path}", self._get_model, methods=["GET"]),
        ]

    async def _chat(self, request: Request) -> Response:
        recorded = await self.record(request)
        if (denied := self._denied(recorded)) is not None:
            return denied
        wire = ChatWire(recorded, self.new_id)
        return self.respond(self.next_scenario(recorded), wire, _streaming(recorded))

    async def _responses(self, request: Request) -> Response:
        recorded = await self.record(request)
        if (denied := self._denied(recorded)) is not None:
            return denied
        wire = ResponsesWire(recorded, self.new_id)
        return self.respond(self.next_scenario(recorded), wire, _streaming(recorded))

    async def _list_models(self, request: Request) -> Response:
        recorded = await self.record(request)
        if (denied := self._denied(recorded)) is not None:
            return denied
        data = [_model(name) for name in self.models]
        return self._json({"object": "list", "data": data})

    async def _get_model(self, request: Request) -> Response:
        recorded = await self.record(request)
        if (denied := self._denied(recorded)) is not None:
            return denied
        name = request.path_params["model"]
        if name not in self.models:
            message = f"The model '{name}' does not exist"
            plan = error_plan(Error(404, message=message), self.new_id("req_"))
            return self.send_plan(plan)
        return self._json(_model(name))

    def unknown_route(self, recorded: RecordedRequest) -> Plan:
        message = f"Invalid URL ({recorded.method} {recorded.path})"
        return error_plan(Error(404, body={"error": _invalid_url(message)}), self.new_id("req_"))

    def _denied(self, recorded: RecordedRequest) -> Response | None:
        if self.api_key is None:
            return None
        auth = recorded.headers.get("authorization", "")
        if auth == f"Bearer {self.api_key}":
            return None
        if auth:
            failure = Error(401)
        else:
            missing = {"message": _NO_KEY, "type": "invalid_request_error", "param": None}
            failure = Error(401, body={"error": {**missing, "code": None}})
        return self.send_plan(error_plan(failure, self.new_id("req_")))

    def _json(self, payload: object) -> Response:
        headers = response_headers(self.new_id("req_"), "application/json")
        plan = Plan(headers=headers, steps=(Frame(orjson.dumps(payload)),))
        return self.send_plan(plan)


def _invalid_url(message: str) -> dict[str, object]:
    return {"message": message, "type": "invalid_request_error", "param": None, "code": None}


def _streaming(recorded: RecordedRequest) -> bool:
    return isinstance(recorded.body, dict) and recorded.body.get("stream") is True


def _model(name: str) -> dict[str, object]:
    return {"id": name, "object": "model", "created": int(time.time()), "owned_by": "openai"}
