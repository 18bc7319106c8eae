// One call on a socket: an async iterable of its surface's own stream events.

/** Frames that end a call (docs/rhone-ws-v1.md: exactly one per call.create), and a lost socket. */
const TERMINAL = new Set(["call.done", "call.error", "call.cancelled", "error", "socket.lost"]);

/**
 * @typedef {import("./errors.js").ErrorHooks} ErrorHooks
 * @typedef {{type: string, [field: string]: any}} Frame
 * @typedef {(event: any) => boolean} AcceptEvent  false: the SDK's HTTP stream would not yield it
 */

/**
 * @typedef {object} CallOwner  The connection side of a call (kept small so a stream is testable).
 * @property {ErrorHooks} errors
 * @property {(callId: string) => void} sendCancel
 * @property {(callId: string) => void} forget
 */

/**
 * The events of one call, in order, as the server sent them (each a plain JSON object). Ends
 * after `call.done` (then `sessionId` is set) or `call.cancelled` (then `cancelled` is true);
 * throws the SDK's error after `call.error`, an `error` frame naming the call, or a lost socket.
 *
 * Cancel with `cancel()`, `controller.abort()` or the `signal` given to `create()`: events not
 * yet read are dropped and the iteration ends once the server confirms. A `break` out of the
 * loop cancels too. If the call finished before the cancel reached the server, the iteration
 * ends as a finished call (`cancelled` stays false and the turn is recorded).
 *
 * @template Event
 * @implements {AsyncIterable<Event>}
 */
export class CallStream {
  /** @type {Frame[]} */
  #queue = [];
  /** @type {(() => void) | null} */
  #wake = null;
  #consumed = false;
  #cancelRequested = false;
  /** @type {CallOwner} */
  #owner;
  /** @type {AcceptEvent} */
  #accept;
  /** @type {(() => void) | null} unlinks the caller's AbortSignal once the call has ended */
  #unlinkSignal = null;

  /**
   * @param {CallOwner} owner
   * @param {string} callId
   * @param {{acceptEvent?: AcceptEvent, signal?: AbortSignal}} [options]
   */
  constructor(owner, callId, { acceptEvent, signal } = {}) {
    this.#owner = owner;
    this.#accept = acceptEvent ?? (() => true);
    /** The call's id on the socket. */
    this.callId = callId;
    /** @type {string | null} The session the call ran on, once it has ended well. */
    this.sessionId = null;
    /** True once the server confirmed the cancel (nothing of the turn was recorded). */
    this.cancelled = false;
    /** True once the call has ended, however it ended. */
    this.finished = false;
    /** Aborting it cancels the call (as the SDK's `Stream.controller`). */
    this.controller = new AbortController();
    this.controller.signal.addEventListener("abort", () => this.#requestCancel(), { once: true });
    if (signal) {
      const onAbort = () => this.cancel();
      signal.addEventListener("abort", onAbort, { once: true });
      this.#unlinkSignal = () => signal.removeEventListener("abort", onAbort);
    }
  }

  /** Cancels the call; the iteration ends once the server confirms. */
  cancel() {
    this.controller.abort();
  }

  /**
   * A frame for this call (the connection routes them by call_id). The call's state is updated
   * as its terminal frame arrives, whether or not anyone is iterating.
   * @param {Frame} frame
   */
  push(frame) {
    if (this.finished) return;
    this.#queue.push(frame);
    if (TERMINAL.has(frame.type)) {
      if (frame.type === "call.done") this.sessionId = frame.session_id ?? null;
      if (frame.type === "call.cancelled" || (frame.type === "socket.lost" && !frame.error)) {
        this.cancelled = true;
      }
      this.#finish();
    }
    this.#wake?.();
  }

  /**
   * The socket is gone: an error to throw, or null when the caller closed it (then the call
   * counts as cancelled, as the server cancels the calls of a closed socket).
   * @param {Error | null} error
   */
  lost(error) {
    this.push({ type: "socket.lost", error });
  }

  /** @returns {AsyncIterator<Event>} */
  [Symbol.asyncIterator]() {
    if (this.#consumed) {
      throw new Error("Cannot iterate over a consumed stream: a call's events can be read once.");
    }
    this.#consumed = true;
    return this.#events();
  }

  #requestCancel() {
    if (this.finished || this.#cancelRequested) return;
    this.#cancelRequested = true;
    this.#owner.sendCancel(this.callId);
  }

  /** @returns {Promise<Frame>} */
  async #next() {
    while (this.#queue.length === 0) {
      await new Promise((resolve) => (this.#wake = () => resolve(undefined)));
      this.#wake = null;
    }
    return /** @type {Frame} */ (this.#queue.shift());
  }

  /** @returns {AsyncGenerator<Event, void, undefined>} */
  async *#events() {
    let ended = false;
    try {
      while (true) {
        const frame = await this.#next();
        switch (frame.type) {
          case "call.event":
            // After a cancel, events still in flight are dropped; so are those the SDK's own
            // stream would not yield (a failure's error event: call.error follows it).
            if (!this.#cancelRequested && this.#accept(frame.event)) yield frame.event;
            break;
          case "call.done":
          case "call.cancelled":
            ended = true;
            return;
          case "call.error":
            ended = true;
            throw this.#owner.errors.callError(/** @type {any} */ (frame));
          case "error":
            ended = true;
            throw this.#owner.errors.frameError(/** @type {any} */ (frame));
          case "socket.lost":
            ended = true;
            if (frame.error) throw frame.error;
            return;
          default:
            break;
        }
      }
    } finally {
      if (!ended && !this.finished) {
        // The loop was left early (break, return, a throw in its body): cancel the call, as the
        // SDK's stream aborts its request; later frames of this call are dropped.
        this.#requestCancel();
        this.#finish();
      }
    }
  }

  #finish() {
    this.finished = true;
    this.#unlinkSignal?.();
    this.#owner.forget(this.callId);
  }
}
