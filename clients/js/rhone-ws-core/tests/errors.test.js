// The error hooks build the SDK's own classes from what the frames carry.
import { test } from "node:test";
import assert from "node:assert/strict";

import { ANTHROPIC_STYLE, OPENAI_STYLE, frameErrorStatus, sdkErrorHooks } from "../src/index.js";

/** Records what generate() was given, as the SDKs' APIError.generate is called. */
class FakeAPIError extends Error {
  static generate(status, body, message, headers) {
    return Object.assign(new FakeAPIError(message ?? String(status)), { status, body, headers });
  }
}
class FakeConnectionError extends Error {
  constructor({ message, cause }) {
    super(message, { cause });
  }
}
const SDK = { APIError: FakeAPIError, APIConnectionError: FakeConnectionError };

test("call.error: generate() gets the frame's status, the surface's own body and the code header", () => {
  const body = { type: "error", error: { type: "not_found_error", message: "no model" } };
  const error = sdkErrorHooks(SDK, ANTHROPIC_STYLE).callError({
    code: "model_not_found",
    status: 404,
    error: body,
  });
  assert.equal(error.status, 404);
  assert.equal(error.body, body);
  assert.equal(error.headers.get("x-rhone-error-code"), "model_not_found");
});

for (const [code, status] of [
  ["session_not_found", 404],
  ["session_mismatch", 400],
  ["too_many_calls", 429],
  ["unavailable", 503],
  ["a_code_from_the_future", 400],
]) {
  test(`frame error ${code}: status ${status}, in each style's body`, () => {
    assert.equal(frameErrorStatus(code), status);
    const openai = sdkErrorHooks(SDK, OPENAI_STYLE).frameError({ code, message: "why" });
    assert.equal(openai.status, status);
    assert.equal(openai.body.error.message, "why");
    assert.equal(openai.body.error.code, code);
    const anthropic = sdkErrorHooks(SDK, ANTHROPIC_STYLE).frameError({ code, message: "why" });
    assert.equal(anthropic.status, status);
    assert.equal(anthropic.body.type, "error");
    assert.equal(anthropic.body.error.message, "why");
  });
}

test("refused upgrade: an OpenAI-shaped body becomes Anthropic's for the Anthropic style", () => {
  const body = {
    error: { message: "Invalid API key.", type: "invalid_request_error", code: "invalid_api_key" },
  };
  const headers = new Headers({ "x-request-id": "r1" });
  const openai = sdkErrorHooks(SDK, OPENAI_STYLE).httpError(401, body, headers);
  assert.equal(openai.body, body);
  assert.equal(openai.headers, headers);
  const anthropic = sdkErrorHooks(SDK, ANTHROPIC_STYLE).httpError(401, body, headers);
  assert.deepEqual(anthropic.body, {
    type: "error",
    error: { type: "authentication_error", message: "Invalid API key." },
  });
});

test("connection errors are the SDK's APIConnectionError with the cause kept", () => {
  const cause = new Error("ECONNRESET");
  const error = sdkErrorHooks(SDK, OPENAI_STYLE).connectionError("gone", cause);
  assert.ok(error instanceof FakeConnectionError);
  assert.equal(error.message, "gone");
  assert.equal(error.cause, cause);
});
