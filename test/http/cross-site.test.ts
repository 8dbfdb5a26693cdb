// Writes from another site (CSRF): a browser adds the session cookie or a cached Basic login to a
// form another site makes it post. Every write whose Origin is not this server's own, or whose
// Sec-Fetch-Site says cross-site, is refused; twine, pip and agents send neither header.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { sdist, wheel } from "../support/artifacts.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { signIn, uiPost } from "../support/ui-session.js";
import { expectRefused, publish, tokenAuth, upload } from "./requests.js";

const FOREIGN = "Form posted from another site (Origin does not match this server): open the page here and try again";

let server: TestServer;
let token: string;

beforeAll(async () => {
  server = await startTestServer();
  token = await server.userToken("alice");
  await server.services.accounts.createUser("root", "root-password", true, "test");
  await publish(server, await server.userToken("bob"), await sdist({ name: "target", version: "1.0" }));
});

afterAll(() => server?.stop());

const yanked = () => server.services.stores.files.byFilename("target-1.0.tar.gz")!.yanked;

describe("direct", () => {
  test("a twine-like upload (no Origin, no Sec-Fetch-Site) is stored", async () => {
    const answer = await upload(server, await wheel({ name: "plain", version: "1.0" }), { auth: tokenAuth(token) });
    expect([answer.status, answer.statusText]).toEqual([200, "OK"]);
  });

  test("an upload from a page of this server (its own Origin) is stored", async () => {
    const answer = await upload(server, await wheel({ name: "own-origin", version: "1.0" }), { auth: tokenAuth(token), headers: { Origin: server.url } });
    expect([answer.status, answer.statusText]).toEqual([200, "OK"]);
  });

  test.each([
    ["another site's Origin", (): Record<string, string> => ({ Origin: "http://evil.example" })],
    ["an opaque Origin (sandboxed frame)", (): Record<string, string> => ({ Origin: "null" })],
    ["another scheme for this host", (): Record<string, string> => ({ Origin: server.url.replace("http:", "https:") })],
    ["Sec-Fetch-Site: cross-site and no Origin", (): Record<string, string> => ({ "Sec-Fetch-Site": "cross-site" })],
  ])("an upload with a cached login and %s is refused and stores nothing", async (_what, headers) => {
    const artifact = await wheel({ name: "forged", version: "1.0" });
    await expectRefused(server, () => upload(server, artifact, { auth: tokenAuth(token), headers: headers() }), 403, FOREIGN);
  });

  test("a JSON API write with a foreign Origin is refused; a read is not", async () => {
    const admin = tokenAuth(await server.userToken("root-api", { admin: true }));
    await expectRefused(
      server,
      async () => {
        const answer = await fetch(`${server.url}/api/projects/target/releases/1.0/yank`, {
          method: "POST",
          headers: { Authorization: admin, Origin: "http://evil.example", "Content-Type": "application/json" },
          body: JSON.stringify({ reason: "forged" }),
        });
        return { status: answer.status, statusText: answer.statusText, body: await answer.text() };
      },
      403,
      FOREIGN,
    );
    expect(yanked()).toBe(false);
    const read = await fetch(`${server.url}/simple/target/`, { headers: { Origin: "http://evil.example", "Sec-Fetch-Site": "cross-site" } });
    expect(read.status).toBe(200);
  });

  test("a UI form post with a session and a foreign Origin is refused and changes nothing", async () => {
    const admin = await signIn(server.url, "root", "root-password");
    const before = yanked();
    const answer = await uiPost(server.url, "/ui/projects/target/releases/1.0/yank", { csrf: admin.csrf, reason: "forged" }, { session: admin, origin: "http://evil.example" });
    expect([answer.status, answer.statusText]).toEqual([403, FOREIGN]);
    expect(yanked()).toBe(before);
  });
});

describe("behind a proxy", () => {
  const https = (url: string) => url.replace("http:", "https:");

  test("the trusted proxy's X-Forwarded-Proto and X-Forwarded-Host make the own origin", async () => {
    const proxied = await startTestServer({ server: { trusted_proxy: "127.0.0.1" } });
    try {
      const uploader = tokenAuth(await proxied.userToken("alice"));
      const viaTls = await upload(proxied, await wheel({ name: "via-tls", version: "1.0" }), { auth: uploader, headers: { Origin: https(proxied.url), "X-Forwarded-Proto": "https" } });
      expect([viaTls.status, viaTls.statusText]).toEqual([200, "OK"]);
      const named = await upload(proxied, await wheel({ name: "named", version: "1.0" }), {
        auth: uploader,
        headers: { Origin: "https://pypi.example", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "pypi.example" },
      });
      expect([named.status, named.statusText]).toEqual([200, "OK"]);
      const artifact = await wheel({ name: "plain-http", version: "1.0" });
      await expectRefused(proxied, () => upload(proxied, artifact, { auth: uploader, headers: { Origin: proxied.url, "X-Forwarded-Proto": "https" } }), 403, FOREIGN);
    } finally {
      await proxied.stop();
    }
  });

  test("server.public_url names this site too (a proxy that ends TLS, no trusted_proxy set)", async () => {
    const named = await startTestServer({ server: { public_url: "https://pypi.example" } });
    try {
      const uploader = tokenAuth(await named.userToken("alice"));
      const fromPublic = await upload(named, await wheel({ name: "from-public", version: "1.0" }), { auth: uploader, headers: { Origin: "https://pypi.example" } });
      expect([fromPublic.status, fromPublic.statusText]).toEqual([200, "OK"]);
      const artifact = await wheel({ name: "from-sibling", version: "1.0" });
      await expectRefused(named, () => upload(named, artifact, { auth: uploader, headers: { Origin: "https://docs.pypi.example" } }), 403, FOREIGN);
    } finally {
      await named.stop();
    }
  });

  test("a client that is not the trusted proxy cannot claim another scheme or host", async () => {
    const elsewhere = await startTestServer({ server: { trusted_proxy: "192.0.2.1" } });
    try {
      const uploader = tokenAuth(await elsewhere.userToken("alice"));
      const artifact = await wheel({ name: "claimed", version: "1.0" });
      await expectRefused(elsewhere, () => upload(elsewhere, artifact, { auth: uploader, headers: { Origin: https(elsewhere.url), "X-Forwarded-Proto": "https" } }), 403, FOREIGN);
      await expectRefused(
        elsewhere,
        () => upload(elsewhere, artifact, { auth: uploader, headers: { Origin: "http://evil.example", "X-Forwarded-Host": "evil.example" } }),
        403,
        FOREIGN,
      );
    } finally {
      await elsewhere.stop();
    }
  });
});
