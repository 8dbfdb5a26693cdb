// Who may read the index: open by default, per-project roles when anonymous reads are off.
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { expectOk, pipDownload } from "../support/clients.js";
import { findPython } from "../support/pythons.js";
import { wheel, type Wheel } from "../support/artifacts.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { anchors, get, JSON_V1, publish, tokenAuth } from "./requests.js";

describe("anonymous_read = false", () => {
  let server: TestServer;
  let secret: Wheel;
  const tokens: Record<string, string> = {};

  beforeAll(async () => {
    server = await startTestServer({ access: { anonymous_read: false } });
    for (const name of ["alice", "bob", "carol", "dave"]) tokens[name] = await server.userToken(name);
    tokens.root = await server.userToken("root", { admin: true });
    secret = await wheel({ name: "secret-pkg", version: "1.0" });
    await publish(server, tokens.alice, secret);
    await publish(server, tokens.bob, await wheel({ name: "bobs-pkg", version: "1.0" }));
  });

  afterAll(() => server?.stop());

  const urls = () => ({
    root: server.index,
    page: `${server.index}secret-pkg/`,
    file: `${server.url}/files/secret-pkg/${secret.filename}`,
    metadata: `${server.url}/files/secret-pkg/${secret.filename}.metadata`,
  });

  /** Project names on the root page, HTML and JSON (they must agree). */
  async function listedFor(token: string): Promise<string[]> {
    const html = await get(server.index, { accept: "text/html", auth: tokenAuth(token) });
    const json = await get(server.index, { accept: JSON_V1, auth: tokenAuth(token) });
    expect([html.status, json.status]).toEqual([200, 200]);
    const names = anchors(html.body).map((anchor) => anchor.text);
    expect(JSON.parse(json.body).projects.map((project: { name: string }) => project.name)).toEqual(names);
    return names;
  }

  test.each(["root", "page", "file", "metadata"] as const)("anonymous %s → 401 with WWW-Authenticate: Basic", async (which) => {
    const answer = await get(urls()[which], { accept: "text/html" });
    expect(answer.status).toBe(401);
    expect(answer.headers.get("www-authenticate")).toMatch(/^Basic\b/);
    expect(answer.statusText).toBe("This index requires authentication: use __token__ and an API token");
    expect(answer.body).not.toContain("secret-pkg-");
  });

  test("anonymous gets the same 401 for a project or file that does not exist (no probing for names)", async () => {
    for (const url of [`${server.index}no-such-pkg/`, `${server.url}/files/secret-pkg/secret_pkg-9.9.tar.gz`, `${server.url}/files/no-such-pkg/x-1.0.tar.gz`]) {
      const answer = await get(url, { accept: "text/html" });
      expect(answer.status).toBe(401);
    }
  });

  test("a user with no role gets the 404 of an unknown name on the project's page and files, and the root page leaves it out", async () => {
    const expected = {
      page: "No project named secret-pkg",
      file: `No file ${secret.filename} in project secret-pkg`,
      metadata: `No file ${secret.filename}.metadata in project secret-pkg`,
    };
    for (const which of ["page", "file", "metadata"] as const) {
      const answer = await get(urls()[which], { accept: "text/html", auth: tokenAuth(tokens.carol) });
      expect([answer.status, answer.statusText, answer.body]).toEqual([404, expected[which], `${expected[which]}\n`]);
    }
    expect(await listedFor(tokens.carol)).toEqual([]);
    expect(await listedFor(tokens.bob)).toEqual(["bobs-pkg"]);
  });

  test("granting the view role opens the page, the files and the root listing at once", async () => {
    expect(await listedFor(tokens.dave)).toEqual([]); // a cached root page for dave exists now
    server.services.accounts.grant("dave", "secret-pkg", "view", "test");
    for (const which of ["page", "file", "metadata"] as const) {
      expect((await get(urls()[which], { accept: "text/html", auth: tokenAuth(tokens.dave) })).status).toBe(200);
    }
    expect(await listedFor(tokens.dave)).toEqual(["secret-pkg"]);
  });

  test("the uploader (project admin) reads its project; a site admin reads everything", async () => {
    expect((await get(urls().page, { accept: "text/html", auth: tokenAuth(tokens.alice) })).status).toBe(200);
    expect(await listedFor(tokens.alice)).toEqual(["secret-pkg"]);
    for (const which of ["page", "file", "metadata"] as const) {
      expect((await get(urls()[which], { accept: "text/html", auth: tokenAuth(tokens.root) })).status).toBe(200);
    }
    expect(await listedFor(tokens.root)).toEqual(["bobs-pkg", "secret-pkg"]);
  });

  test("wrong credentials are refused, never treated as anonymous", async () => {
    const answer = await get(urls().root, { accept: "text/html", auth: tokenAuth("pydepot-wrong") });
    expect(answer.status).toBe(401);
    expect(answer.statusText).toBe("Invalid or revoked API token");
  });

  test("a password with a non-ASCII letter works as pip and twine send it (ISO-8859-1) and as curl does (UTF-8)", async () => {
    const password = "pässwort-1";
    await server.services.accounts.createUser("erin", password, false, "test");
    server.services.accounts.grant("erin", "secret-pkg", "view", "test");
    const basic = (encoding: BufferEncoding) => `Basic ${Buffer.concat([Buffer.from("erin:"), Buffer.from(password, encoding)]).toString("base64")}`;
    for (const encoding of ["latin1", "utf8"] as const) {
      const answer = await get(urls().page, { accept: "text/html", auth: basic(encoding) });
      expect([encoding, answer.status, answer.statusText]).toEqual([encoding, 200, "OK"]);
    }
    // Python's requests encodes the credentials of the URL (unquoted first) as ISO-8859-1.
    const dest = await mkdtemp(join(tmpdir(), "pydepot-test-latin1-"));
    try {
      const index = `${server.url.replace("//", `//erin:${encodeURIComponent(password)}@`)}/simple/`;
      expectOk(await pipDownload(findPython("3.12"), index, dest, ["--no-deps", "secret-pkg"]));
      expect(await readdir(dest)).toEqual([secret.filename]);
    } finally {
      await rm(dest, { recursive: true, force: true });
    }
  });

  test("a user's API token sent as Bearer → 401 saying how to send it, not a word about agents", async () => {
    const answer = await get(urls().root, { accept: "text/html", auth: `Bearer ${tokens.alice}` });
    expect([answer.status, answer.statusText]).toEqual([401, "Bearer is for build agents' tokens: send an API token as Basic auth with the username __token__"]);
    expect(answer.headers.get("www-authenticate")).toMatch(/^Basic\b/);
  });
});

describe("default settings (anonymous_read = true)", () => {
  let server: TestServer;
  let open: Wheel;

  beforeAll(async () => {
    server = await startTestServer();
    open = await wheel({ name: "open-pkg", version: "1.0" });
    await publish(server, await server.userToken("alice"), open);
  });

  afterAll(() => server?.stop());

  test("anonymous reads the root page, the project page, the file and its .metadata", async () => {
    const root = await get(server.index, { accept: "text/html" });
    expect(root.status).toBe(200);
    expect(anchors(root.body).map((anchor) => anchor.text)).toEqual(["open-pkg"]);
    expect((await get(`${server.index}open-pkg/`, { accept: "text/html" })).status).toBe(200);
    expect((await get(`${server.url}/files/open-pkg/${open.filename}`)).bytes.equals(open.bytes)).toBe(true);
    expect((await get(`${server.url}/files/open-pkg/${open.filename}.metadata`)).bytes.equals(open.metadata)).toBe(true);
  });

  test("a signed-in user with no role reads everything too", async () => {
    const token = await server.userToken("stranger");
    expect((await get(`${server.index}open-pkg/`, { accept: "text/html", auth: tokenAuth(token) })).status).toBe(200);
  });
});
