// A rhone.ws.v1 connection: one socket, bound to a session, running many calls multiplexed by
// call_id (docs/rhone-ws-v1.md). One message listener routes every frame to its call.

import { CallStream } from "./call-stream.js";
import { PLAIN_ERROR_HOOKS } from "./errors.js";
import { RunStream } from "./run-stream.js";
import { openSocket } from "./socket-open.js";

export const SURFACES = Object.freeze([
  "openai.chat",
  "openai.responses",
  "anthropic.messages",
  "gemini.generate_content",
  "vertex.generate_content",
  "rhone.canonical",
]);
const MAX_CALL_ID_LENGTH = 128;
const OPEN = 1;
const decoder = new TextDecoder();

/**
 * @typedef {import("./socket-open.js").WebSocketLike} WebSocketLike
 * @typedef {import("./socket-open.js").OpenOptions} OpenOptions
 * @typedef {import("./errors.js").ErrorHooks} ErrorHooks
 * @typedef {import("./call-stream.js").AcceptEvent} AcceptEvent
 * @typedef {{resolve: (value: any) => void, reject: (error: Error) => void}} Waiter
 */

/**
 * @typedef {object} RunCreateOptions
 * @property {string} [runId]  defaults to a random `run_...`
 * @property {number} [maxSteps]  the most model calls the run may make (server default: 10)
 */

