// vai-openai-responses against a running Rhone: RHONE_BASE_URL (no /v1) and RHONE_API_KEY come
// from tests/integration/test_node_ws_wrappers.py, or from you (`make run` prints the key).
import { test } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";
import { runSuite, said, sessionSuite } from "rhone-ws-core/testing";

import OpenAI from "../src/index.js";

const BASE_URL = process.env.RHONE_BASE_URL;
const API_KEY = process.env.RHONE_API_KEY;
const skip =
  BASE_URL && API_KEY
    ? false
    : "RHONE_BASE_URL and RHONE_API_KEY are not set: these tests need a running Rhone (make run)";

const client = skip
  ? /** @type {OpenAI} */ (/** @type {unknown} */ (null))
  : new OpenAI({ baseURL: BASE_URL, apiKey: API_KEY, webSocket: WebSocket, maxRetries: 0 });

const WEATHER_TOOL = {
  type: "function",
  name: "get_weather",
  description: "The weather in a city.",
  parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  strict: false,
};

const ask = (input) => ({ model: "local", input });

async function collect(stream) {
  const events = [];
  for await (const event of stream) events.push(event);
  return events;
}

/** The text of a stream of Responses events. */
async function textOf(stream) {
  let text = "";
  for await (const event of stream) {
    if (event.type === "response.output_text.delta") text += event.delta;
  }
  return text;
}

async function withConnection(use, options) {
  const connection = await client.responses.connect(options);
  try {
    return await use(connection);
  } finally {
    await connection.close();
  }
}

sessionSuite({ test, skip, withConnection, request: ask, textOf });

runSuite({
  test,
  skip,
  connect: () => client.responses.connect(),
  requestWithTool: (text) => ({ ...ask(text), tools: [WEATHER_TOOL] }),
  textOf,
});

/** Ids, timestamps and session ids differ between two calls; the rest must not. */
function normalized(events) {
  return JSON.parse(
    JSON.stringify(events)
      .replace(/"(resp|msg|fc|rs)_[0-9a-f_]+"/g, '"<$1>"')
      .replace(/"(created_at|completed_at)":\d+/g, '"$1":0')
      .replace(/"sess_[0-9a-f]+"/g, '"<session>"')
      .replace(/"call_[0-9a-zA-Z]+"/g, '"<call>"'),
  );
}

test(
  "bindSession creates a session, and a second socket binds the same one",
  { skip },
  async () => {
    const sessionId = await withConnection(async (connection) => {
      const created = await connection.bindSession({ session_id: null });
      assert.match(created, /^sess_[0-9a-f]{32}$/);
      assert.equal(connection.sessionId, created);
      assert.equal(await textOf(connection.create(ask("one"))), said("one", 1, "one"));
      return created;
    });
    await withConnection(async (connection) => {
      assert.equal(await connection.bindSession({ session_id: sessionId }), sessionId);
      const stream = connection.create(ask("two"));
      assert.equal(await textOf(stream), said("two", 2, "one"));
      assert.equal(stream.sessionId, sessionId);
    });
  },
);

test("a three-turn tool-using conversation over one socket", { skip }, async () => {
  await withConnection(async (connection) => {
    await connection.bindSession();
    const first = 'Use get_weather with {"city": "Paris"}';
    // Turn 1: the model calls the tool; the call is a function_call output item.
    let call = null;
    let completed = null;
    for await (const event of connection.create({ ...ask(first), tools: [WEATHER_TOOL] })) {
      if (event.type === "response.output_item.done" && event.item.type === "function_call") {
        call = event.item;
      }
      if (event.type === "response.completed") completed = event.response;
    }
    assert.equal(call?.name, "get_weather");
    assert.deepEqual(JSON.parse(call.arguments), { city: "Paris" });
    assert.equal(completed.status, "completed");
    // Turn 2: only the tool's output is sent; the session holds the call it answers.
    const output = '{"temp_c": 21, "sky": "clear"}';
    const answer = await textOf(
      connection.create({
        model: "local",
        input: [{ type: "function_call_output", call_id: call.call_id, output }],
        tools: [WEATHER_TOOL],
      }),
    );
    assert.equal(answer, `Tool get_weather returned: ${output}`);
    // Turn 3: still the same conversation.
    assert.equal(
      await textOf(connection.create(ask("And tomorrow?"))),
      said("And tomorrow?", 2, first),
    );
  });
});

