// The testing aids the wrappers' tests lean on.
import { test } from "node:test";
import assert from "node:assert/strict";

import { afterCancel } from "../src/testing.js";

const failure = (status, code) =>
  Object.assign(new Error(`${status}`), {
    status,
    headers: new Headers({ "x-rhone-error-code": code }),
  });

test("afterCancel retries 409 session_busy until the call goes through", async () => {
  let attempts = 0;
  const result = await afterCancel(async () => {
    attempts += 1;
    if (attempts < 3) throw failure(409, "session_busy");
    return "done";
  });
  assert.equal(result, "done");
  assert.equal(attempts, 3);
});

test("afterCancel throws any other error at once, and a 409 past its deadline", async () => {
  let attempts = 0;
  await assert.rejects(
    afterCancel(async () => {
      attempts += 1;
      throw failure(404, "model_not_found");
    }),
    /404/,
  );
  assert.equal(attempts, 1);
  await assert.rejects(
    afterCancel(async () => {
      throw failure(409, "session_busy");
    }, 50),
    /409/,
  );
});
