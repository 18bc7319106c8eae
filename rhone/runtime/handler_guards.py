"""Guards on an internal gRPC server's calls (the service token, the bound on concurrent calls),
wrapped around its method handlers once, when they are registered (ObservedServer in
rhone/observability/grpc_hooks.py), instead of installed as server interceptors: grpc.aio
runs every call of a server that has an interceptor through its interceptor pipeline, which
cost about 8% of the CPU of a whole call through the four services (docs/performance.md).

A guard is entered before its method's behavior runs, in the order the guards are given, and
refuses the call by aborting it (whatever the guards before it took is given back); it is left
when the call ends, however it ends, with the exception that ended it. Observability is the
innermost guard of each observed handler (rhone/observability/grpc_hooks.py)."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import grpc


class Guard(Protocol):
    def applies(self, method: str) -> bool:
        """Whether the guard watches `method` (a full method name, `/package.Service/Name`)."""
        ...

    async def enter(self, context: grpc.aio.ServicerContext, method: str) -> object:
        """Admits the call (returning what `leave` takes) or aborts it."""
        ...

    def leave(
        self, entered: object, context: grpc.aio.ServicerContext, exc: BaseException | None
    ) -> None:
        """The call ended: with `exc`, or without (None)."""
        ...


def guard_handler(
    method: str, handler: grpc.RpcMethodHandler, guards: Sequence[Guard]
) -> grpc.RpcMethodHandler:
    """`handler` with each of its behaviors inside the guards that apply to `method`."""
    active = [guard for guard in guards if guard.applies(method)]
    if not active:
        return handler

    async def enter(context: grpc.aio.ServicerContext) -> list[tuple[Guard, object]]:
        entered: list[tuple[Guard, object]] = []
        try:
            for guard in active:
                entered.append((guard, await guard.enter(context, method)))
        except BaseException as exc:
            leave(entered, context, exc)
            raise
        return entered

    def leave(
        entered: list[tuple[Guard, object]],
        context: grpc.aio.ServicerContext,
        exc: BaseException | None,
    ) -> None:
        for guard, token in reversed(entered):
            guard.leave(token, context, exc)

    def once(behavior: Callable[..., Any]) -> Callable[..., Any]:
        async def guarded(request: Any, context: grpc.aio.ServicerContext) -> Any:
            entered = await enter(context)
            try:
                result = await behavior(request, context)
            except BaseException as exc:
                leave(entered, context, exc)
                raise
            leave(entered, context, None)
            return result

        return guarded

    def streamed(behavior: Callable[..., Any]) -> Callable[..., Any]:
        if not inspect.isasyncgenfunction(behavior):
            # A handler that writes with context.write() and returns: guarded like a unary.
            return once(behavior)

        async def guarded(request: Any, context: grpc.aio.ServicerContext) -> Any:
            entered = await enter(context)
            try:
                async for message in behavior(request, context):
                    yield message
            except BaseException as exc:
                leave(entered, context, exc)
                raise
            leave(entered, context, None)

        return guarded

    replaced: dict[str, Callable[..., Any]] = {}
    for kind, guard_of in (
        ("unary_unary", once),
        ("stream_unary", once),
        ("unary_stream", streamed),
        ("stream_stream", streamed),
    ):
        behavior = getattr(handler, kind)
        if behavior is not None:
            replaced[kind] = guard_of(behavior)
    return handler._replace(**replaced)  # type: ignore[attr-defined, no-any-return]
