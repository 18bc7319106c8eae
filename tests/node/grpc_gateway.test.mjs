// A Node client of Rhone's public gRPC API built from the .proto files alone (no generated
// code, no Rhone package): @grpc/grpc-js with @grpc/proto-loader, as docs/grpc.md shows.
// Run by tests/integration/test_grpc_contract.py against a running Rhone.
import { test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import grpc from "@grpc/grpc-js";
import protoLoader from "@grpc/proto-loader";

const PROTO_DIR = fileURLToPath(new URL("../../proto/", import.meta.url));
const definition = protoLoader.loadSync(
  ["rhone/api/v1/gateway.proto", "rhone/api/v1/sessions.proto"],
  { includeDirs: [PROTO_DIR], keepCase: true, longs: String, enums: String, defaults: true, oneofs: true },
);
const api = grpc.loadPackageDefinition(definition).rhone.api.v1;
const target = process.env.RHONE_GRPC_TARGET;
const apiKey = process.env.RHONE_API_KEY;
const gateway = new api.Gateway(target, grpc.credentials.createInsecure());
const sessions = new api.Sessions(target, grpc.credentials.createInsecure());

function auth(key = apiKey) {
  const metadata = new grpc.Metadata();
  if (key) metadata.set("authorization", `Bearer ${key}`);
  return metadata;
}

function user(text) {
  return { role: "ROLE_USER", parts: [{ text: { text } }] };
}

function generate(request, key) {
  return new Promise((resolve, reject) => {
    const messages = [];
    const call = gateway.Generate(request, auth(key));
    call.on("data", (message) => messages.push(message));
    call.on("error", (error) => reject(Object.assign(error, { messages })));
    call.on("end", () => resolve(messages));
  });
}

function unary(stub, method, request, key) {
  return new Promise((resolve, reject) => {
    stub[method](request, auth(key), (error, reply) => (error ? reject(error) : resolve(reply)));
  });
}

const answer = (messages) =>
  messages
    .filter((m) => m.kind === "event" && m.event.event === "part_delta")
    .map((m) => m.event.part_delta.text)
    .join("");

test("Generate streams session, events, turn; a second call continues; turns read back", async () => {
  const first = await generate({ model: "local", messages: [user("hello from node")] });
  assert.equal(first[0].kind, "session");
  const sessionId = first[0].session.session_id;
  assert.match(sessionId, /^sess_/);
  const events = first.slice(1, -1).map((m) => m.event.event);
  assert.equal(events[0], "started");
  assert.deepEqual(events.slice(-2), ["usage", "finished"]);
  assert.equal(first.at(-1).kind, "turn");
  assert.match(answer(first), /This is user turn 1/);

  const second = await generate({
    model: "local",
    messages: [user("again from node")],
    session_id: sessionId,
  });
  assert.equal(second[0].session.session_id, sessionId);
  assert.match(answer(second), /This is user turn 2; your first message was: "hello from node"/);

  const listed = await unary(sessions, "ListTurns", { session_id: sessionId });
  assert.deepEqual(
    listed.turns.map((t) => t.id),
    [first.at(-1).turn.turn_id, second.at(-1).turn.turn_id],
  );
  assert.equal(listed.turns[1].input[0].parts[0].text.text, "again from node");
  assert.equal(listed.turns[1].status, "TURN_STATUS_COMPLETED");
  assert.ok(Number(listed.turns[1].create_time.seconds) > 1_700_000_000);
});

test("no key: UNAUTHENTICATED with a google.rpc.Status trailer", async () => {
  await assert.rejects(unary(gateway, "ListModels", {}, ""), (error) => {
    assert.equal(error.code, grpc.status.UNAUTHENTICATED);
    assert.equal(error.metadata.get("grpc-status-details-bin").length, 1);
    return true;
  });
});

test("an unknown session: NOT_FOUND before any message", async () => {
  await assert.rejects(
    generate({ model: "local", messages: [user("x")], session_id: "sess_0000" }),
    (error) => {
      assert.equal(error.code, grpc.status.NOT_FOUND);
      assert.deepEqual(error.messages, []);
      return true;
    },
  );
});
