// vai-anthropic: the official `@anthropic-ai/sdk` client, plus `client.messages.connect()` over
// Rhone's rhone.ws.v1 socket (docs/rhone-ws-v1.md). Everything else is the SDK, unchanged.

import BaseAnthropic from "@anthropic-ai/sdk";
import { ANTHROPIC_STYLE, addConnect, rhoneRoot, sdkErrorHooks } from "rhone-ws-core";

/**
 * @typedef {import("@anthropic-ai/sdk").ClientOptions & import("rhone-ws-core").WrapperOptions} ClientOptions
 */

// The SDK's HTTP stream skips `ping` events and throws on `error` events instead of yielding
// them (@anthropic-ai/sdk core/streaming.mjs, Stream.fromSSEResponse). On the socket an `error`
// event is followed by call.error, which carries the status the SDK's error class needs.
const NOT_YIELDED = new Set(["ping", "error"]);

/** @type {import("rhone-ws-core").SurfaceSpec} */
const MESSAGES = {
  surface: "anthropic.messages",
  acceptEvent: (event) => !NOT_YIELDED.has(event?.type),
  errors: sdkErrorHooks(BaseAnthropic, ANTHROPIC_STYLE),
};

export class Anthropic extends BaseAnthropic {
  /**
   * @param {ClientOptions} [options]  the SDK's options, with `baseURL` Rhone's root (no `/v1`:
   *   the SDK's paths carry it), `webSocket` a WebSocket constructor (`ws`'s, or a browser's)
   *   and `webSocketAuth` how the key travels (auto: a header with `ws`, a subprotocol in
   *   browsers).
   */
  constructor({ baseURL, ...options } = {}) {
    // webSocket and webSocketAuth stay in the SDK's options, so withOptions() keeps them.
    super({ ...options, baseURL: baseURL == null ? undefined : rhoneRoot(baseURL) });
    addConnect(this, this.messages, options, MESSAGES);
  }
}

export default Anthropic;
