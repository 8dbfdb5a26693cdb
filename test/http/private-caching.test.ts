// Shared caches (nginx's proxy_cache, a corporate proxy) must never hand one reader's answer to
// another: when reads need credentials, every file and page says `private`; with anonymous reads,
// answers are everyone's and keep their public caching, whoever asked.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { wheel, type Wheel } from "../support/artifacts.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { signIn, uiGet } from "../support/ui-session.js";
import { get, JSON_V1, publish, tokenAuth } from "./requests.js";

const YEAR = "max-age=31536000, immutable";

describe.each([
  ["anonymous_read = false", false, { file: `private, ${YEAR}`, page: "private, no-cache" }],
  ["anonymous_read = true", true, { file: `public, ${YEAR}`, page: "no-cache" }],
])("%s", (_label, anonymousRead, expected) => {
  let server: TestServer;
  let token: string;
  let artifact: Wheel;

  beforeAll(async () => {
    // The test plays nginx too: pydepot believes X-Pydepot-Accel-Redirect from the trusted proxy only.
    server = await startTestServer({ access: { anonymous_read: anonymousRead }, server: { trusted_proxy: "127.0.0.1" } });
    token = await server.userToken("alice");
    await server.services.accounts.createUser("carol", "carol-password", false, "test");
    artifact = await wheel({ name: "cached-pkg", version: "1.0" });
    await publish(server, token, artifact);
    server.services.accounts.grant("carol", "cached-pkg", "view", "test");
  });

  afterAll(() => server?.stop());

  test("files, their .metadata and 304s to a reader with a token", async () => {
    const file = `${server.url}/files/cached-pkg/${artifact.filename}`;
    for (const url of [file, `${file}.metadata`]) {
      const answer = await get(url, { auth: tokenAuth(token) });
      expect([answer.status, answer.headers.get("cache-control")]).toEqual([200, expected.file]);
      const revalidated = await get(url, { auth: tokenAuth(token), headers: { "If-None-Match": answer.headers.get("etag")!, "Cache-Control": "max-age=0" } });
      expect([revalidated.status, revalidated.headers.get("cache-control")]).toEqual([304, expected.file]);
    }
  });

  test("behind nginx (X-Accel-Redirect), the redirecting answer nginx keeps the header of", async () => {
    const answer = await get(`${server.url}/files/cached-pkg/${artifact.filename}`, { auth: tokenAuth(token), headers: { "X-Pydepot-Accel-Redirect": "/_pydepot/files/" } });
    expect([answer.status, answer.headers.get("x-accel-redirect"), answer.headers.get("cache-control")]).toEqual([200, `/_pydepot/files/cached-pkg/${artifact.filename}`, expected.file]);
  });

  test("index pages, HTML and JSON, root and project, and their 304s", async () => {
    for (const url of [server.index, `${server.index}cached-pkg/`, `${server.url}/staging/simple/cached-pkg/`]) {
      for (const accept of ["text/html", JSON_V1]) {
        const answer = await get(url, { accept, auth: tokenAuth(token) });
        expect([answer.status, answer.headers.get("cache-control")]).toEqual([200, expected.page]);
        const revalidated = await get(url, { accept, auth: tokenAuth(token), headers: { "If-None-Match": answer.headers.get("etag")!, "Cache-Control": "max-age=0" } });
        expect([revalidated.status, revalidated.headers.get("cache-control")]).toEqual([304, expected.page]);
      }
    }
  });

  test("web UI pages to a signed-in session are never stored", async () => {
    const session = await signIn(server.url, "carol", "carol-password");
    const page = await uiGet(server.url, "/ui/projects/cached-pkg", session);
    expect([page.status, page.headers.get("cache-control")]).toEqual([200, "no-store"]);
  });
});
