// One run on a socket (docs/rhone-ws-v1.md, "Runs"): an async iterable of the run's frames.

/** Frames after which a run has nothing more to say. */
const ENDS = new Map([
  ["run.completed", "completed"],
  ["run.failed", "failed"],
  ["run.cancelled", "cancelled"],
]);

/**
 * @typedef {{type: string, [field: string]: any}} Frame
 * @typedef {import("./errors.js").ErrorHooks} ErrorHooks
 */

/**
 * @typedef {object} RunOwner  The connection side of a run.
 * @property {ErrorHooks} errors
 * @property {(frame: object) => void} send
 * @property {(runId: string, stream: RunStream) => void} forget
 */

/**
 * The frames of one run, in order: `run.created`, `run.step`, `run.event` (its `event` is one
 * stream event of the run's surface, as a call yields it), `run.requires_action`, ..., then one
 * of `run.completed`, `run.failed` (`error` is then the SDK's error for it), `run.cancelled`,
 * after which the iteration ends. Every frame has `seq`; `lastSeq` is the last one read: give it
 * to `runs.attach()` on a new connection to resume where this one stopped.
 *
 * A refused run frame (an unknown run, tool outputs that do not answer the pending calls)
 * throws from `next()`; iterating again goes on with the next frame, so a loop can catch it and
 * continue. A lost socket throws the connection error: the run goes on at the server.
 */
export class RunStream {
  /** @type {Frame[]} */
  #queue = [];
  /** @type {(() => void) | null} */
  #wake = null;
  /** @type {RunOwner} */
  #owner;

  /**
   * @param {RunOwner} owner
   * @param {string} runId
   * @param {number} [after]  the sequence number already seen
   */
  constructor(owner, runId, after = 0) {
    this.#owner = owner;
    /** The run's id. */
    this.runId = runId;
    /** The sequence number of the last frame read. */
    this.lastSeq = after;
    /** @type {string} "", then running, requires_action, completed, failed or cancelled. */
    this.status = "";
    /** @type {string | null} The run's session, once run.created was read. */
    this.sessionId = null;
    /** @type {Array<{id: string, name: string, arguments: string}>} what the run waits for */
    this.pendingToolCalls = [];
    /** @type {Error | null} The SDK's error for run.failed. */
    this.error = null;
    /** True once the socket is gone or the run has ended. */
    this.finished = false;
  }

  /**
   * A frame for this run (the connection routes them by run_id).
   * @param {Frame} frame
   */
  push(frame) {
    this.#queue.push(frame);
    this.#wake?.();
  }

  /** @param {Error} error  the socket is gone */
  lost(error) {
    this.push({ type: "socket.lost", error });
  }

  /**
   * Answers `run.requires_action`: one `{tool_call_id, output}` per pending tool call.
   * @param {Array<{tool_call_id: string, output: unknown}>} toolOutputs
   */
  submitToolOutputs(toolOutputs) {
    this.#owner.send({
      type: "run.submit_tool_outputs",
      run_id: this.runId,
      tool_outputs: toolOutputs,
    });
  }

  /** Cancels the run; the iteration ends with run.cancelled. */
  cancel() {
    this.#owner.send({ type: "run.cancel", run_id: this.runId });
  }

  [Symbol.asyncIterator]() {
    return this;
  }

  /** @returns {Promise<IteratorResult<Frame, undefined>>} */
  async next() {
    while (!this.finished || this.#queue.length > 0) {
      const frame = await this.#take();
      if (frame.type === "socket.lost") {
        this.#end();
        throw frame.error;
      }
      if (frame.type === "error") throw this.#owner.errors.frameError(/** @type {any} */ (frame));
      if (typeof frame.seq === "number" && frame.seq <= this.lastSeq) continue; // seen already
      this.lastSeq = frame.seq ?? this.lastSeq;
      this.#observe(frame);
      return { value: frame, done: false };
    }
    return { value: undefined, done: true };
  }

  /** @returns {Promise<IteratorResult<Frame, undefined>>} */
  async return() {
    this.#end();
    return { value: undefined, done: true };
  }

  /** @param {Frame} frame */
  #observe(frame) {
    if (frame.type === "run.created") this.sessionId = frame.session_id ?? null;
    if (frame.type === "run.step") {
      this.status = "running";
      this.pendingToolCalls = [];
    }
    if (frame.type === "run.requires_action") {
      this.status = "requires_action";
      this.pendingToolCalls = frame.tool_calls ?? [];
    }
    const ended = ENDS.get(frame.type);
    if (ended) {
      this.status = ended;
      this.pendingToolCalls = [];
      if (ended === "failed") this.error = this.#owner.errors.callError(/** @type {any} */ (frame));
      this.#end();
    }
  }

  /** @returns {Promise<Frame>} */
  async #take() {
    while (this.#queue.length === 0) {
      await new Promise((resolve) => (this.#wake = () => resolve(undefined)));
      this.#wake = null;
    }
    return /** @type {Frame} */ (this.#queue.shift());
  }

  #end() {
    if (this.finished) return;
    this.finished = true;
    this.#owner.forget(this.runId, this);
  }
}
