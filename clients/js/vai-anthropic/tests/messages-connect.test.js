// vai-anthropic against a running Rhone: RHONE_BASE_URL (no /v1) and RHONE_API_KEY come from
// tests/integration/test_node_ws_wrappers.py, or from you (`make run` prints the key).
import { test } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";
import { runSuite, said, sessionSuite } from "rhone-ws-core/testing";

import Anthropic from "../src/index.js";

const BASE_URL = process.env.RHONE_BASE_URL;
const API_KEY = process.env.RHONE_API_KEY;
const skip =
  BASE_URL && API_KEY
    ? false
    : "RHONE_BASE_URL and RHONE_API_KEY are not set: these tests need a running Rhone (make run)";

const client = skip
  ? /** @type {Anthropic} */ (/** @type {unknown} */ (null))
  : new Anthropic({ baseURL: BASE_URL, apiKey: API_KEY, webSocket: WebSocket, maxRetries: 0 });

const WEATHER_TOOL = {
  name: "get_weather",
  description: "The weather in a city.",
  input_schema: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
};

const user = (content) => ({
  model: "local",
  max_tokens: 1000,
  messages: [{ role: "user", content }],
});

async function collect(stream) {
  const events = [];
  for await (const event of stream) events.push(event);
  return events;
}

/** The text of a stream of Messages events. */
async function textOf(stream) {
  let text = "";
  for await (const event of stream) {
    if (event.type === "content_block_delta" && event.delta.type === "text_delta")
      text += event.delta.text;
  }
  return text;
}

async function withConnection(use, options) {
  const connection = await client.messages.connect(options);
  try {
    return await use(connection);
  } finally {
    await connection.close();
  }
}

sessionSuite({ test, skip, withConnection, request: user, textOf });

runSuite({
  test,
  skip,
  connect: () => client.messages.connect(),
  requestWithTool: (text) => ({ ...user(text), tools: [WEATHER_TOOL] }),
  textOf,
});

/** Ids and session ids differ between two calls; the rest must not. */
function normalized(events) {
  return JSON.parse(
    JSON.stringify(events)
      .replace(/"msg_[0-9a-zA-Z_-]+"/g, '"<msg>"')
      .replace(/"(call|toolu)_[0-9a-zA-Z]+"/g, '"<tool_use>"')
      .replace(/"sess_[0-9a-f]+"/g, '"<session>"'),
  );
}

test(
  "bindSession creates a session, and a second socket binds the same one",
  { skip },
  async () => {
    const sessionId = await withConnection(async (connection) => {
      const created = await connection.bindSession();
      assert.match(created, /^sess_[0-9a-f]{32}$/);
      assert.equal(connection.sessionId, created);
      assert.equal(await textOf(connection.create(user("one"))), said("one", 1, "one"));
      return created;
    });
    await withConnection(async (connection) => {
      assert.equal(await connection.bindSession({ session_id: sessionId }), sessionId);
      const stream = connection.create(user("two"));
      assert.equal(await textOf(stream), said("two", 2, "one"));
      assert.equal(stream.sessionId, sessionId);
    });
  },
);

test("a three-turn tool-using conversation over one socket", { skip }, async () => {
  await withConnection(async (connection) => {
    await connection.bindSession();
    const first = 'Use get_weather with {"city": "Paris"}';
    // Turn 1: the model calls the tool: a tool_use block whose input streams as JSON deltas.
    let toolUse = null;
    let json = "";
    let stopReason = null;
    for await (const event of connection.create({ ...user(first), tools: [WEATHER_TOOL] })) {
      if (event.type === "content_block_start" && event.content_block.type === "tool_use") {
        toolUse = event.content_block;
      }
      if (event.type === "content_block_delta" && event.delta.type === "input_json_delta") {
        json += event.delta.partial_json;
      }
      if (event.type === "message_delta") stopReason = event.delta.stop_reason;
    }
    assert.equal(stopReason, "tool_use");
    assert.equal(toolUse?.name, "get_weather");
    assert.deepEqual(JSON.parse(json), { city: "Paris" });
    // Turn 2: only the tool result is sent; the session holds the tool_use it answers.
    const result = '{"temp_c": 21, "sky": "clear"}';
    const answer = await textOf(
      connection.create({
        model: "local",
        max_tokens: 1000,
        messages: [
          {
            role: "user",
            content: [{ type: "tool_result", tool_use_id: toolUse.id, content: result }],
          },
        ],
        tools: [WEATHER_TOOL],
      }),
    );
    assert.equal(answer, `Tool get_weather returned: ${result}`);
    // Turn 3: still the same conversation.
    assert.equal(
      await textOf(connection.create(user("And tomorrow?"))),
      said("And tomorrow?", 2, first),
    );
  });
});