/** @param {number} bytes */
function randomHex(bytes) {
  const values = new Uint8Array(bytes);
  globalThis.crypto.getRandomValues(values);
  return Array.from(values, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * @typedef {object} CreateOptions
 * @property {AbortSignal} [signal]  aborting it cancels the call
 * @property {string} [callId]  defaults to `call-<n>`; unique among the calls in flight
 * @property {AcceptEvent} [acceptEvent]  which events to yield (default: all)
 */

export class RhoneConnection {
  /** @type {Map<string, CallStream<any>>} */
  #calls = new Map();
  /** @type {Waiter[]} answers come in the order the frames were sent */
  #binds = [];
  /** @type {Waiter[]} */
  #pings = [];
  /** @type {(() => void)[]} */
  #closeWaiters = [];
  #closing = false;
  #nextId = 1;
  /** @type {import("./call-stream.js").CallOwner} what a call needs of its connection */
  #owner;
  /** @type {Map<string, RunStream>} the runs this socket follows */
  #runs = new Map();
  /** @type {import("./run-stream.js").RunOwner} */
  #runOwner;

  /**
   * Opens a socket (see openSocket) and wraps it.
   * @param {Omit<OpenOptions, "errors"> & {errors?: ErrorHooks}} options
   * @returns {Promise<RhoneConnection>}
   */
  static async open(options) {
    const errors = options.errors ?? PLAIN_ERROR_HOOKS;
    return new RhoneConnection(await openSocket({ ...options, errors }), errors);
  }

  /**
   * @param {WebSocketLike} socket  an open socket that speaks rhone.ws.v1
   * @param {ErrorHooks} [errors]
   */
  constructor(socket, errors = PLAIN_ERROR_HOOKS) {
    this.socket = socket;
    this.errors = errors;
    /** @type {string | null} The session the socket is bound to (null: not bound yet). */
    this.sessionId = null;
    /** @type {{code: number, reason: string} | null} Set once the socket has closed. */
    this.closed = null;
    const connection = this;
    this.#owner = {
      get errors() {
        return connection.errors;
      },
      sendCancel: (callId) => {
        if (this.#calls.has(callId) && this.socket.readyState === OPEN) {
          this.#send({ type: "call.cancel", call_id: callId });
        }
      },
      forget: (callId) => {
        this.#calls.delete(callId);
      },
    };
    this.#runOwner = {
      get errors() {
        return connection.errors;
      },
      send: (frame) => {
        if (this.socket.readyState === OPEN) this.#send(frame);
      },
      forget: (runId, stream) => {
        if (this.#runs.get(runId) === stream) this.#runs.delete(runId);
      },
    };
    /** Runs (docs/rhone-ws-v1.md, "Runs"): `create()` one, or `attach()` to one by id. */
    this.runs = Object.freeze({
      create: (
        /** @type {string} */ surface,
        /** @type {object} */ body,
        /** @type {RunCreateOptions} */ options = {},
      ) => this.#createRun(surface, body, options),
      attach: (/** @type {string} */ runId, /** @type {{after?: number}} */ options = {}) =>
        this.#attachRun(runId, options.after ?? 0),
    });
    socket.addEventListener("message", (event) => this.#onMessage(event.data));
    socket.addEventListener("close", (event) =>
      this.#onClose(event.code ?? 1006, event.reason ?? ""),
    );
    // An error always comes with the close event above; `ws` throws an "error" nobody hears.
    socket.addEventListener("error", () => {});
  }

  /** Calls in flight on this socket. */
  get callsInFlight() {
    return this.#calls.size;
  }

  /**
   * Binds the socket to a session: an existing one, or a new one for null. Calls already running
   * keep their session.
   * @param {string | null} [sessionId]
   * @returns {Promise<string>} the bound session's id
   */
  bindSession(sessionId = null) {
    return this.#request(this.#binds, { type: "session.bind", session_id: sessionId ?? null });
  }

  /**
   * Starts a call at once; iterate the returned stream for its events.
   * @template [Event=any]
   * @param {string} surface  one of SURFACES
   * @param {object} body  the surface's request body (its `stream` field is ignored: a socket streams)
   * @param {CreateOptions} [options]
   * @returns {CallStream<Event>}
   */
  create(surface, body, { signal, callId, acceptEvent } = {}) {
    if (!SURFACES.includes(surface)) {
      throw new TypeError(`surface must be one of ${SURFACES.join(", ")}`);
    }
    if (body === null || typeof body !== "object" || Array.isArray(body)) {
      throw new TypeError("A call's body must be an object.");
    }
    const id = callId ?? `call-${this.#nextId++}`;
    if (typeof id !== "string" || !id || id.length > MAX_CALL_ID_LENGTH) {
      throw new TypeError(
        `callId must be a non-empty string of at most ${MAX_CALL_ID_LENGTH} chars.`,
      );
    }
    if (this.#calls.has(id)) throw new TypeError(`A call with id ${id} is in flight.`);
    if (signal?.aborted) {
      /** @type {CallStream<Event>} */
      const never = new CallStream(this.#owner, id, { acceptEvent });
      never.push({ type: "call.cancelled", call_id: id });
      return never;
    }
    /** @type {CallStream<Event>} */
    const stream = new CallStream(this.#owner, id, { acceptEvent, signal });
    if (this.closed || this.#closing) {
      stream.push({ type: "socket.lost", error: this.#lostError() });
      return stream;
    }
    this.#calls.set(id, stream);
    this.#send({ type: "call.create", call_id: id, surface, body });
    return stream;
  }

  /**
   * @param {string} surface
   * @param {object} body
   * @param {RunCreateOptions} options
   * @returns {RunStream}
   */
  #createRun(surface, body, { runId, maxSteps }) {
    if (!SURFACES.includes(surface) || surface === "rhone.canonical") {
      throw new TypeError(`A run's surface must be one of ${SURFACES.slice(0, -1).join(", ")}`);
    }
    if (body === null || typeof body !== "object" || Array.isArray(body)) {
      throw new TypeError("A run's body must be an object.");
    }
    const id = runId ?? `run_${randomHex(12)}`;
    const stream = this.#followRun(id, 0);
    /** @type {Record<string, unknown>} */
    const frame = { type: "run.create", run_id: id, surface, body };
    if (maxSteps != null) frame.max_steps = maxSteps;
    if (!stream.finished) this.#send(frame);
    return stream;
  }

  /**
   * @param {string} runId
   * @param {number} after
   * @returns {RunStream}
   */
  #attachRun(runId, after) {
    if (typeof runId !== "string" || !runId) throw new TypeError("runId must be a string.");
    const stream = this.#followRun(runId, after);
    if (!stream.finished) this.#send({ type: "run.attach", run_id: runId, after });
    return stream;
  }

  /**
   * @param {string} runId
   * @param {number} after
   */
  #followRun(runId, after) {
    const stream = new RunStream(this.#runOwner, runId, after);
    if (this.closed || this.#closing) {
      stream.lost(this.#lostError());
    } else {
      this.#runs.set(runId, stream);
    }
    return stream;
  }

  /**
   * An application-level ping; resolves with the data the server echoes.
   * @param {unknown} [data]
   * @returns {Promise<unknown>}
   */
  ping(data = null) {
    return this.#request(this.#pings, { type: "ping", data });
  }

  /**
   * Closes the socket (1000). Calls in flight end as cancelled: the server cancels them and
   * records nothing of their turns.
   * @returns {Promise<void>}
   */
  close() {
    if (this.closed) return Promise.resolve();
    this.#closing = true;
    const closed = new Promise((resolve) => this.#closeWaiters.push(() => resolve(undefined)));
    this.socket.close(1000);
    return closed;
  }

  /**
   * @param {Waiter[]} waiters
   * @param {object} frame
   */
  #request(waiters, frame) {
    if (this.closed || this.#closing) return Promise.reject(this.#lostError());
    return new Promise((resolve, reject) => {
      waiters.push({ resolve, reject });
      this.#send(frame);
    });
  }

  /** @param {object} frame */
  #send(frame) {
    this.socket.send(JSON.stringify(frame));
  }

  /** @param {unknown} data */
  #onMessage(data) {
    /** @type {any} */
    let frame;
    try {
      frame = JSON.parse(
        typeof data === "string" ? data : decoder.decode(/** @type {any} */ (data)),
      );
    } catch {
      return; // the server only sends JSON text; nothing to route
    }
    switch (frame?.type) {
      case "call.event":
      case "call.done":
      case "call.error":
      case "call.cancelled":
        this.#calls.get(frame.call_id)?.push(frame);
        return;
      case "session.bound":
        this.sessionId = frame.session_id;
        this.#binds.shift()?.resolve(frame.session_id);
        return;
      case "pong":
        this.#pings.shift()?.resolve(frame.data);
        return;
      case "error":
        this.#onErrorFrame(frame);
        return;
      default:
        if (typeof frame?.type === "string" && frame.type.startsWith("run.")) {
          this.#runs.get(frame.run_id)?.push(frame);
        }
        return;
    }
  }

  /** @param {{type: string, code: string, message: string, call_id?: string}} frame */
  #onErrorFrame(frame) {
    if (frame.run_id != null) {
      this.#runs.get(frame.run_id)?.push(frame);
      return;
    }
    if (frame.call_id != null) {
      // unknown_call answers a cancel that crossed the call's end: the call has its own terminal
      // frame already. Any other error naming a call refused its call.create.
      if (frame.code !== "unknown_call") this.#calls.get(frame.call_id)?.push(frame);
      return;
    }
    // We only send well-formed frames, so an error without a call_id answers a session.bind
    // (session_not_found, unavailable).
    this.#binds.shift()?.reject(this.errors.frameError(frame));
  }

  /**
   * @param {number} code
   * @param {string} reason
   */
  #onClose(code, reason) {
    this.closed = { code, reason };
    const error = this.#closing ? null : this.#lostError();
    for (const stream of [...this.#calls.values()]) stream.lost(error);
    this.#calls.clear();
    // A run goes on at the server whoever closed the socket: its stream always throws.
    for (const run of [...this.#runs.values()]) run.lost(this.#lostError());
    this.#runs.clear();
    for (const waiter of [...this.#binds, ...this.#pings]) waiter.reject(this.#lostError());
    this.#binds = [];
    this.#pings = [];
    for (const resolve of this.#closeWaiters.splice(0)) resolve();
  }

  #lostError() {
    const detail = this.closed
      ? ` (${this.closed.code}${this.closed.reason ? `: ${this.closed.reason}` : ""})`
      : "";
    return this.errors.connectionError(
      this.#closing ? "The WebSocket was closed by the client." : `The WebSocket closed${detail}.`,
    );
  }
}
