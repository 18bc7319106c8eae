// What the three SDK wrappers share: the connection object `connect()` resolves to (one surface,
// the SDK's error classes, the SDK's own event filter) and how `connect()` is put on a resource.

import { RhoneConnection } from "./connection.js";
import { rhoneRoot } from "./socket-open.js";

/**
 * @typedef {import("./socket-open.js").WebSocketConstructor} WebSocketConstructor
 * @typedef {import("./socket-open.js").AuthMode} AuthMode
 * @typedef {import("./errors.js").ErrorHooks} ErrorHooks
 * @typedef {import("./call-stream.js").AcceptEvent} AcceptEvent
 */

/**
 * @typedef {object} SurfaceSpec  One wrapper's surface.
 * @property {string} surface  the rhone.ws.v1 surface its calls use
 * @property {AcceptEvent} acceptEvent  the events its SDK's HTTP stream yields
 * @property {ErrorHooks} errors  errors as its SDK's classes
 */

/**
 * @typedef {object} ClientSettings  What the wrapper's client knows when `connect()` is called.
 * @property {string} baseURL  Rhone's root URL (no `/v1`)
 * @property {string | null | undefined | (() => string | Promise<string>)} apiKey
 * @property {WebSocketConstructor} [WebSocket]
 * @property {AuthMode} [auth]
 */

/**
 * @typedef {object} ConnectOptions
 * @property {string | null} [session_id]  when given (null: a new session), bind at once
 * @property {Record<string, string>} [headers]  more upgrade headers (header auth only)
 * @property {AbortSignal} [signal]  gives up on the upgrade
 */

/**
 * @typedef {object} SdkCreateOptions
 * @property {AbortSignal} [signal]  aborting it cancels the call
 * @property {string} [callId]  defaults to `call-<n>`
 */

/**
 * The connection `client.<resource>.connect()` resolves to: calls of one surface on one socket.
 * @template Params, Event
 */
export class SdkConnection {
  #spec;

  /**
   * @param {RhoneConnection} connection
   * @param {SurfaceSpec} spec
   */
  constructor(connection, spec) {
    this.#spec = spec;
    /** The protocol connection underneath (other surfaces, ping). */
    this.connection = connection;
    /**
     * Runs on this connection's surface (docs/rhone-ws-v1.md, "Runs"): `create(params, {runId,
     * maxSteps})` with the SDK's create params and tools; `attach(runId, {after})` resumes one,
     * from any connection. Their `run.event` frames carry the SDK's own stream events, and a
     * failed run's `error` is the SDK's error class.
     */
    this.runs = Object.freeze({
      create: (
        /** @type {Params} */ params,
        /** @type {{runId?: string, maxSteps?: number}} */ options = {},
      ) => connection.runs.create(spec.surface, /** @type {object} */ (params), options),
      attach: (/** @type {string} */ runId, /** @type {{after?: number}} */ options = {}) =>
        connection.runs.attach(runId, options),
    });
  }

  /** @returns {string | null} the bound session's id (null: not bound) */
  get sessionId() {
    return this.connection.sessionId;
  }

  /**
   * Binds the socket to a session: `{session_id}` to continue one, null/undefined to create one.
   * @param {{session_id?: string | null, sessionId?: string | null} | string | null} [params]
   * @returns {Promise<string>} the session's id
   */
  bindSession(params) {
    const sessionId =
      typeof params === "string" ? params : (params?.session_id ?? params?.sessionId ?? null);
    return this.connection.bindSession(sessionId);
  }

  /**
   * Starts a call: the returned stream yields exactly the objects the SDK's HTTP stream yields
   * for the same request (`stream: true`), then has `sessionId`; `cancel()` cancels it.
   * @param {Params} params  the SDK's create params
   * @param {SdkCreateOptions} [options]
   * @returns {import("./call-stream.js").CallStream<Event>}
   */
  create(params, options = {}) {
    return this.connection.create(this.#spec.surface, /** @type {object} */ (params), {
      signal: options.signal,
      callId: options.callId,
      acceptEvent: this.#spec.acceptEvent,
    });
  }

  /**
   * @param {unknown} [data]
   * @returns {Promise<unknown>}
   */
  ping(data) {
    return this.connection.ping(data);
  }

  /** Closes the socket; calls in flight end as cancelled. */
  close() {
    return this.connection.close();
  }
}

/**
 * Opens a connection for a wrapper's client.
 * @template Params, Event
 * @param {ClientSettings} settings
 * @param {SurfaceSpec} spec
 * @param {ConnectOptions} [options]
 * @returns {Promise<SdkConnection<Params, Event>>}
 */
export async function connectSdk(settings, spec, options = {}) {
  const apiKey = typeof settings.apiKey === "function" ? await settings.apiKey() : settings.apiKey;
  const connection = await RhoneConnection.open({
    baseURL: settings.baseURL,
    apiKey: apiKey ?? "",
    WebSocket: settings.WebSocket,
    auth: settings.auth,
    headers: options.headers,
    signal: options.signal,
    errors: spec.errors,
  });
  /** @type {SdkConnection<Params, Event>} */
  const sdkConnection = new SdkConnection(connection, spec);
  if (options.session_id !== undefined) {
    try {
      await sdkConnection.bindSession({ session_id: options.session_id });
    } catch (error) {
      await connection.close();
      throw error;
    }
  }
  return sdkConnection;
}

/**
 * @typedef {object} WrapperOptions  What a wrapper's constructor was given besides the SDK's own.
 * @property {unknown} [apiKey]  the key as given (a function is called at each connect)
 * @property {WebSocketConstructor} [webSocket]
 * @property {AuthMode} [webSocketAuth]
 */

/**
 * Gives `resource` (`client.chat.completions`, `client.responses`, `client.messages`) a
 * `connect(options)` that opens a socket to the client's Rhone, with the client's key.
 * @template {object} Resource
 * @param {{baseURL: string, apiKey?: string | null, authToken?: string | null}} client
 * @param {Resource} resource
 * @param {WrapperOptions} options
 * @param {SurfaceSpec} spec
 * @returns {Resource}
 */
export function addConnect(client, resource, options, spec) {
  return attachConnect(resource, (connectOptions) =>
    connectSdk(
      {
        // Read at connect time: the SDK's base URL is `<root>/v1` (OpenAI) or `<root>`.
        baseURL: rhoneRoot(client.baseURL),
        apiKey:
          typeof options.apiKey === "function"
            ? /** @type {() => string | Promise<string>} */ (options.apiKey)
            : (client.apiKey ?? client.authToken),
        WebSocket: options.webSocket,
        auth: options.webSocketAuth,
      },
      spec,
      connectOptions,
    ),
  );
}

/**
 * Puts `connect` on an SDK resource object (`client.chat.completions`...), leaving the rest
 * of it as the SDK made it.
 * @template {object} Resource
 * @param {Resource} resource
 * @param {(options?: ConnectOptions) => Promise<SdkConnection<any, any>>} connect
 * @returns {Resource}
 */
export function attachConnect(resource, connect) {
  Object.defineProperty(resource, "connect", {
    value: connect,
    writable: true,
    configurable: true,
    enumerable: false,
  });
  return resource;
}
