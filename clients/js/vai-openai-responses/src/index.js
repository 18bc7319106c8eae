// vai-openai-responses: the official `openai` client, plus `client.responses.connect()` over
// Rhone's rhone.ws.v1 socket (docs/rhone-ws-v1.md). Everything else is the SDK, unchanged.

import BaseOpenAI from "openai";
import { OPENAI_STYLE, addConnect, sdkErrorHooks, withV1 } from "rhone-ws-core";

/**
 * @typedef {import("openai").ClientOptions & import("rhone-ws-core").WrapperOptions} ClientOptions
 */

/** @type {import("rhone-ws-core").SurfaceSpec} */
const RESPONSES = {
  surface: "openai.responses",
  // The SDK's HTTP stream throws on an event with a top-level `error` instead of yielding it
  // (openai core/streaming.mjs, Stream.fromSSEResponse); it yields `response.failed` and the
  // `error` event (whose fields are top-level). On the socket, call.error follows a failure.
  acceptEvent: (event) => !event?.error,
  errors: sdkErrorHooks(BaseOpenAI, OPENAI_STYLE),
};

export class OpenAI extends BaseOpenAI {
  /**
   * @param {ClientOptions} [options]  the SDK's options, with `baseURL` Rhone's root (no `/v1`:
   *   the client adds it), `webSocket` a WebSocket constructor (`ws`'s, or a browser's) and
   *   `webSocketAuth` how the key travels (auto: a header with `ws`, a subprotocol in browsers).
   */
  constructor({ baseURL, ...options } = {}) {
    // webSocket and webSocketAuth stay in the SDK's options, so withOptions() keeps them.
    super({ ...options, baseURL: baseURL == null ? undefined : withV1(baseURL) });
    addConnect(this, this.responses, options, RESPONSES);
  }
}

export default OpenAI;
