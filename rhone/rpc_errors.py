"""Both ends of an error between Rhone's services, written once: the server's (``abort``, and
``answering`` for a servicer whose store raises), and the caller's, a peer's gRPC error as the
canonical failure a surface renders (the facade's routes, sockets and runs, the translator's
calls to sessions and providers).

A service that fails a call names the error precisely in the trailing metadata key
``rhone-error-detail`` (``session_not_found``, ``turn_not_found``, ``invalid_cursor``...), beside
the gRPC status that says its kind; the detail becomes the failure's ``detail`` (the error
``code`` a client sees) and may pick the ``param`` it names. A status whose details would leak a
peer's internals (exception names, transport text) is logged for the operator, and the client
gets a plain sentence."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import NoReturn, TypeVar

import grpc

from rhone.errors import make_failure
from rhone.v1 import generation_pb2 as gen

ERROR_DETAIL_KEY = "rhone-error-detail"

log = logging.getLogger("rhone.rpc_errors")

# The statuses whose details are written for a client (the peer's own sentence), and the code
# each one is.
_CLIENT_STATUSES: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.NOT_FOUND: gen.ERROR_CODE_NOT_FOUND,
    grpc.StatusCode.ALREADY_EXISTS: gen.ERROR_CODE_CONFLICT,
    grpc.StatusCode.ABORTED: gen.ERROR_CODE_CONFLICT,
    grpc.StatusCode.FAILED_PRECONDITION: gen.ERROR_CODE_CONFLICT,
    grpc.StatusCode.INVALID_ARGUMENT: gen.ERROR_CODE_INVALID_REQUEST,
    grpc.StatusCode.UNAUTHENTICATED: gen.ERROR_CODE_AUTHENTICATION,
    grpc.StatusCode.PERMISSION_DENIED: gen.ERROR_CODE_PERMISSION,
}
# A busy session is the one ABORTED any service answers with.
_DEFAULT_DETAILS: dict[grpc.StatusCode, str] = {grpc.StatusCode.ABORTED: "session_busy"}
# About a client's credentials only when named (invalid_api_key, or a caller's default, as the
# admin routes give): unnamed, they are this service's own identity refused by its peer
# (rhone/runtime/service_identity.py), which is the deployment's fault, not the client's.
_NAMED_ONLY = (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED)

_Servicer = TypeVar("_Servicer")
_Request = TypeVar("_Request")
_Response = TypeVar("_Response")
_Method = Callable[[_Servicer, _Request, grpc.aio.ServicerContext], Awaitable[_Response]]
# An exception as (status, message a client may read, detail).
StatusOf = Callable[[Exception], tuple[grpc.StatusCode, str, str]]


async def abort(
    context: grpc.aio.ServicerContext, code: grpc.StatusCode, message: str, detail: str = ""
) -> NoReturn:
    """Ends the RPC being served with ``code`` and ``message``, and ``detail`` under
    ``rhone-error-detail``. The key goes even when the detail is empty: it tells the caller the
    status is this service's own answer, not a transport's."""
    await context.abort(code, message, trailing_metadata=((ERROR_DETAIL_KEY, detail),))
    raise AssertionError("abort returns by raising")  # pragma: no cover


def answering(
    errors: tuple[type[Exception], ...], status_of: StatusOf
) -> Callable[[_Method[_Servicer, _Request, _Response]], _Method[_Servicer, _Request, _Response]]:
    """A decorator for servicer methods: an exception of ``errors`` (a caller's mistake, a race,
    an unreachable database) ends the RPC with the status ``status_of`` gives it; anything else
    is a bug and reaches the caller as INTERNAL."""

    def decorate(
        method: _Method[_Servicer, _Request, _Response],
    ) -> _Method[_Servicer, _Request, _Response]:
        @functools.wraps(method)
        async def answer(
            servicer: _Servicer, request: _Request, context: grpc.aio.ServicerContext
        ) -> _Response:
            try:
                return await method(servicer, request, context)
            except errors as exc:
                await abort(context, *status_of(exc))

        return answer

    return decorate


def detail_of(exc: grpc.aio.AioRpcError) -> str:
    """The ``rhone-error-detail`` the peer set, or ""."""
    for key, value in exc.trailing_metadata() or ():
        if key == ERROR_DETAIL_KEY:
            return value if isinstance(value, str) else value.decode()
    return ""


def failure_of_rpc(
    exc: grpc.aio.AioRpcError,
    *,
    service: str,
    details: Mapping[grpc.StatusCode, str] | None = None,
    params: Mapping[str, str] | None = None,
) -> gen.Failure:
    """``service`` names the peer in the sentences a client reads ("The sessions service is
    unavailable."); ``details`` is the detail of a status the peer did not name;
    ``params`` maps a detail to the request field it is about
    (``turn_not_found`` -> ``at_turn``)."""
    status, message = exc.code(), exc.details() or ""
    detail = detail_of(exc) or {**_DEFAULT_DETAILS, **(details or {})}.get(status, "")
    if status in _CLIENT_STATUSES and (detail or status not in _NAMED_ONLY):
        param = (params or {}).get(detail, "")
        return make_failure(_CLIENT_STATUSES[status], message, detail=detail, param=param)
    if status in (
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    ):
        # A peer past its deadline is as good as down (a database lock held elsewhere, a
        # restart), and one at its concurrent-call limit sheds the call: a retryable 503.
        return make_failure(gen.ERROR_CODE_UNAVAILABLE, f"The {service} service is unavailable.")
    log.warning("the %s service failed: %s %s", service, status, message)
    return make_failure(gen.ERROR_CODE_INTERNAL, f"The {service} service failed.")
