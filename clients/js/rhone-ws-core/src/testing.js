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

/** What Rhone's offline `local` model answers (README, "The local model"). */
export const said = (last, turn, first) =>
  `You said: "${last}". This is user turn ${turn}; your first message was: "${first}".`;

/**
 * The session behaviour every wrapper must show against a running Rhone, whatever its SDK:
 * calls on one bound socket remember each other, and calls created together run in order.
 *
 * @param {object} wrapper
 * @param {typeof import("node:test").test} wrapper.test
 * @param {false | string} wrapper.skip why the live tests are skipped, or false
 * @param {(use: (connection: any) => Promise<void>) => Promise<void>} wrapper.withConnection
 * @param {(text: string) => object} wrapper.request the SDK's request asking one user message
 * @param {(stream: AsyncIterable<any>) => Promise<string>} wrapper.textOf the streamed answer
 */
export function sessionSuite({ test, skip, withConnection, request, textOf }) {
  test("calls on one bound socket remember each other", { skip }, async () => {
    await withConnection(async (connection) => {
      const sessionId = await connection.bindSession({ session_id: null });
      const texts = [];
      for (const message of ["I am Ada.", "I like tea.", "What do I like?"]) {
        const stream = connection.create(request(message));
        texts.push(await textOf(stream));
        if (stream.sessionId !== sessionId) throw new Error(`call ran on ${stream.sessionId}`);
      }
      assertEqual(texts, [
        said("I am Ada.", 1, "I am Ada."),
        said("I like tea.", 2, "I am Ada."),
        said("What do I like?", 3, "I am Ada."),
      ]);
    });
  });

  test("calls created together run in order on their session", { skip }, async () => {
    await withConnection(async (connection) => {
      await connection.bindSession();
      const streams = ["a", "b", "c"].map((message) => connection.create(request(message)));
      const texts = await Promise.all(streams.map(textOf));
      assertEqual(texts, [said("a", 1, "a"), said("b", 2, "a"), said("c", 3, "a")]);
    });
  });
}

/**
 * Runs against a running Rhone, with every wrapper's SDK (docs/rhone-ws-v1.md, "Runs"): a
 * tool round whose socket is closed while the run waits, resumed on a new connection; and a
 * cancel during a tool wait.
 *
 * @param {object} wrapper
 * @param {typeof import("node:test").test} wrapper.test
 * @param {false | string} wrapper.skip
 * @param {() => Promise<any>} wrapper.connect a new connection (`client.<resource>.connect()`)
 * @param {(text: string) => object} wrapper.requestWithTool the SDK's params with a
 *   `get_weather` tool
 * @param {(stream: AsyncIterable<any>) => Promise<string>} wrapper.textOf the streamed answer
 */
export function runSuite({ test, skip, connect, requestWithTool, textOf }) {
  const ask = 'Use get_weather with {"city": "Rome"}';

  test("runs: a tool round; the socket closes during the wait; a new one resumes", { skip }, async () => {
    const first = await connect();
    const run = first.runs.create(requestWithTool(ask));
    /** @type {any} */
    let action = null;
    for await (const frame of run) {
      if (frame.type === "run.requires_action") {
        action = frame;
        break;
      }
    }
    await first.close();
    const [call] = action.tool_calls;
    assertEqual([call.name, JSON.parse(call.arguments)], ["get_weather", { city: "Rome" }]);
    const second = await connect();
    try {
      const resumed = second.runs.attach(run.runId, { after: run.lastSeq });
      resumed.submitToolOutputs([{ tool_call_id: call.id, output: "25C" }]);
      const events = [];
      const seqs = [];
      for await (const frame of resumed) {
        seqs.push(frame.seq);
        if (frame.type === "run.event") events.push(frame.event);
      }
      assertEqual(resumed.status, "completed");
      assertEqual(seqs[0], run.lastSeq + 1);
      const text = await textOf(events);
      if (!text.startsWith("Tool get_weather returned: ")) throw new Error(`answer: ${text}`);
    } finally {
      await second.close();
    }
  });

  test("runs: cancel during a tool wait", { skip }, async () => {
    const connection = await connect();
    try {
      const run = connection.runs.create(requestWithTool(ask), { maxSteps: 4 });
      const types = [];
      for await (const frame of run) {
        types.push(frame.type);
        if (frame.type === "run.requires_action") run.cancel();
      }
      assertEqual(types.slice(-2), ["run.requires_action", "run.cancelled"]);
      assertEqual(run.status, "cancelled");
    } finally {
      await connection.close();
    }
  });
}

/** @param {unknown} actual @param {unknown} expected */
function assertEqual(actual, expected) {
  const [a, b] = [JSON.stringify(actual), JSON.stringify(expected)];
  if (a !== b) throw new Error(`expected ${b}\n     got ${a}`);
}

