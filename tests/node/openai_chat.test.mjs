// The official `openai` Node SDK against Rhone: one plain and one streamed chat completion.
// RHONE_BASE_URL and RHONE_API_KEY come from the Python test that starts the services.
import { test } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";

const client = new OpenAI({
  baseURL: `${process.env.RHONE_BASE_URL}/v1`,
  apiKey: process.env.RHONE_API_KEY,
  maxRetries: 0,
});

test("plain chat completion", async () => {
  const completion = await client.chat.completions.create({
    model: "local",
    messages: [{ role: "user", content: "Hello from Node" }],
  });
  assert.equal(
    completion.choices[0].message.content,
    'You said: "Hello from Node". This is user turn 1; your first message was: "Hello from Node".',
  );
  assert.match(completion.rhone.session_id, /^sess_[0-9a-f]{32}$/);
});

test("streamed chat completion continues the session", async () => {
  const first = await client.chat.completions.create({
    model: "local",
    messages: [{ role: "user", content: "first" }],
  });
  const stream = await client.chat.completions.create({
    model: "local",
    messages: [{ role: "user", content: "second" }],
    stream: true,
    stream_options: { include_usage: true },
    rhone: { session_id: first.rhone.session_id },
  });
  let text = "";
  let usage = null;
  let chunks = 0;
  for await (const chunk of stream) {
    chunks += 1;
    text += chunk.choices[0]?.delta?.content ?? "";
    if (chunk.usage) usage = chunk.usage;
  }
  assert.ok(chunks > 5);
  assert.equal(text, 'You said: "second". This is user turn 2; your first message was: "first".');
  assert.ok(usage.total_tokens > 0);
});
