// vai-openai-chat without a server: an in-memory socket plays Rhone, to pin what the wrapper
// sends and how it turns failures into the SDK's error classes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { FakeSocket, until } from "rhone-ws-core/testing";

import OpenAI from "../src/index.js";

const client = new OpenAI({
  baseURL: "http://rhone.test:8080/",
  apiKey: "rk-offline",
  webSocket: FakeSocket,
});
const body = { model: "local", messages: [{ role: "user", content: "hi" }] };

async function connected() {
  const connection = await client.chat.completions.connect();
  return { connection, socket: /** @type {FakeSocket} */ (connection.connection.socket) };
}

test("the SDK gets <root>/v1; the socket <root>/v1/ws with the key in a header", async () => {
  assert.equal(client.baseURL, "http://rhone.test:8080/v1");
  const { socket } = await connected();
  assert.equal(socket.url, "ws://rhone.test:8080/v1/ws");
  assert.deepEqual(socket.protocols, ["rhone.ws.v1"]);
  assert.deepEqual(socket.options, { headers: { Authorization: "Bearer rk-offline" } });
});

test("create sends the params unchanged as an openai.chat call", async () => {
  const { connection, socket } = await connected();
  const stream = connection.create(
    { ...body, stream_options: { include_usage: true } },
    { callId: "mine" },
  );
  assert.equal(stream.callId, "mine");
  assert.deepEqual(socket.last("call.create"), {
    type: "call.create",
    call_id: "mine",
    surface: "openai.chat",
    body: { ...body, stream_options: { include_usage: true } },
  });
});

test("connect({session_id}) binds before it resolves", async () => {
  const pending = client.chat.completions.connect({ session_id: "sess_x" });
  await until(() => FakeSocket.instances.at(-1)?.last("session.bind"), "the bind");
  const socket = FakeSocket.instances.at(-1);
  assert.deepEqual(socket.last("session.bind"), { type: "session.bind", session_id: "sess_x" });
  socket.receive({ type: "session.bound", session_id: "sess_x", created: false });
  assert.equal((await pending).sessionId, "sess_x");
});

test("a failure mid-stream: the error chunk is not yielded, call.error throws the SDK's class", async () => {
  const { connection, socket } = await connected();
  const stream = connection.create(body);
  const chunk = {
    id: "c",
    object: "chat.completion.chunk",
    choices: [{ index: 0, delta: { content: "Hi" } }],
  };
  const error = {
    message: "upstream went away",
    type: "server_error",
    param: null,
    code: "upstream_error",
  };
  socket.receive({ type: "call.event", call_id: "call-1", event: chunk });
  socket.receive({
    type: "call.event",
    call_id: "call-1",
    event: { ...chunk, choices: [], error },
  });
  socket.receive({
    type: "call.error",
    call_id: "call-1",
    code: "upstream_error",
    status: 502,
    error: { error },
  });
  const seen = [];
  await assert.rejects(
    (async () => {
      for await (const event of stream) seen.push(event);
    })(),
    (thrown) => {
      assert.ok(thrown instanceof OpenAI.InternalServerError, String(thrown));
      assert.equal(thrown.status, 502);
      assert.equal(thrown.code, "upstream_error");
      assert.equal(thrown.message, "502 upstream went away");
      return true;
    },
  );
  assert.deepEqual(seen, [chunk]);
});

test("a lost socket: the SDK's APIConnectionError", async () => {
  const { connection, socket } = await connected();
  const stream = connection.create(body);
  socket.close(1006);
  await assert.rejects(
    (async () => {
      for await (const _event of stream);
    })(),
    OpenAI.APIConnectionError,
  );
});

test(
  "no WebSocket given and none global: a clear TypeError",
  { skip: globalThis.WebSocket ? "this Node has a global WebSocket" : false },
  async () => {
    const bare = new OpenAI({ baseURL: "http://rhone.test", apiKey: "k" });
    await assert.rejects(bare.chat.completions.connect(), /pass `webSocket`/);
  },
);

test("an apiKey function is called at connect", async () => {
  const keyed = new OpenAI({
    baseURL: "http://rhone.test",
    apiKey: async () => "rk-from-fn",
    webSocket: FakeSocket,
  });
  const connection = await keyed.chat.completions.connect();
  assert.deepEqual(connection.connection.socket.options.headers, {
    Authorization: "Bearer rk-from-fn",
  });
});
