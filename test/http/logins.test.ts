// Password guessing (issue 7): failed sign-ins lock out the user name (known or not, answered
// alike) and the client address with 429 + Retry-After, before any hashing; tokens, anonymous
// readers and other users are not held up.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { basicAuth, startTestServer, type TestServer } from "../support/server.js";
import { snapshot } from "../support/snapshot.js";
import { get, tokenAuth } from "./requests.js";

/** The lockout's wait counts down from 60 s: a busy machine may answer 59 s by the time it is asked. */
const LOCKED = /^Too many failed sign-ins: try again in (?:60|5\d) s, or use an API token$/;
const locked = { status: 429, statusText: expect.stringMatching(LOCKED), retryAfter: expect.stringMatching(/^(?:60|5\d)$/), body: expect.stringMatching(LOCKED) };

async function signIn(server: TestServer, name: string, password: string) {
  const before = snapshot(server.services.db, server.storage);
  const answer = await get(server.index, { auth: basicAuth(name, password), accept: "text/html" });
  // A refused sign-in changes nothing stored.
  if (answer.status !== 200) expect(snapshot(server.services.db, server.storage)).toEqual(before);
  return { status: answer.status, statusText: answer.statusText, retryAfter: answer.headers.get("retry-after"), body: answer.body.trim() };
}

describe("per user name (3 failures, lockout 60 s)", () => {
  let server: TestServer;
  let bobToken: string;

  beforeAll(async () => {
    server = await startTestServer({ logins: { max_failures_per_user: 3, max_failures_per_address: 100, lockout_seconds: 60 } });
    await server.services.accounts.createUser("alice", "correct horse", false, "test");
    bobToken = await server.userToken("bob");
  });
  afterAll(() => server?.stop());

  const wrong = (name: string) => ({ status: 401, statusText: `Invalid username or password for "${name}"`, retryAfter: null, body: `Invalid username or password for "${name}"` });

  test("three wrong passwords lock the name out, even for the right password", async () => {
    for (let attempt = 0; attempt < 3; attempt++) expect(await signIn(server, "alice", "guess")).toEqual(wrong("alice"));
    expect(await signIn(server, "alice", "correct horse")).toEqual(locked);
  });

  test("an unknown name is answered exactly like a known one", async () => {
    for (let attempt = 0; attempt < 3; attempt++) expect(await signIn(server, "ghost", "guess")).toEqual(wrong("ghost"));
    expect(await signIn(server, "ghost", "correct horse")).toEqual(locked);
  });

  test("while a name is locked out, anonymous readers and token users are served", async () => {
    expect(await signIn(server, "alice", "correct horse")).toEqual(locked);
    expect((await get(server.index, { accept: "text/html" })).status).toBe(200);
    expect((await get(server.index, { auth: tokenAuth(bobToken), accept: "text/html" })).status).toBe(200);
  });
});

describe("per client address (4 failures over any names)", () => {
  let server: TestServer;
  let bobToken: string;

  beforeAll(async () => {
    server = await startTestServer({ logins: { max_failures_per_user: 100, max_failures_per_address: 4, lockout_seconds: 60 } });
    await server.services.accounts.createUser("carol", "correct horse", false, "test");
    bobToken = await server.userToken("bob");
  });
  afterAll(() => server?.stop());

  test("guesses spread over many names lock the address out; its tokens still work", async () => {
    for (const name of ["n1", "n2", "n3", "n4"]) expect((await signIn(server, name, "guess")).status).toBe(401);
    expect(await signIn(server, "carol", "correct horse")).toEqual(locked);
    expect((await get(server.index, { auth: tokenAuth(bobToken), accept: "text/html" })).status).toBe(200);
  });
});