for (const [name, body] of [
  ["text", ask("Compare me")],
  ["a tool call", { ...ask('Use get_weather with {"city": "Oslo"}'), tools: [WEATHER_TOOL] }],
  ["max_output_tokens", { ...ask("cut me short please"), max_output_tokens: 3 }],
  ["instructions", { ...ask("hello"), instructions: "Be brief." }],
]) {
  test(`socket events equal the SDK's HTTP stream events: ${name}`, { skip }, async () => {
    const http = await collect(await client.responses.create({ ...body, stream: true }));
    const socket = await withConnection((connection) => collect(connection.create(body)));
    assert.ok(http.length > 4);
    assert.equal(http[0].type, "response.created");
    assert.deepEqual(normalized(socket), normalized(http));
    assert.equal(Object.getPrototypeOf(socket[0]), Object.prototype);
  });
}

test("cancel stops the stream and records nothing of the turn", { skip }, async () => {
  await withConnection(async (connection) => {
    await connection.bindSession();
    await textOf(connection.create(ask("kept")));
    // A long answer (the model echoes the input), so the cancel lands mid-stream.
    const long = Array.from({ length: 12000 }, (_, i) => `w${i}`).join(" ");
    const stream = connection.create(ask(long));
    let events = 0;
    for await (const event of stream) {
      events += 1;
      if (event.type === "response.output_text.delta") stream.cancel();
    }
    assert.equal(stream.cancelled, true);
    assert.equal(stream.sessionId, null);
    assert.ok(events < 100, `${events} events read after the cancel`);
    assert.equal(
      await textOf(connection.create(ask("after"))),
      said("after", 2, "kept"),
    );
  });
});

test("an AbortSignal cancels a call", { skip }, async () => {
  await withConnection(async (connection) => {
    await connection.bindSession();
    const long = Array.from({ length: 12000 }, (_, i) => `w${i}`).join(" ");
    const controller = new AbortController();
    const stream = connection.create(ask(long), { signal: controller.signal });
    // Mid-stream: see the cancel test of vai-openai-chat on the server's start-of-call race.
    for await (const event of stream)
      if (event.type === "response.output_text.delta") controller.abort();
    assert.equal(stream.cancelled, true);
    assert.equal(
      await textOf(connection.create(ask("first?"))),
      said("first?", 1, "first?"),
    );
  });
});

test("a bad input: the SDK's BadRequestError, 400, naming the field", { skip }, async () => {
  await withConnection(async (connection) => {
    await assert.rejects(collect(connection.create({ model: "local", input: 5 })), (error) => {
      assert.ok(error instanceof OpenAI.BadRequestError, String(error));
      assert.equal(error.status, 400);
      assert.equal(error.param, "input");
      return true;
    });
    assert.equal(
      await textOf(connection.create(ask("still here"))),
      said("still here", 1, "still here"),
    );
  });
});

test("unknown model: the SDK's NotFoundError, 404 model_not_found", { skip }, async () => {
  await withConnection(async (connection) => {
    await assert.rejects(
      collect(connection.create({ ...ask("hi"), model: "no-such-model" })),
      (error) => {
        assert.ok(error instanceof OpenAI.NotFoundError, String(error));
        assert.equal(error.status, 404);
        assert.equal(error.code, "model_not_found");
        return true;
      },
    );
  });
});

test("binding an unknown session: NotFoundError 404", { skip }, async () => {
  await assert.rejects(
    client.responses.connect({ session_id: "sess_00000000000000000000000000000000" }),
    (error) => error instanceof OpenAI.NotFoundError && error.status === 404,
  );
});

test("a wrong key: the SDK's AuthenticationError at connect", { skip }, async () => {
  const wrong = new OpenAI({ baseURL: BASE_URL, apiKey: "rk-wrong", webSocket: WebSocket });
  await assert.rejects(wrong.responses.connect(), (error) => {
    assert.ok(error instanceof OpenAI.AuthenticationError, String(error));
    assert.equal(error.status, 401);
    return true;
  });
});

test("everything else is the SDK: HTTP create, retrieve, input items", { skip }, async () => {
  const response = await client.responses.create(ask("over HTTP"));
  assert.equal(response.output_text, said("over HTTP", 1, "over HTTP"));
  const again = await client.responses.retrieve(response.id);
  assert.equal(again.id, response.id);
  // A socket continues the session an HTTP call started; HTTP can read what the socket made.
  const completed = await withConnection(async (connection) => {
    await connection.bindSession({ session_id: response.rhone.session_id });
    let last = null;
    for await (const event of connection.create(ask("over WS"))) {
      if (event.type === "response.completed") last = event.response;
    }
    return last;
  });
  const retrieved = await client.responses.retrieve(completed.id);
  assert.equal(retrieved.output_text, said("over WS", 2, "over HTTP"));
});
