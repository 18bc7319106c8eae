// Opening a rhone.ws.v1 socket: the URL, the subprotocol, and how the key travels.
// The protocol is written down in docs/rhone-ws-v1.md ("Connecting").

export const SUBPROTOCOL = "rhone.ws.v1";
// Browsers cannot set headers on a WebSocket: the key goes as a second offered subprotocol,
// which the server never echoes back (docs/rhone-ws-v1.md, "Connecting").
export const KEY_SUBPROTOCOL_PREFIX = "rhone.key.";

/**
 * @typedef {object} WebSocketLike  What we use of a WebSocket: the browser API, which `ws` also has.
 * @property {number} readyState
 * @property {string} [protocol]
 * @property {(data: string) => void} send
 * @property {(code?: number, reason?: string) => void} close
 * @property {(type: string, listener: (event: any) => void, options?: object) => void} addEventListener
 * @property {(type: string, listener: (event: any) => void) => void} removeEventListener
 */

/**
 * @typedef {new (url: string, protocols?: string[], options?: object) => WebSocketLike} WebSocketConstructor
 * @typedef {"auto" | "header" | "subprotocol"} AuthMode
 */

/**
 * Rhone's root URL: no trailing slash and no `/v1` (a trailing `/v1` is tolerated, so that a
 * client rebuilt from the SDK's own base URL, as `withOptions()` does, lands on the same root).
 * @param {string | URL} url
 * @returns {string}
 */
export function rhoneRoot(url) {
  let root = String(url).replace(/\/+$/, "");
  if (root.endsWith("/v1")) root = root.slice(0, -"/v1".length);
  return root;
}

/**
 * The root with `/v1`, as the OpenAI SDK wants its base URL.
 * @param {string | URL} url
 * @returns {string}
 */
export function withV1(url) {
  return `${rhoneRoot(url)}/v1`;
}

/**
 * `ws(s)://<host>/<prefix>/v1/ws` for an `http(s)://` (or already `ws(s)://`) root.
 * @param {string | URL} root
 * @returns {string}
 */
export function socketURL(root) {
  const url = new URL(`${rhoneRoot(root)}/v1/ws`);
  if (url.protocol === "http:") url.protocol = "ws:";
  else if (url.protocol === "https:") url.protocol = "wss:";
  else if (url.protocol !== "ws:" && url.protocol !== "wss:") {
    throw new TypeError(`Rhone base URL must be http(s) or ws(s), got ${url.protocol}`);
  }
  return url.toString();
}

/**
 * How the key travels. `auto`: the `rhone.key.<key>` subprotocol for the platform's own
 * WebSocket (a browser's, which cannot send headers), the Authorization header otherwise
 * (`ws` takes headers in its third constructor argument).
 * @param {WebSocketConstructor} WebSocketImpl
 * @param {AuthMode} [requested]
 * @returns {"header" | "subprotocol"}
 */
export function authMode(WebSocketImpl, requested = "auto") {
  if (requested === "header" || requested === "subprotocol") return requested;
  if (requested !== "auto")
    throw new TypeError(`webSocketAuth must be auto, header or subprotocol`);
  return WebSocketImpl === globalThis.WebSocket ? "subprotocol" : "header";
}

/**
 * @typedef {object} OpenErrors
 * @property {(status: number, body: unknown, headers: Headers) => Error} httpError  a refused upgrade
 * @property {(message: string, cause?: unknown) => Error} connectionError
 */

/**
 * @typedef {object} OpenOptions
 * @property {string} baseURL  Rhone's root URL (no `/v1`)
 * @property {string} apiKey
 * @property {WebSocketConstructor} [WebSocket]  defaults to the global WebSocket
 * @property {AuthMode} [auth]
 * @property {Record<string, string>} [headers]  more upgrade headers (header auth only)
 * @property {AbortSignal} [signal]  gives up on the upgrade
 * @property {OpenErrors} errors
 */

/**
 * Opens the socket and resolves once the upgrade is done.
 * @param {OpenOptions} options
 * @returns {Promise<WebSocketLike>}
 */
export function openSocket({ baseURL, apiKey, WebSocket: Impl, auth, headers, signal, errors }) {
  const WebSocketImpl = Impl ?? globalThis.WebSocket;
  if (typeof WebSocketImpl !== "function") {
    throw new TypeError(
      "No WebSocket implementation: pass `webSocket` (e.g. `import WebSocket from 'ws'`).",
    );
  }
  if (!apiKey) throw new TypeError("An API key is needed to open a Rhone WebSocket.");
  const url = socketURL(baseURL);
  /** @type {WebSocketLike} */
  let socket;
  if (authMode(WebSocketImpl, auth) === "subprotocol") {
    socket = new WebSocketImpl(url, [SUBPROTOCOL, KEY_SUBPROTOCOL_PREFIX + apiKey]);
  } else {
    socket = new WebSocketImpl(url, [SUBPROTOCOL], {
      headers: { ...headers, Authorization: `Bearer ${apiKey}` },
    });
  }
  // `ws` is an EventEmitter: an "error" nobody listens to is thrown. Errors always come with a
  // close event, which is what the caller acts on; this listener stays for the socket's life.
  socket.addEventListener("error", () => {});
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (/** @type {Error | null} */ error) => {
      if (settled) return;
      settled = true;
      socket.removeEventListener("open", onOpen);
      socket.removeEventListener("error", onError);
      socket.removeEventListener("close", onClose);
      signal?.removeEventListener("abort", onAbort);
      if (error === null) resolve(socket);
      else reject(error);
    };
    const onOpen = () => settle(null);
    const onError = (/** @type {any} */ event) =>
      settle(
        errors.connectionError(
          `WebSocket to ${url} failed: ${event?.message ?? "error"}`,
          event?.error,
        ),
      );
    const onClose = (/** @type {any} */ event) =>
      settle(
        errors.connectionError(`WebSocket to ${url} closed before it opened (${event?.code})`),
      );
    const onAbort = () => {
      settle(errors.connectionError("The WebSocket upgrade was aborted.", signal?.reason));
      socket.close();
    };
    socket.addEventListener("open", onOpen);
    socket.addEventListener("error", onError);
    socket.addEventListener("close", onClose);
    if (signal?.aborted) return onAbort();
    signal?.addEventListener("abort", onAbort, { once: true });
    // `ws` only: a refused upgrade (401, 400) carries Rhone's JSON error body; read it so the
    // caller gets the SDK's own error class (AuthenticationError...) instead of a bare failure.
    const emitter = /** @type {any} */ (socket);
    if (typeof emitter.on === "function" && typeof emitter.terminate === "function") {
      emitter.on(
        "unexpected-response",
        (/** @type {any} */ _request, /** @type {any} */ response) => {
          let text = "";
          response.setEncoding("utf8");
          response.on("data", (/** @type {string} */ chunk) => (text += chunk));
          response.on("end", () => {
            settle(
              errors.httpError(response.statusCode, parseJSON(text), toHeaders(response.headers)),
            );
            emitter.terminate();
          });
          response.on("error", () => {
            settle(errors.connectionError(`WebSocket upgrade failed: ${response.statusCode}`));
            emitter.terminate();
          });
        },
      );
    }
  });
}

/** @param {string} text */
function parseJSON(text) {
  try {
    return JSON.parse(text);
  } catch {
    return text || undefined;
  }
}

/** @param {Record<string, string | string[] | undefined>} raw */
function toHeaders(raw) {
  const headers = new Headers();
  for (const [name, value] of Object.entries(raw ?? {})) {
    if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(", ") : value);
  }
  return headers;
}
