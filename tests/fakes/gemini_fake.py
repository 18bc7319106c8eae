"""A fake Gemini: the Developer API and Vertex AI (regional and express) on one server.

Paths (the model/method split is on the last ``:`` of the final segment):
``/{v1beta|v1}/models/{model}:{method}`` (Developer API),
``/{v1|v1beta1}/projects/{p}/locations/{l}/publishers/{pub}/models/{model}:{method}`` and
``/{v1|v1beta1}/publishers/{pub}/models/{model}:{method}`` (Vertex; answers add
``createTime`` and ``usageMetadata.trafficType``). Methods: ``generateContent``,
``streamGenerateContent`` (``?alt=sse`` gives CRLF SSE, otherwise a JSON array stream),
``countTokens``. Auth: ``x-goog-api-key``, ``?key=`` or ``Authorization: Bearer``.
Wire facts: docs/protocols/gemini.md.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes.gemini_wire import GeminiWire, error_plan
from tests.fakes.plans import Frame, Plan
from tests.fakes.scenarios import Error, Scenario
from tests.fakes.server import FakeServer, RecordedRequest

_DEVELOPER_VERSIONS = ("v1beta", "v1", "v1alpha")
_VERTEX_VERSIONS = ("v1", "v1beta1")
_METHODS = ("generateContent", "streamGenerateContent", "countTokens")

_UNREGISTERED = (
    "Method doesn't allow unregistered callers (callers without established identity). "
    "Please use API Key or other form of API consumer identity to call this API."
)
_MISSING_CREDENTIAL = (
    "Request is missing required authentication credential. Expected OAuth 2 access token, "
    "login cookie or other valid authentication credential."
)
_BAD_TOKEN = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
    "cookie or other valid authentication credential."
)
_BAD_KEY = "API key not valid. Please pass a valid API key."


class FakeGemini(FakeServer):
    """Gemini Developer API + Vertex AI. ``countTokens`` answers ``fake.token_count`` and
    consumes no scenario.

    ``api_key`` (if set) must match ``x-goog-api-key``/``?key=`` when a key is sent;
    ``access_token`` (if set) must match the Bearer token when one is sent.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        access_token: str | None = None,
        token_count: int = 12,
        default: Scenario | None = None,
    ) -> None:
        super().__init__(default=default)
        self.api_key = api_key
        self.access_token = access_token
        self.token_count = token_count

    def routes(self) -> list[Route]:
        vertex_regional = (
            "/{version}/projects/{project}/locations/{location}"
            "/publishers/{publisher}/models/{target}"
        )
        vertex_express = "/{version}/publishers/{publisher}/models/{target}"
        return [
            Route("/{version}/models/{target}", self._developer, methods=["POST"]),
            Route(vertex_regional, self._vertex, methods=["POST"]),
            Route(vertex_express, self._vertex, methods=["POST"]),
        ]

    async def _developer(self, request: Request) -> Response:
        return await self._model_call(request, vertex=False)

    async def _vertex(self, request: Request) -> Response:
        return await self._model_call(request, vertex=True)

    async def _model_call(self, request: Request, *, vertex: bool) -> Response:
        recorded = await self.record(request)
        request_id = self.new_id("")
        versions = _VERTEX_VERSIONS if vertex else _DEVELOPER_VERSIONS
        model, _, method = str(request.path_params["target"]).rpartition(":")
        if request.path_params["version"] not in versions or not model or method not in _METHODS:
            message = f"Method not found: {recorded.path}"
            return self.send_plan(error_plan(Error(404, message=message), request_id))
        if (denied := self._denied(recorded, vertex, request_id)) is not None:
            return denied
        if method == "countTokens":
            return self.send_plan(self._count_tokens(vertex))
        wire = GeminiWire(
            model=model,
            vertex=vertex,
            sse=recorded.query.get("alt") == "sse",
            new_id=self.new_id,
            created=_now_rfc3339,
        )
        return self.respond(self.next_scenario(recorded), wire, method == "streamGenerateContent")

    def unknown_route(self, recorded: RecordedRequest) -> Plan:
        message = f"Method not found: {recorded.path}"
        return error_plan(Error(404, message=message), self.new_id(""))

    def _count_tokens(self, vertex: bool) -> Plan:
        body: dict[str, Any] = {
            "totalTokens": self.token_count,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": self.token_count}],
        }
        if vertex:
            body["totalBillableCharacters"] = self.token_count * 4
        headers = {"content-type": "application/json; charset=UTF-8"}
        return Plan(headers=headers, steps=(Frame(orjson.dumps(body)),))

    def _denied(self, recorded: RecordedRequest, vertex: bool, request_id: str) -> Response | None:
        key = recorded.headers.get("x-goog-api-key") or recorded.query.get("key")
        auth = recorded.headers.get("authorization", "")
        token = auth[len("Bearer ") :] if auth.startswith("Bearer ") else ""
        if key:
            if self.api_key is None or key == self.api_key:
                return None
            failure = Error(400, message=_BAD_KEY, body=_key_invalid_body())
        elif token:
            if self.access_token is None or token == self.access_token:
                return None
            failure = Error(401, message=_BAD_TOKEN)
        elif vertex:
            failure = Error(401, message=_MISSING_CREDENTIAL)
        else:
            failure = Error(403, message=_UNREGISTERED)
        return self.send_plan(error_plan(failure, request_id))


def _key_invalid_body() -> dict[str, object]:
    """Google answers a bad key with 400 (not 401) and an ErrorInfo naming the reason."""
    return {
        "error": {
            "code": 400,
            "message": _BAD_KEY,
            "status": "INVALID_ARGUMENT",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                    "metadata": {"service": "generativelanguage.googleapis.com"},
                }
            ],
        }
    }


def _now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
