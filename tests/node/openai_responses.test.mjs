// The official `openai` Node SDK's Responses API against Rhone.
import { test } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";

const client = new OpenAI({
  baseURL: `${process.env.RHONE_BASE_URL}/v1`,
  apiKey: process.env.RHONE_API_KEY,
  maxRetries: 0,
});

test("create and chain with previous_response_id", async () => {
  const first = await client.responses.create({ model: "local", input: "Node first" });
  assert.match(first.id, /^resp_/);
  const second = await client.responses.create({
    model: "local",
    input: "Node second",
    previous_response_id: first.id,
  });
  assert.equal(
    second.output_text,
    'You said: "Node second". This is user turn 2; your first message was: "Node first".',
  );
});

test("stream helper yields the final response", async () => {
  const stream = client.responses.stream({ model: "local", input: "Node stream" });
  let deltas = "";
  stream.on("response.output_text.delta", (event) => {
    deltas += event.delta;
  });
  const final = await stream.finalResponse();
  assert.equal(final.output_text, deltas);
  assert.equal(final.output_text.startsWith('You said: "Node stream".'), true);
});
