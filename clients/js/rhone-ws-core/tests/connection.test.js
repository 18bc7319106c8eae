// The protocol client against an in-memory socket: the test plays the server frame by frame,
// so every routing, cancel and failure path is exercised without a running Rhone.
import { test } from "node:test";
import assert from "node:assert/strict";

import {
  KEY_SUBPROTOCOL_PREFIX,
  RhoneConnection,
  RhoneWsError,
  SUBPROTOCOL,
  authMode,
  rhoneRoot,
  socketURL,
  withV1,
} from "../src/index.js";
import { FakeSocket, RefusingSocket, until } from "../src/testing.js";

/** Opens a connection over a fresh FakeSocket; returns both. */
async function open(options = {}) {
  const connection = await RhoneConnection.open({
    baseURL: "http://127.0.0.1:8080",
    apiKey: "rk-test",
    WebSocket: FakeSocket,
    ...options,
  });
  return { connection, socket: /** @type {FakeSocket} */ (connection.socket) };
}

/** Drains a stream into an array. */
async function collect(stream) {
  const events = [];
  for await (const event of stream) events.push(event);
  return events;
}

for (const [name, input, root, v1, ws] of [
  ["plain root", "http://h:8080", "http://h:8080", "http://h:8080/v1", "ws://h:8080/v1/ws"],
  ["trailing slash", "http://h:8080/", "http://h:8080", "http://h:8080/v1", "ws://h:8080/v1/ws"],
  ["with /v1", "https://h/v1/", "https://h", "https://h/v1", "wss://h/v1/ws"],
  [
    "path prefix",
    "https://h/rhone",
    "https://h/rhone",
    "https://h/rhone/v1",
    "wss://h/rhone/v1/ws",
  ],
]) {
  test(`urls: ${name}`, () => {
    assert.equal(rhoneRoot(input), root);
    assert.equal(withV1(input), v1);
    assert.equal(socketURL(input), ws);
  });
}

test("urls: a scheme that is not http(s) or ws(s) is refused", () => {
  assert.throws(() => socketURL("ftp://h"), TypeError);
});

test("auth: a WebSocket that is not the platform's takes the header; the global one the subprotocol", () => {
  assert.equal(authMode(FakeSocket), "header");
  const saved = globalThis.WebSocket;
  globalThis.WebSocket = /** @type {any} */ (FakeSocket);
  try {
    assert.equal(authMode(FakeSocket), "subprotocol");
  } finally {
    globalThis.WebSocket = saved;
  }
  assert.equal(authMode(FakeSocket, "subprotocol"), "subprotocol");
  assert.throws(() => authMode(FakeSocket, /** @type {any} */ ("cookie")), TypeError);
});

test("open: header auth sends Authorization and offers rhone.ws.v1 only", async () => {
  const { socket } = await open({ headers: { "x-extra": "1" } });
  assert.equal(socket.url, "ws://127.0.0.1:8080/v1/ws");
  assert.deepEqual(socket.protocols, [SUBPROTOCOL]);
  assert.deepEqual(socket.options, {
    headers: { "x-extra": "1", Authorization: "Bearer rk-test" },
  });
});

test("open: subprotocol auth offers the key and passes no options", async () => {
  const { socket } = await open({ auth: "subprotocol" });
  assert.deepEqual(socket.protocols, [SUBPROTOCOL, `${KEY_SUBPROTOCOL_PREFIX}rk-test`]);
  assert.equal(socket.options, undefined);
});

test("open: a socket that never opens rejects with a connection error", async () => {
  await assert.rejects(open({ WebSocket: RefusingSocket }), (error) => {
    assert.ok(error instanceof RhoneWsError);
    assert.match(error.message, /failed/);
    return true;
  });
});

test("open: no WebSocket implementation is a clear TypeError", async () => {
  const saved = globalThis.WebSocket;
  globalThis.WebSocket = undefined;
  try {
    await assert.rejects(open({ WebSocket: undefined }), /pass `webSocket`/);
  } finally {
    globalThis.WebSocket = saved;
  }
});

test("bind: session.bound resolves with its id and sets sessionId", async () => {
  const { connection, socket } = await open();
  const bound = connection.bindSession(null);
  assert.deepEqual(socket.last("session.bind"), { type: "session.bind", session_id: null });
  socket.receive({ type: "session.bound", session_id: "sess_1", created: true });
  assert.equal(await bound, "sess_1");
  assert.equal(connection.sessionId, "sess_1");
});

test("bind: an error frame without call_id rejects the bind", async () => {
  const { connection, socket } = await open();
  const bound = connection.bindSession("sess_gone");
  socket.receive({ type: "error", code: "session_not_found", message: "no such session" });
  await assert.rejects(bound, (error) => error.code === "session_not_found");
  assert.equal(connection.sessionId, null);
});

