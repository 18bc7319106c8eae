// Turning rhone.ws.v1 failures into the SDK's own error classes.
//
// A `call.error` frame carries the HTTP status the same call would have had and the surface's own
// error body (docs/rhone-ws-v1.md, "Server to client"), which is exactly what the SDK's
// `APIError.generate(status, body, message, headers)` takes for an HTTP error. Frame errors
// (`error` frames) carry only a code: we give them the status an HTTP server would have used and
// build the surface's error body around their message.

/**
 * The status each frame error code stands for (docs/rhone-ws-v1.md, "Error codes").
 * @type {Readonly<Record<string, number>>}
 */
export const FRAME_ERROR_STATUS = Object.freeze({
  invalid_json: 400,
  invalid_frame: 400,
  unknown_frame_type: 400,
  invalid_surface: 400,
  invalid_shape: 400,
  invalid_call_id: 400,
  duplicate_call_id: 400,
  session_mismatch: 400,
  unknown_call: 404,
  session_not_found: 404,
  too_many_calls: 429,
  unavailable: 503,
  // Runs (docs/rhone-ws-v1.md, "Runs").
  run_not_found: 404,
  duplicate_run_id: 409,
  invalid_run_id: 400,
  invalid_tool_outputs: 400,
  run_not_waiting: 409,
  run_ended: 409,
});

/**
 * @param {string} code
 * @returns {number}
 */
export function frameErrorStatus(code) {
  return FRAME_ERROR_STATUS[code] ?? 400;
}

/**
 * @typedef {object} ErrorStyle  How one family of surfaces writes an error body.
 * @property {(code: string, message: string, status: number) => unknown} body
 * @property {(body: unknown, status: number) => unknown} fromUpgrade  a refused upgrade's body
 *   (always OpenAI-shaped, docs/rhone-ws-v1.md "Connecting") in this style
 */

/** @type {ErrorStyle} OpenAI's `{"error": {message, type, param, code}}`. */
export const OPENAI_STYLE = Object.freeze({
  body: (code, message, status) => ({
    error: {
      message,
      type: status >= 500 ? "server_error" : "invalid_request_error",
      param: null,
      code,
    },
  }),
  fromUpgrade: (body) => body,
});

/** Anthropic's error `type` for an HTTP status (its API errors page). */
const ANTHROPIC_TYPES = /** @type {Record<number, string>} */ ({
  400: "invalid_request_error",
  401: "authentication_error",
  403: "permission_error",
  404: "not_found_error",
  413: "request_too_large",
  429: "rate_limit_error",
  529: "overloaded_error",
});

/** @type {ErrorStyle} Anthropic's `{"type": "error", "error": {type, message}}`. */
export const ANTHROPIC_STYLE = Object.freeze({
  body: (_code, message, status) => ({
    type: "error",
    error: { type: ANTHROPIC_TYPES[status] ?? "api_error", message },
  }),
  fromUpgrade: (body, status) => {
    const error = /** @type {any} */ (body)?.error;
    const message = typeof error?.message === "string" ? error.message : String(body ?? "");
    return ANTHROPIC_STYLE.body(error?.code ?? "", message, status);
  },
});

/**
 * @typedef {object} ErrorHooks  What the protocol client calls to build its errors.
 * @property {(frame: {code: string, status: number, error: unknown}) => Error} callError
 * @property {(frame: {code: string, message: string}) => Error} frameError
 * @property {(status: number, body: unknown, headers: Headers) => Error} httpError
 * @property {(message: string, cause?: unknown) => Error} connectionError
 */

/**
 * @typedef {object} SdkErrorClasses  The SDK's error classes (static on its client class).
 * @property {{generate(status: number | undefined, body: unknown, message: string | undefined, headers: Headers | undefined): Error}} APIError
 * @property {new (options: {message?: string, cause?: Error}) => Error} APIConnectionError
 */

/**
 * Error hooks that build the SDK's own classes: `BadRequestError` for 400, `NotFoundError` for
 * 404, ... exactly as its HTTP client would for the same status and body.
 * @param {SdkErrorClasses} sdk
 * @param {ErrorStyle} style
 * @returns {ErrorHooks}
 */
export function sdkErrorHooks({ APIError, APIConnectionError }, style) {
  // The SDKs' generate() only picks a status class when headers are given; the header tells
  // the same stable code an HTTP answer would carry in x-rhone-error-code.
  const headersFor = (/** @type {string} */ code) =>
    new Headers(code ? { "x-rhone-error-code": code } : {});
  return {
    callError: ({ code, status, error }) =>
      APIError.generate(status, error, undefined, headersFor(code)),
    frameError: ({ code, message }) => {
      const status = frameErrorStatus(code);
      return APIError.generate(
        status,
        style.body(code, message, status),
        undefined,
        headersFor(code),
      );
    },
    httpError: (status, body, headers) =>
      APIError.generate(status, style.fromUpgrade(body, status), undefined, headers),
    connectionError: (message, cause) =>
      new APIConnectionError({ message, cause: cause instanceof Error ? cause : undefined }),
  };
}

/**
 * Plain errors, for using the protocol client without an SDK.
 * @type {ErrorHooks}
 */
export const PLAIN_ERROR_HOOKS = Object.freeze({
  callError: (frame) => new RhoneWsError(`${frame.status} ${frame.code}`, frame),
  frameError: (frame) => new RhoneWsError(`${frame.code}: ${frame.message}`, frame),
  httpError: (status, body) =>
    new RhoneWsError(`WebSocket upgrade refused: ${status}`, { status, error: body }),
  connectionError: (message, cause) => new RhoneWsError(message, {}, cause),
});

/** A failure of the protocol client without an SDK: the frame that said so is on `frame`. */
export class RhoneWsError extends Error {
  /**
   * @param {string} message
   * @param {Record<string, any>} frame
   * @param {unknown} [cause]
   */
  constructor(message, frame, cause) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = "RhoneWsError";
    this.frame = frame;
    /** @type {string | undefined} */
    this.code = frame.code;
    /** @type {number | undefined} */
    this.status = frame.status;
  }
}
