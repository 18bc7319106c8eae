// Runs against an in-memory socket (docs/rhone-ws-v1.md, "Runs"): the test plays the server.
import { test } from "node:test";
import assert from "node:assert/strict";

import { RhoneConnection, RhoneWsError } from "../src/index.js";
import { FakeSocket, until } from "../src/testing.js";

async function open() {
  const connection = await RhoneConnection.open({
    baseURL: "http://127.0.0.1:8080",
    apiKey: "rk-test",
    WebSocket: FakeSocket,
  });
  return { connection, socket: /** @type {FakeSocket} */ (connection.socket) };
}

const frame = (seq, type, fields = {}) => ({ type, run_id: "r1", seq, ...fields });

test("runs: create, requires_action, submit, completed; frames in order with their seq", async () => {
  const { connection, socket } = await open();
  const run = connection.runs.create("openai.chat", { model: "local", messages: [] }, {
    runId: "r1",
    maxSteps: 3,
  });
  assert.deepEqual(socket.last("run.create"), {
    type: "run.create",
    run_id: "r1",
    surface: "openai.chat",
    body: { model: "local", messages: [] },
    max_steps: 3,
  });
  socket.receive(frame(1, "run.created", { session_id: "sess_1" }));
  socket.receive(frame(2, "run.step", { step: 1 }));
  socket.receive(frame(3, "run.event", { step: 1, event: { object: "chat.completion.chunk" } }));
  const call = { id: "call_1", name: "get_weather", arguments: "{}" };
  socket.receive(frame(4, "run.requires_action", { step: 1, tool_calls: [call] }));
  const seen = [];
  for await (const f of run) {
    seen.push(f.type);
    if (f.type === "run.requires_action") break;
  }
  // A break ends this iterator; the connection stops routing to it.
  assert.deepEqual(seen, ["run.created", "run.step", "run.event", "run.requires_action"]);
  assert.equal(run.sessionId, "sess_1");
  assert.equal(run.lastSeq, 4);
  assert.deepEqual(run.pendingToolCalls, [call]);
  const again = connection.runs.attach("r1", { after: run.lastSeq });
  assert.deepEqual(socket.last("run.attach"), { type: "run.attach", run_id: "r1", after: 4 });
  again.submitToolOutputs([{ tool_call_id: "call_1", output: "sunny" }]);
  assert.deepEqual(socket.last("run.submit_tool_outputs").tool_outputs, [
    { tool_call_id: "call_1", output: "sunny" },
  ]);
  socket.receive(frame(4, "run.requires_action", { step: 1, tool_calls: [call] })); // replayed
  socket.receive(frame(5, "run.step", { step: 2 }));
  socket.receive(frame(6, "run.completed", { steps: 2, session_id: "sess_1" }));
  const rest = [];
  for await (const f of again) rest.push(f.seq);
  assert.deepEqual(rest, [5, 6]);
  assert.equal(again.status, "completed");
  await connection.close();
});

test("runs: a refused frame throws and the run goes on; run.failed ends with an error", async () => {
  const { connection, socket } = await open();
  const run = connection.runs.create("anthropic.messages", { model: "m" }, { runId: "r1" });
  socket.receive({ type: "error", code: "invalid_tool_outputs", message: "missing", run_id: "r1" });
  await assert.rejects(run.next(), (error) => {
    assert.ok(error instanceof RhoneWsError);
    assert.equal(error.code, "invalid_tool_outputs");
    return true;
  });
  socket.receive(frame(1, "run.failed", { code: "run_expired", status: 408, error: {} }));
  const { value } = await run.next();
  assert.equal(value.type, "run.failed");
  assert.equal(run.status, "failed");
  assert.equal(/** @type {any} */ (run.error).status, 408);
  assert.deepEqual(await run.next(), { value: undefined, done: true });
  await connection.close();
});

test("runs: a lost socket throws from the run's stream, even a close of our own", async () => {
  const { connection, socket } = await open();
  const run = connection.runs.create("gemini.generate_content", { model: "local" });
  assert.match(run.runId, /^run_[0-9a-f]{24}$/);
  socket.close(1006);
  await until(() => connection.closed !== null, "the close");
  await assert.rejects(run.next(), /closed/);
  assert.throws(() => connection.runs.create("rhone.canonical", {}), TypeError);
});
