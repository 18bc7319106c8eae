// The official `@anthropic-ai/sdk` Node SDK against Rhone: create, stream with the SDK's own
// accumulator, a tool round trip on one session, errors.
import { test } from "node:test";
import assert from "node:assert/strict";
import Anthropic from "@anthropic-ai/sdk";

const client = new Anthropic({
  baseURL: process.env.RHONE_BASE_URL,
  apiKey: process.env.RHONE_API_KEY,
  maxRetries: 0,
});

const weather = {
  name: "get_weather",
  description: "Current weather",
  input_schema: { type: "object", properties: { city: { type: "string" } } },
};

test("create a message", async () => {
  const message = await client.messages.create({
    model: "local",
    max_tokens: 100,
    messages: [{ role: "user", content: "Hello from Node" }],
  });
  assert.equal(message.content[0].text.startsWith('You said: "Hello from Node".'), true);
  assert.match(message.rhone.session_id, /^sess_/);
});

test("stream accumulates the final message", async () => {
  const stream = client.messages.stream({
    model: "local",
    max_tokens: 100,
    messages: [{ role: "user", content: "stream from Node" }],
  });
  const final = await stream.finalMessage();
  assert.equal(final.content[0].text.startsWith('You said: "stream from Node".'), true);
  assert.equal(final.stop_reason, "end_turn");
});

test("tool use round trip sends only the new message", async () => {
  const asked = await client.messages.stream({
    model: "local",
    max_tokens: 100,
    tools: [weather],
    messages: [{ role: "user", content: 'Use get_weather with {"city": "Bern"}' }],
  }).finalMessage();
  const toolUse = asked.content.find((b) => b.type === "tool_use");
  assert.deepEqual(toolUse.input, { city: "Bern" });
  const answered = await client.messages.create({
    model: "local",
    max_tokens: 100,
    tools: [weather],
    messages: [{ role: "user", content: [{ type: "tool_result", tool_use_id: toolUse.id, content: "snow" }] }],
    rhone: { session_id: asked.rhone.session_id },
  });
  assert.equal(answered.content[0].text, "Tool get_weather returned: snow");
});

test("errors are the SDK's error classes", async () => {
  await assert.rejects(
    client.messages.create({ model: "no-such", max_tokens: 5, messages: [{ role: "user", content: "x" }] }),
    (err) => err instanceof Anthropic.NotFoundError && err.error.error.type === "not_found_error",
  );
});
