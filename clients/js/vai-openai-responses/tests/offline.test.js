// vai-openai-responses without a server: an in-memory socket plays Rhone, to pin what the
// wrapper sends and how it turns failures into the SDK's error classes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { FakeSocket } from "rhone-ws-core/testing";

import OpenAI from "../src/index.js";

const client = new OpenAI({
  baseURL: "https://rhone.test/v1",
  apiKey: "rk-offline",
  webSocket: FakeSocket,
});

async function connected() {
  const connection = await client.responses.connect();
  return { connection, socket: /** @type {FakeSocket} */ (connection.connection.socket) };
}

test("a base URL with /v1 is tolerated: the SDK gets it once, the socket /v1/ws", async () => {
  assert.equal(client.baseURL, "https://rhone.test/v1");
  const { socket } = await connected();
  assert.equal(socket.url, "wss://rhone.test/v1/ws");
});

test("create sends the params unchanged as an openai.responses call", async () => {
  const { connection, socket } = await connected();
  connection.create({ model: "local", input: "hi", instructions: "Be brief." });
  assert.deepEqual(socket.last("call.create"), {
    type: "call.create",
    call_id: "call-1",
    surface: "openai.responses",
    body: { model: "local", input: "hi", instructions: "Be brief." },
  });
});

test("a failure mid-stream: response.failed is yielded as the SDK does, then the SDK's error", async () => {
  const { connection, socket } = await connected();
  const stream = connection.create({ model: "local", input: "hi" });
  const created = {
    type: "response.created",
    sequence_number: 0,
    response: { id: "resp_1", status: "in_progress", error: null },
  };
  const failed = {
    type: "response.failed",
    sequence_number: 1,
    response: {
      id: "resp_1",
      status: "failed",
      error: { code: "server_error", message: "upstream went away" },
    },
  };
  const error = {
    message: "upstream went away",
    type: "server_error",
    param: null,
    code: "upstream_error",
  };
  socket.receive({ type: "call.event", call_id: "call-1", event: created });
  socket.receive({ type: "call.event", call_id: "call-1", event: failed });
  socket.receive({
    type: "call.error",
    call_id: "call-1",
    code: "upstream_error",
    status: 503,
    error: { error },
  });
  const seen = [];
  await assert.rejects(
    (async () => {
      for await (const event of stream) seen.push(event);
    })(),
    (thrown) => thrown instanceof OpenAI.InternalServerError && thrown.status === 503,
  );
  assert.deepEqual(seen, [created, failed]);
});

test("a refused call frame (too many calls): the SDK's RateLimitError", async () => {
  const { connection, socket } = await connected();
  const stream = connection.create({ model: "local", input: "hi" });
  socket.receive({
    type: "error",
    code: "too_many_calls",
    message: "At most 16 calls.",
    call_id: "call-1",
  });
  await assert.rejects(
    (async () => {
      for await (const _event of stream);
    })(),
    (thrown) => thrown instanceof OpenAI.RateLimitError && thrown.code === "too_many_calls",
  );
});
