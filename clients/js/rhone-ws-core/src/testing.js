// Testing aids (exported as rhone-ws-core/testing): an in-memory WebSocket with the browser API,
// on which the test plays the server frame by frame.

export class FakeSocket extends EventTarget {
  /** @type {FakeSocket[]} */
  static instances = [];

  /**
   * @param {string} url
   * @param {string[]} [protocols]
   * @param {object} [options]
   */
  constructor(url, protocols, options) {
    super();
    this.url = url;
    this.protocols = protocols;
    this.options = options;
    /** @type {any[]} frames the client sent, parsed */
    this.sent = [];
    this.readyState = 0;
    FakeSocket.instances.push(this);
    queueMicrotask(() => {
      this.readyState = 1;
      this.dispatchEvent(new Event("open"));
    });
  }

  /** @param {string} data */
  send(data) {
    if (this.readyState !== 1) throw new Error("not open");
    this.sent.push(JSON.parse(data));
  }

  close(code = 1000, reason = "") {
    if (this.readyState === 3) return;
    this.readyState = 3;
    queueMicrotask(() => this.dispatchEvent(Object.assign(new Event("close"), { code, reason })));
  }

  /** The server sends a frame. @param {object} frame */
  receive(frame) {
    this.dispatchEvent(Object.assign(new Event("message"), { data: JSON.stringify(frame) }));
  }

  /**
   * The last frame the client sent of a type.
   * @param {string} type
   */
  last(type) {
    return this.sent.findLast((/** @type {any} */ frame) => frame.type === type);
  }
}

/** A FakeSocket that never opens: the server refuses. */
export class RefusingSocket extends FakeSocket {
  /** @param {ConstructorParameters<typeof FakeSocket>} args */
  constructor(...args) {
    super(...args);
    this.readyState = 3;
    this.dispatchEvent = () => true;
    queueMicrotask(() => {
      EventTarget.prototype.dispatchEvent.call(this, new Event("error"));
      EventTarget.prototype.dispatchEvent.call(
        this,
        Object.assign(new Event("close"), { code: 1006, reason: "" }),
      );
    });
  }
}

/**
 * Resolves once `predicate()` holds (a few event-loop turns at most in these tests).
 * @param {() => unknown} predicate
 * @param {string} [what]
 */
export async function until(predicate, what = "condition") {
  for (let i = 0; i < 200; i += 1) {
    if (predicate()) return;
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  throw new Error(`timed out waiting for ${what}`);
}