test("ping: resolves with the echoed data, in order", async () => {
  const { connection, socket } = await open();
  const first = connection.ping({ n: 1 });
  const second = connection.ping("two");
  socket.receive({ type: "pong", data: { n: 1 } });
  socket.receive({ type: "pong", data: "two" });
  assert.deepEqual(await first, { n: 1 });
  assert.equal(await second, "two");
});

test("create: interleaved frames of two calls reach their own streams", async () => {
  const { connection, socket } = await open();
  const a = connection.create("openai.chat", { model: "local", messages: [] });
  const b = connection.create("anthropic.messages", { model: "local", messages: [] });
  assert.deepEqual(
    socket.sent.map((frame) => [frame.type, frame.call_id, frame.surface]),
    [
      ["call.create", "call-1", "openai.chat"],
      ["call.create", "call-2", "anthropic.messages"],
    ],
  );
  socket.receive({ type: "call.event", call_id: "call-2", event: { n: "b1" } });
  socket.receive({ type: "call.event", call_id: "call-1", event: { n: "a1" } });
  socket.receive({ type: "call.event", call_id: "call-2", event: { n: "b2" } });
  socket.receive({ type: "call.done", call_id: "call-2", session_id: "sess_b" });
  socket.receive({ type: "call.event", call_id: "call-1", event: { n: "a2" } });
  socket.receive({ type: "call.done", call_id: "call-1", session_id: "sess_a" });
  assert.deepEqual(await collect(a), [{ n: "a1" }, { n: "a2" }]);
  assert.deepEqual(await collect(b), [{ n: "b1" }, { n: "b2" }]);
  assert.equal(a.sessionId, "sess_a");
  assert.equal(b.sessionId, "sess_b");
  assert.equal(connection.callsInFlight, 0);
});

test("create: acceptEvent drops what the SDK's stream would not yield", async () => {
  const { connection, socket } = await open();
  const stream = connection.create(
    "anthropic.messages",
    {},
    { acceptEvent: (e) => e.type !== "ping" },
  );
  socket.receive({ type: "call.event", call_id: "call-1", event: { type: "message_start" } });
  socket.receive({ type: "call.event", call_id: "call-1", event: { type: "ping" } });
  socket.receive({ type: "call.event", call_id: "call-1", event: { type: "message_stop" } });
  socket.receive({ type: "call.done", call_id: "call-1", session_id: "s" });
  assert.deepEqual(await collect(stream), [{ type: "message_start" }, { type: "message_stop" }]);
});

test("create: a stream is read once", async () => {
  const { connection, socket } = await open();
  const stream = connection.create("openai.chat", {});
  socket.receive({ type: "call.done", call_id: "call-1", session_id: "s" });
  await collect(stream);
  assert.throws(() => stream[Symbol.asyncIterator](), /consumed/);
});

test("create: bad surface, body or call id are refused before sending", async () => {
  const { connection, socket } = await open();
  assert.throws(() => connection.create("openai.completions", {}), /surface must be one of/);
  assert.throws(() => connection.create("openai.chat", []), /body must be an object/);
  assert.throws(() => connection.create("openai.chat", {}, { callId: "x".repeat(129) }), /callId/);
  connection.create("openai.chat", {}, { callId: "mine" });
  assert.throws(() => connection.create("openai.chat", {}, { callId: "mine" }), /in flight/);
  assert.equal(socket.sent.length, 1);
});

test("create: call.error throws the hook's error after the events before it", async () => {
  const { connection, socket } = await open();
  const stream = connection.create("openai.chat", {});
  socket.receive({ type: "call.event", call_id: "call-1", event: { n: 1 } });
  const error = {
    error: { message: "bad", type: "invalid_request_error", param: null, code: null },
  };
  socket.receive({
    type: "call.error",
    call_id: "call-1",
    code: "invalid_request",
    status: 400,
    error,
  });
  const seen = [];
  await assert.rejects(
    (async () => {
      for await (const event of stream) seen.push(event);
    })(),
    (thrown) => {
      assert.ok(thrown instanceof RhoneWsError);
      assert.equal(thrown.status, 400);
      assert.deepEqual(thrown.frame.error, error);
      return true;
    },
  );
  assert.deepEqual(seen, [{ n: 1 }]);
  assert.equal(stream.finished, true);
});

test("create: an error frame naming the call ends it; unknown_call does not", async () => {
  const { connection, socket } = await open();
  const stream = connection.create("openai.chat", {});
  socket.receive({
    type: "error",
    code: "unknown_call",
    message: "late cancel",
    call_id: "call-1",
  });
  socket.receive({ type: "error", code: "too_many_calls", message: "16 max", call_id: "call-1" });
  await assert.rejects(collect(stream), (error) => error.code === "too_many_calls");
});

