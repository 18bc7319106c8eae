// vai-openai-chat against a running Rhone: RHONE_BASE_URL (no /v1) and RHONE_API_KEY come from
// tests/integration/test_node_ws_wrappers.py, or from you (`make run` prints the key).
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
  function: {
    name: "get_weather",
    description: "The weather in a city.",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  },
};

const user = (content) => ({ model: "local", messages: [{ role: "user", content }] });

/** The text of a stream of chunks. */
async function textOf(stream) {
  let text = "";
  for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? "";
  return text;
}

async function collect(stream) {
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

/** A connection closed after `use` runs. */
async function withConnection(use, options) {
  const connection = await client.chat.completions.connect(options);
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
  connect: () => client.chat.completions.connect(),
  requestWithTool: (text) => ({ ...user(text), tools: [WEATHER_TOOL] }),
  textOf,
});

/** Ids, timestamps and session ids differ between two calls; the rest must not. */
function normalized(chunks) {
  return JSON.parse(
    JSON.stringify(chunks)
      .replace(/"chatcmpl-[^"]*"/g, '"<id>"')
      .replace(/"created":\d+/g, '"created":0')
      .replace(/"sess_[0-9a-f]+"/g, '"<session>"')
      .replace(/"call_[0-9a-zA-Z]+"/g, '"<call>"'),
  );
}

