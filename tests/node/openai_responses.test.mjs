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

test("item_reference history: earlier items sent back by id", async () => {
  const asked = await client.responses.create({ model: "local", input: "Node remember" });
  const [message] = asked.output;
  assert.match(message.id, /^msg_/);
  for (const store of [true, false]) {
    const next = await client.responses.create({
      model: "local",
      store,
      input: [
        { role: "user", content: "Node remember" },
        { type: "item_reference", id: message.id },
        { role: "user", content: "Node again" },
      ],
    });
    assert.equal(
      next.output_text,
      'You said: "Node again". This is user turn 2; your first message was: "Node remember".',
    );
  }
  await assert.rejects(
    client.responses.create({
      model: "local",
      input: [{ type: "item_reference", id: "msg_unknown_0" }],
    }),
    (error) => error instanceof OpenAI.NotFoundError && error.param === "input",
  );
});

test("item_reference to a reasoning item and the streamed answer after it", async () => {
  const reasoning = { effort: "low", summary: "auto" };
  const stream = client.responses.stream({ model: "local", input: "Node think", reasoning });
  const first = await stream.finalResponse();
  const [thought, answer] = first.output;
  assert.equal(thought.type, "reasoning");
  const next = await client.responses.create({
    model: "local",
    reasoning,
    input: [
      { role: "user", content: "Node think" },
      { type: "item_reference", id: thought.id },
      { type: "item_reference", id: answer.id },
      { role: "user", content: "Node think more" },
    ],
  });
  assert.equal(next.output[0].summary[0].text, "Counting user turns: 2.");
});