test("cancel: sends call.cancel, drops later events, ends quietly on call.cancelled", async () => {
  const { connection, socket } = await open();
  const stream = connection.create("openai.chat", {});
  socket.receive({ type: "call.event", call_id: "call-1", event: { n: 1 } });
  const seen = [];
  for await (const event of stream) {
    seen.push(event);
    stream.cancel();
    stream.cancel(); // once is enough
    assert.deepEqual(socket.last("call.cancel"), { type: "call.cancel", call_id: "call-1" });
    socket.receive({ type: "call.event", call_id: "call-1", event: { n: 2 } });
    socket.receive({ type: "call.cancelled", call_id: "call-1" });
  }
  assert.deepEqual(seen, [{ n: 1 }]);
  assert.equal(socket.sent.filter((frame) => frame.type === "call.cancel").length, 1);
  assert.equal(stream.cancelled, true);
  assert.equal(stream.sessionId, null);
});

test("cancel: a call that finished before the cancel arrived ends as finished", async () => {
  const { connection, socket } = await open();
  const stream = connection.create("openai.chat", {});
  stream.cancel();
  socket.receive({ type: "call.done", call_id: "call-1", session_id: "sess_x" });
  socket.receive({ type: "error", code: "unknown_call", message: "", call_id: "call-1" });
  assert.deepEqual(await collect(stream), []);
  assert.equal(stream.cancelled, false);
  assert.equal(stream.sessionId, "sess_x");
});

test("cancel: breaking out of the loop cancels the call", async () => {
  const { connection, socket } = await open();
  const stream = connection.create("openai.chat", {});
  socket.receive({ type: "call.event", call_id: "call-1", event: { n: 1 } });
  for await (const _event of stream) break;
  assert.deepEqual(socket.last("call.cancel"), { type: "call.cancel", call_id: "call-1" });
  assert.equal(connection.callsInFlight, 0);
});

test("cancel: an AbortSignal cancels; an aborted one never sends the call", async () => {
  const { connection, socket } = await open();
  const controller = new AbortController();
  const stream = connection.create("openai.chat", {}, { signal: controller.signal });
  controller.abort();
  assert.deepEqual(socket.last("call.cancel"), { type: "call.cancel", call_id: "call-1" });
  socket.receive({ type: "call.cancelled", call_id: "call-1" });
  assert.deepEqual(await collect(stream), []);
  assert.equal(stream.cancelled, true);

  const early = connection.create("openai.chat", {}, { signal: AbortSignal.abort() });
  assert.deepEqual(await collect(early), []);
  assert.equal(early.cancelled, true);
  assert.equal(socket.sent.filter((frame) => frame.type === "call.create").length, 1);
});

test("lost socket: calls, binds and pings in flight fail with a connection error", async () => {
  const { connection, socket } = await open();
  const stream = connection.create("openai.chat", {});
  const bound = connection.bindSession();
  const pong = connection.ping();
  socket.receive({ type: "call.event", call_id: "call-1", event: { n: 1 } });
  socket.close(1011, "server going away");
  await assert.rejects(collect(stream), /closed \(1011: server going away\)/);
  await assert.rejects(bound, /closed/);
  await assert.rejects(pong, /closed/);
  await assert.rejects(collect(connection.create("openai.chat", {})), /closed/);
  assert.deepEqual(connection.closed, { code: 1011, reason: "server going away" });
});

test("close: calls in flight end as cancelled; later calls fail", async () => {
  const { connection, socket } = await open();
  const stream = connection.create("openai.chat", {});
  await connection.close();
  assert.equal(socket.readyState, 3);
  assert.deepEqual(await collect(stream), []);
  assert.equal(stream.cancelled, true);
  await assert.rejects(collect(connection.create("openai.chat", {})), /closed by the client/);
  await connection.close(); // twice is fine
});

test("frames it does not know are ignored", async () => {
  const { connection, socket } = await open();
  const stream = connection.create("openai.chat", {});
  socket.dispatchEvent(Object.assign(new Event("message"), { data: "not json" }));
  socket.receive({ type: "future.frame" });
  socket.receive({ type: "call.event", call_id: "someone-else", event: {} });
  socket.receive({ type: "call.done", call_id: "call-1", session_id: "s" });
  await until(() => stream.finished, "the call to end");
  assert.deepEqual(await collect(stream), []);
});

test("cancel: a signal shared by many calls keeps no listener of a finished call", async () => {
  const { connection, socket } = await open();
  const listeners = new Set();
  const signal = /** @type {AbortSignal} */ (
    /** @type {unknown} */ ({
      aborted: false,
      addEventListener: (_type, listener) => listeners.add(listener),
      removeEventListener: (_type, listener) => listeners.delete(listener),
    })
  );
  const streams = [1, 2, 3].map(() => connection.create("openai.chat", {}, { signal }));
  assert.equal(listeners.size, 3);
  for (const stream of streams)
    socket.receive({ type: "call.done", call_id: stream.callId, session_id: "s" });
  assert.equal(listeners.size, 0);
});