test(
  "bindSession creates a session, and a second socket binds the same one",
  { skip },
  async () => {
    const sessionId = await withConnection(async (connection) => {
      assert.equal(connection.sessionId, null);
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

test("connect({session_id: null}) binds a new session at once", { skip }, async () => {
  await withConnection(async (connection) => assert.match(connection.sessionId ?? "", /^sess_/), {
    session_id: null,
  });
});

test("a three-turn tool-using conversation over one socket", { skip }, async () => {
  await withConnection(async (connection) => {
    await connection.bindSession();
    const first = 'Use get_weather with {"city": "Paris"}';
    // Turn 1: the model calls the tool; the call arrives as tool_call deltas.
    const calls = new Map();
    let finish = null;
    for await (const chunk of connection.create({ ...user(first), tools: [WEATHER_TOOL] })) {
      const choice = chunk.choices[0];
      if (choice?.finish_reason) finish = choice.finish_reason;
      for (const delta of choice?.delta?.tool_calls ?? []) {
        const call = calls.get(delta.index) ?? { id: "", name: "", arguments: "" };
        call.id ||= delta.id ?? "";
        call.name += delta.function?.name ?? "";
        call.arguments += delta.function?.arguments ?? "";
        calls.set(delta.index, call);
      }
    }
    assert.equal(finish, "tool_calls");
    const [call] = calls.values();
    assert.equal(call.name, "get_weather");
    assert.deepEqual(JSON.parse(call.arguments), { city: "Paris" });
    // Turn 2: only the tool result is sent; the session holds the call it answers.
    const result = '{"temp_c": 21, "sky": "clear"}';
    const answer = await textOf(
      connection.create({
        model: "local",
        messages: [{ role: "tool", tool_call_id: call.id, content: result }],
        tools: [WEATHER_TOOL],
      }),
    );
    assert.equal(answer, `Tool get_weather returned: ${result}`);
    // Turn 3: still the same conversation.
    const third = await textOf(connection.create(user("And tomorrow?")));
    assert.equal(third, said("And tomorrow?", 2, first));
  });
});

for (const [name, body] of [
  ["text with usage", { ...user("Compare me"), stream_options: { include_usage: true } }],
  ["a tool call", { ...user('Use get_weather with {"city": "Oslo"}'), tools: [WEATHER_TOOL] }],
  ["max_tokens", { ...user("cut me short please"), max_tokens: 3 }],
]) {
  test(`socket chunks equal the SDK's HTTP stream chunks: ${name}`, { skip }, async () => {
    const http = await collect(await client.chat.completions.create({ ...body, stream: true }));
    const socket = await withConnection((connection) => collect(connection.create(body)));
    assert.ok(http.length > 2);
    assert.deepEqual(normalized(socket), normalized(http));
    // The SDK yields plain JSON objects; so does the socket.
    assert.equal(Object.getPrototypeOf(socket[0]), Object.prototype);
  });
}

test("cancel stops the stream and records nothing of the turn", { skip }, async () => {
  await withConnection(async (connection) => {
    await connection.bindSession();
    await textOf(connection.create(user("kept")));
    // A long answer (the model echoes the message), so the cancel lands mid-stream.
    const long = Array.from({ length: 12000 }, (_, i) => `w${i}`).join(" ");
    const stream = connection.create(user(long));
    let chunks = 0;
    for await (const _chunk of stream) {
      chunks += 1;
      if (chunks === 2) stream.cancel();
    }
    assert.equal(stream.cancelled, true);
    assert.equal(stream.sessionId, null);
    assert.ok(chunks < 100, `${chunks} chunks read after the cancel`);
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
    const aborted = connection.create(user(long), { signal: controller.signal });
    let chunks = 0;
    for await (const _chunk of aborted) {
      chunks += 1;
      // Mid-stream, as a user would: a cancel within a few ms of call.create can hit the
      // server's start-of-call race (see the report of issue 8), which is not this client's.
      controller.abort();
    }
    assert.equal(aborted.cancelled, true);
    assert.ok(chunks < 100);
    for await (const _chunk of connection.create(user(long))) break;
    // Neither turn was recorded.
    assert.equal(
      await textOf(connection.create(user("first?"))),
      said("first?", 1, "first?"),
    );
  });
});

test("empty messages: the SDK's BadRequestError, 400, naming the field", { skip }, async () => {
  await withConnection(async (connection) => {
    await assert.rejects(collect(connection.create({ model: "local", messages: [] })), (error) => {
      assert.ok(error instanceof OpenAI.BadRequestError, String(error));
      assert.equal(error.status, 400);
      assert.equal(error.param, "messages");
      assert.equal(error.type, "invalid_request_error");
      return true;
    });
    // The socket stays usable.
    assert.equal(
      await textOf(connection.create(user("still here"))),
      said("still here", 1, "still here"),
    );
  });
});

test("unknown model: the SDK's NotFoundError, 404 model_not_found", { skip }, async () => {
  await withConnection(async (connection) => {
    const stream = connection.create({ ...user("hi"), model: "no-such-model" });
    await assert.rejects(collect(stream), (error) => {
      assert.ok(error instanceof OpenAI.NotFoundError, String(error));
      assert.equal(error.status, 404);
      assert.equal(error.code, "model_not_found");
      assert.equal(error.headers.get("x-rhone-error-code"), "model_not_found");
      return true;
    });
  });
});

test("binding an unknown session: NotFoundError 404", { skip }, async () => {
  await withConnection(async (connection) => {
    await assert.rejects(
      connection.bindSession({ session_id: "sess_00000000000000000000000000000000" }),
      (error) => error instanceof OpenAI.NotFoundError && error.status === 404,
    );
  });
});

test("a wrong key: the SDK's AuthenticationError at connect", { skip }, async () => {
  const wrong = new OpenAI({ baseURL: BASE_URL, apiKey: "rk-wrong", webSocket: WebSocket });
  await assert.rejects(wrong.chat.completions.connect(), (error) => {
    assert.ok(error instanceof OpenAI.AuthenticationError, String(error));
    assert.equal(error.status, 401);
    return true;
  });
});

test("a browser's WebSocket (no headers): the key goes as a subprotocol", { skip }, async () => {
  // What a browser offers: new WebSocket(url, protocols), nothing more.
  class BrowserWebSocket extends WebSocket {
    constructor(url, protocols, ...rest) {
      if (rest.length > 0) throw new TypeError("a browser WebSocket takes no options");
      super(url, protocols);
    }
  }
  const saved = globalThis.WebSocket;
  globalThis.WebSocket = BrowserWebSocket;
  try {
    const browser = new OpenAI({
      baseURL: BASE_URL,
      apiKey: API_KEY,
      dangerouslyAllowBrowser: true,
    });
    const connection = await browser.chat.completions.connect();
    try {
      assert.equal(connection.connection.socket.protocol, "rhone.ws.v1");
      await connection.bindSession();
      assert.equal(
        await textOf(connection.create(user("from a tab"))),
        said("from a tab", 1, "from a tab"),
      );
    } finally {
      await connection.close();
    }
  } finally {
    globalThis.WebSocket = saved;
  }
});

test("everything else is the SDK: HTTP calls, withOptions", { skip }, async () => {
  assert.ok(client instanceof OpenAI);
  assert.equal(client.baseURL, `${BASE_URL.replace(/\/+$/, "")}/v1`);
  const completion = await client.chat.completions.create(user("over HTTP"));
  assert.equal(completion.choices[0].message.content, said("over HTTP", 1, "over HTTP"));
  const clone = client.withOptions({ timeout: 30_000 });
  assert.equal(clone.baseURL, client.baseURL);
  // A socket continues the session an HTTP call started.
  await withConnection(async (connection) => {
    await connection.bindSession({ session_id: completion.rhone.session_id });
    assert.equal(await textOf(connection.create(user("over WS"))), said("over WS", 2, "over HTTP"));
  });
  const cloneConnection = await clone.chat.completions.connect();
  await cloneConnection.close();
});

test("a closed connection fails later calls with APIConnectionError", { skip }, async () => {
  const connection = await client.chat.completions.connect();
  await connection.close();
  await assert.rejects(collect(connection.create(user("late"))), OpenAI.APIConnectionError);
});