for (const [name, body] of [
  ["text", user("Compare me")],
  ["a tool call", { ...user('Use get_weather with {"city": "Oslo"}'), tools: [WEATHER_TOOL] }],
  ["max_tokens", { ...user("cut me short please"), max_tokens: 3 }],
  ["thinking", { ...user("think first"), thinking: { type: "enabled", budget_tokens: 1024 } }],
]) {
  test(`socket events equal the SDK's HTTP stream events: ${name}`, { skip }, async () => {
    const http = await collect(await client.messages.create({ ...body, stream: true }));
    const socket = await withConnection((connection) => collect(connection.create(body)));
    assert.equal(http[0].type, "message_start");
    assert.equal(http.at(-1).type, "message_stop");
    // The SDK's stream skips pings; so does the socket's.
    assert.ok(!socket.some((event) => event.type === "ping"));
    assert.deepEqual(normalized(socket), normalized(http));
    assert.equal(Object.getPrototypeOf(socket[0]), Object.prototype);
  });
}

test("cancel stops the stream and records nothing of the turn", { skip }, async () => {
  await withConnection(async (connection) => {
    await connection.bindSession();
    await textOf(connection.create(user("kept")));
    // A long answer (the model echoes the message), so the cancel lands mid-stream.
    const long = Array.from({ length: 12000 }, (_, i) => `w${i}`).join(" ");
    const stream = connection.create({ ...user(long), max_tokens: 100000 });
    let events = 0;
    for await (const event of stream) {
      events += 1;
      if (event.type === "content_block_delta") stream.cancel();
    }
    assert.equal(stream.cancelled, true);
    assert.equal(stream.sessionId, null);
    assert.ok(events < 100, `${events} events read after the cancel`);
    assert.equal(
      await textOf(connection.create(user("after"))),
      said("after", 2, "kept"),
    );
  });
});

test("an AbortSignal cancels a call; break cancels too", { skip }, async () => {
  await withConnection(async (connection) => {
    await connection.bindSession();
    const long = Array.from({ length: 12000 }, (_, i) => `w${i}`).join(" ");
    const controller = new AbortController();
    const stream = connection.create(
      { ...user(long), max_tokens: 100000 },
      { signal: controller.signal },
    );
    // Mid-stream: see the cancel test of vai-openai-chat on the server's start-of-call race.
    for await (const event of stream) if (event.type === "content_block_delta") controller.abort();
    assert.equal(stream.cancelled, true);
    for await (const event of connection.create({ ...user(long), max_tokens: 100000 })) {
      if (event.type === "content_block_delta") break;
    }
    assert.equal(
      await textOf(connection.create(user("first?"))),
      said("first?", 1, "first?"),
    );
  });
});

test(
  "an invalid request: the SDK's BadRequestError, 400, with Anthropic's error body",
  { skip },
  async () => {
    await withConnection(async (connection) => {
      const body = { model: "local", messages: [{ role: "user", content: "no max_tokens" }] };
      await assert.rejects(collect(connection.create(body)), (error) => {
        assert.ok(error instanceof Anthropic.BadRequestError, String(error));
        assert.equal(error.status, 400);
        assert.equal(error.type, "invalid_request_error");
        assert.match(error.apiMessage, /max_tokens/);
        return true;
      });
      assert.equal(
        await textOf(connection.create(user("still here"))),
        said("still here", 1, "still here"),
      );
    });
  },
);

test("unknown model: the SDK's NotFoundError, 404", { skip }, async () => {
  await withConnection(async (connection) => {
    await assert.rejects(
      collect(connection.create({ ...user("hi"), model: "no-such-model" })),
      (error) => {
        assert.ok(error instanceof Anthropic.NotFoundError, String(error));
        assert.equal(error.status, 404);
        assert.equal(error.type, "not_found_error");
        assert.equal(error.headers.get("x-rhone-error-code"), "model_not_found");
        return true;
      },
    );
  });
});

test("binding an unknown session: NotFoundError 404 in Anthropic's shape", { skip }, async () => {
  await withConnection(async (connection) => {
    await assert.rejects(
      connection.bindSession({ session_id: "sess_00000000000000000000000000000000" }),
      (error) => {
        assert.ok(error instanceof Anthropic.NotFoundError, String(error));
        assert.equal(error.type, "not_found_error");
        return true;
      },
    );
  });
});

test("a wrong key: the SDK's AuthenticationError at connect", { skip }, async () => {
  const wrong = new Anthropic({ baseURL: BASE_URL, apiKey: "rk-wrong", webSocket: WebSocket });
  await assert.rejects(wrong.messages.connect(), (error) => {
    assert.ok(error instanceof Anthropic.AuthenticationError, String(error));
    assert.equal(error.status, 401);
    assert.equal(error.type, "authentication_error");
    return true;
  });
});

test("everything else is the SDK: HTTP create, count_tokens, stream helper", { skip }, async () => {
  assert.equal(client.baseURL, BASE_URL.replace(/\/+$/, ""));
  const message = await client.messages.create(user("over HTTP"));
  assert.equal(message.content[0].text, said("over HTTP", 1, "over HTTP"));
  const counted = await client.messages.countTokens({
    model: "local",
    messages: user("count me").messages,
  });
  assert.ok(counted.input_tokens > 0);
  // A socket continues the session an HTTP call started.
  await withConnection(async (connection) => {
    await connection.bindSession({ session_id: message.rhone.session_id });
    assert.equal(await textOf(connection.create(user("over WS"))), said("over WS", 2, "over HTTP"));
  });
  const final = await client.messages.stream(user("helper")).finalMessage();
  assert.equal(final.content[0].text, said("helper", 1, "helper"));
});
