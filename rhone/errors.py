"""The one canonical error type, carried through every service and rendered by each dialect."""

from __future__ import annotations

from rhone.v1 import generation_pb2 as gen

Code = gen.ErrorCode

_DEFAULT_STATUS: dict[int, int] = {
    gen.ERROR_CODE_INVALID_REQUEST: 400,
    gen.ERROR_CODE_AUTHENTICATION: 401,
    gen.ERROR_CODE_PERMISSION: 403,
    gen.ERROR_CODE_NOT_FOUND: 404,
    gen.ERROR_CODE_CONFLICT: 409,
    gen.ERROR_CODE_REQUEST_TOO_LARGE: 413,
    gen.ERROR_CODE_RATE_LIMITED: 429,
    gen.ERROR_CODE_INTERNAL: 500,
    gen.ERROR_CODE_OVERLOADED: 503,
    gen.ERROR_CODE_TIMEOUT: 504,
    gen.ERROR_CODE_UNAVAILABLE: 503,
    gen.ERROR_CODE_CANCELLED: 499,
}

_CODE_FOR_STATUS: dict[int, int] = {
    400: gen.ERROR_CODE_INVALID_REQUEST,
    401: gen.ERROR_CODE_AUTHENTICATION,
    403: gen.ERROR_CODE_PERMISSION,
    404: gen.ERROR_CODE_NOT_FOUND,
    409: gen.ERROR_CODE_CONFLICT,
    413: gen.ERROR_CODE_REQUEST_TOO_LARGE,
    422: gen.ERROR_CODE_INVALID_REQUEST,
    429: gen.ERROR_CODE_RATE_LIMITED,
    503: gen.ERROR_CODE_UNAVAILABLE,
    504: gen.ERROR_CODE_TIMEOUT,
    529: gen.ERROR_CODE_OVERLOADED,
}

RETRYABLE_CODES = frozenset(
    {
        gen.ERROR_CODE_RATE_LIMITED,
        gen.ERROR_CODE_INTERNAL,
        gen.ERROR_CODE_OVERLOADED,
        gen.ERROR_CODE_UNAVAILABLE,
        gen.ERROR_CODE_TIMEOUT,
    }
)


def make_failure(
    code: int,
    message: str,
    *,
    detail: str = "",
    param: str = "",
    http_status: int = 0,
    retryable: bool | None = None,
    retry_after_ms: int = 0,
) -> gen.Failure:
    return gen.Failure(
        code=code,  # type: ignore[arg-type]
        message=message,
        detail=detail,
        param=param,
        http_status=http_status,
        retryable=(code in RETRYABLE_CODES) if retryable is None else retryable,
        retry_after_ms=retry_after_ms,
    )


def http_status_of(failure: gen.Failure) -> int:
    """The HTTP status a surface answers a failure with."""
    if failure.http_status:
        return failure.http_status
    return _DEFAULT_STATUS.get(failure.code, 500)


def code_for_status(status: int) -> int:
    """The canonical code of an upstream HTTP error status."""
    if status in _CODE_FOR_STATUS:
        return _CODE_FOR_STATUS[status]
    if status >= 500:
        return gen.ERROR_CODE_INTERNAL
    return gen.ERROR_CODE_INVALID_REQUEST


class RhoneError(Exception):
    """A failure raised in pure code; the caller renders it in its surface's shape."""

    def __init__(self, failure: gen.Failure) -> None:
        super().__init__(failure.message)
        self.failure = failure

    @classmethod
    def invalid(cls, message: str, *, param: str = "", detail: str = "") -> RhoneError:
        return cls(
            make_failure(gen.ERROR_CODE_INVALID_REQUEST, message, param=param, detail=detail)
        )

    @classmethod
    def of(cls, code: int, message: str, **kwargs: object) -> RhoneError:
        return cls(make_failure(code, message, **kwargs))  # type: ignore[arg-type]
