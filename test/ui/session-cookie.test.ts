// The session cookie carries Secure when the browser reached pydepot over HTTPS: directly, or
// through the trusted proxy, whose X-Forwarded-Proto says so. The same header from anyone else
// is ignored, so a client cannot make the cookie's attributes depend on what it claims.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startTestServer, type TestServer } from "../support/server.js";
import { uiPost } from "../support/ui-session.js";

async function signInAttributes(server: TestServer, origin: string, headers: Record<string, string>): Promise<string[]> {
  const answer = await uiPost(server.url, "/ui/sign-in", { username: "carol", password: "carol-password", next: "/ui/" }, { origin, headers });
  expect([answer.status, answer.statusText]).toEqual([303, "See Other"]);
  const cookie = answer.headers.get("set-cookie")!;
  expect(cookie).toMatch(/^pydepot_session=/);
  return cookie.split(";").slice(1).map((attribute) => attribute.trim().split("=")[0].toLowerCase());
}

async function serverWith(trustedProxy: string): Promise<TestServer> {
  const server = await startTestServer({ server: { trusted_proxy: trustedProxy } });
  await server.services.accounts.createUser("carol", "carol-password", false, "test");
  return server;
}

describe("behind the trusted proxy (127.0.0.1, where the test's requests come from)", () => {
  let server: TestServer;
  beforeAll(async () => (server = await serverWith("127.0.0.1")));
  afterAll(() => server?.stop());

  test("X-Forwarded-Proto: https → Secure, HttpOnly, SameSite=Strict", async () => {
    const attributes = await signInAttributes(server, server.url.replace("http:", "https:"), { "X-Forwarded-Proto": "https" });
    expect(attributes).toEqual(expect.arrayContaining(["secure", "httponly", "samesite"]));
  });

  test("X-Forwarded-Proto: http → no Secure (the browser would never send it back)", async () => {
    const attributes = await signInAttributes(server, server.url, { "X-Forwarded-Proto": "http" });
    expect(attributes).not.toContain("secure");
    expect(attributes).toContain("httponly");
  });
});

describe("a client that is not the trusted proxy", () => {
  let server: TestServer;
  beforeAll(async () => (server = await serverWith("192.0.2.1")));
  afterAll(() => server?.stop());

  test("its X-Forwarded-Proto: https is ignored: plain HTTP, no Secure", async () => {
    const attributes = await signInAttributes(server, server.url, { "X-Forwarded-Proto": "https" });
    expect(attributes).not.toContain("secure");
    expect(attributes).toContain("httponly");
  });
});
