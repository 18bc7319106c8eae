// vai-anthropic without a server: an in-memory socket plays Rhone, to pin what the wrapper sends
// and how it turns failures into the SDK's error classes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { FakeSocket } from "rhone-ws-core/testing";

import Anthropic from "../src/index.js";

const client = new Anthropic({
  baseURL: "http://rhone.test:8080/v1/",
  apiKey: "rk-offline",
  webSocket: FakeSocket,
});
const body = { model: "local", max_tokens: 10, messages: [{ role: "user", content: "hi" }] };

async function connected() {
  const connection = await client.messages.connect();
  return { connection, socket: /** @type {FakeSocket} */ (connection.connection.socket) };
}

test("the SDK gets the root (its paths carry /v1); the socket <root>/v1/ws", async () => {
  assert.equal(client.baseURL, "http://rhone.test:8080");
  const { socket } = await connected();
  assert.equal(socket.url, "ws://rhone.test:8080/v1/ws");
  assert.deepEqual(socket.options, { headers: { Authorization: "Bearer rk-offline" } });
});

test("create sends the params unchanged as an anthropic.messages call", async () => {
  const { connection, socket } = await connected();
  connection.create(body);
  assert.deepEqual(socket.last("call.create"), {
    type: "call.create",
    call_id: "call-1",
    surface: "anthropic.messages",
    body,
  });
});

test("pings and a failure's error event are not yielded; call.error throws OverloadedError", async () => {
  const { connection, socket } = await connected();
  const stream = connection.create(body);
  const start = { type: "message_start", message: { id: "msg_1", content: [] } };
  const error = { type: "error", error: { type: "overloaded_error", message: "Overloaded" } };
  socket.receive({ type: "call.event", call_id: "call-1", event: start });
  socket.receive({ type: "call.event", call_id: "call-1", event: { type: "ping" } });
  socket.receive({ type: "call.event", call_id: "call-1", event: error });
  socket.receive({
    type: "call.error",
    call_id: "call-1",
    code: "upstream_error",
    status: 529,
    error,
  });
  const seen = [];
  await assert.rejects(
    (async () => {
      for await (const event of stream) seen.push(event);
    })(),
    (thrown) => {
      assert.ok(thrown instanceof Anthropic.OverloadedError, String(thrown));
      assert.equal(thrown.status, 529);
      assert.equal(thrown.type, "overloaded_error");
      assert.equal(thrown.apiMessage, "Overloaded");
      return true;
    },
  );
  assert.deepEqual(seen, [start]);
});

test("the browser way: with the platform's WebSocket the key goes as a subprotocol", async () => {
  const saved = globalThis.WebSocket;
  globalThis.WebSocket = /** @type {any} */ (FakeSocket);
  try {
    const browser = new Anthropic({
      baseURL: "https://rhone.test",
      apiKey: "rk-tab",
      dangerouslyAllowBrowser: true,
    });
    const connection = await browser.messages.connect();
    assert.deepEqual(connection.connection.socket.protocols, ["rhone.ws.v1", "rhone.key.rk-tab"]);
    assert.equal(connection.connection.socket.options, undefined);
  } finally {
    globalThis.WebSocket = saved;
  }
});

test("an authToken is used when there is no apiKey", async () => {
  const tokened = new Anthropic({
    baseURL: "http://rhone.test",
    authToken: "rk-token",
    webSocket: FakeSocket,
  });
  const connection = await tokened.messages.connect();
  assert.deepEqual(connection.connection.socket.options.headers, {
    Authorization: "Bearer rk-token",
  });
});
