"""A tiny OTLP/HTTP trace receiver for tests: POST /v1/traces with protobuf bodies, as the
OpenTelemetry SDK's http/protobuf exporter sends them (opentelemetry-proto decodes them)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2


@dataclass(frozen=True)
class ReceivedSpan:
    service: str
    name: str
    kind: int
    trace_id: str
    span_id: str
    parent_span_id: str
    attributes: dict[str, Any]
    status_code: int


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in any_value.array_value.values]
    return getattr(any_value, kind) if kind else None


class OtlpReceiver:
    def __init__(self) -> None:
        self.spans: list[ReceivedSpan] = []
        self._changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                request = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
                receiver._add(request)
                answer = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def _add(self, request: trace_service_pb2.ExportTraceServiceRequest) -> None:
        received = []
        for resource_spans in request.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    received.append(
                        ReceivedSpan(
                            service=str(resource.get("service.name", "")),
                            name=span.name,
                            kind=span.kind,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_span_id=span.parent_span_id.hex(),
                            attributes={a.key: _value(a.value) for a in span.attributes},
                            status_code=span.status.code,
                        )
                    )
        with self._changed:
            self.spans.extend(received)
            self._changed.notify_all()

    def wait_for(self, trace_id: str, count: int, timeout: float = 15.0) -> list[ReceivedSpan]:
        """The spans of one trace, once at least `count` of them have arrived."""

        def ready() -> bool:
            return len(self.of(trace_id)) >= count

        with self._changed:
            if not self._changed.wait_for(ready, timeout):
                raise TimeoutError(
                    f"{len(self.of(trace_id))} of {count} spans of {trace_id} arrived: "
                    f"{[(s.service, s.name) for s in self.of(trace_id)]}"
                )
            return self.of(trace_id)

    def wait_for_names(
        self, trace_id: str, names: set[tuple[str, str]], timeout: float = 15.0
    ) -> list[ReceivedSpan]:
        """The spans of one trace, once a span of each (service, name) has arrived (others,
        such as a key resolution that may or may not be cached, may come too)."""

        def ready() -> bool:
            return names <= {(s.service, s.name) for s in self.of(trace_id)}

        with self._changed:
            if not self._changed.wait_for(ready, timeout):
                raise TimeoutError(
                    f"spans of {trace_id} missing: "
                    f"{names - {(s.service, s.name) for s in self.of(trace_id)}}"
                )
            return self.of(trace_id)

    def of(self, trace_id: str) -> list[ReceivedSpan]:
        return [s for s in self.spans if s.trace_id == trace_id]

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
