// The legacy upload API as twine 4.0.2 speaks it: what succeeds, and who may upload.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { egg, sdist, wheel, type Artifact } from "../support/artifacts.js";
import { basicAuth, startTestServer, type TestServer } from "../support/server.js";
import { snapshot } from "../support/snapshot.js";
import { uiGet } from "../support/ui-session.js";
import { anchors, api, get, publish, sha256, tokenAuth, upload } from "./requests.js";

let server: TestServer;
let aliceToken: string;
let bobToken: string;

beforeAll(async () => {
  server = await startTestServer();
  aliceToken = await server.userToken("alice");
  bobToken = await server.userToken("bob");
});

afterAll(() => server?.stop());

const state = () => snapshot(server.services.db, server.storage);

/** The project page lists the file and its link serves exactly the uploaded bytes. */
async function expectServed(project: string, artifact: Artifact): Promise<void> {
  const page = await get(`${server.index}${project}/`, { accept: "text/html" });
  const anchor = anchors(page.body).find((candidate) => candidate.text === artifact.filename);
  expect(anchor?.href).toContain(`#sha256=${sha256(artifact.bytes)}`);
  const download = await get(new URL(anchor!.href, `${server.index}${project}/`).href);
  expect(download.bytes.equals(artifact.bytes)).toBe(true);
}

describe("accepted uploads", () => {
  test.each<[string, () => Promise<Artifact>]>([
    ["wheel", () => wheel({ name: "Happy_Path", version: "1.0", requiresPython: ">=3.8" })],
    ["platform wheel with a build tag", () => wheel({ name: "Happy_Path", version: "1.0", build: "1", tags: "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64" })],
    ["pure egg", () => egg({ name: "Happy_Path", version: "1.0", python: "2.7" })],
    ["platform egg", () => egg({ name: "Happy_Path", version: "1.0", python: "2.7", platform: "linux-x86_64" })],
    ["sdist .tar.gz", () => sdist({ name: "Happy_Path", version: "1.0" })],
    ["sdist .zip", () => sdist({ name: "Happy_Path", version: "1.1", format: "zip" })],
    ["sdist .tar.bz2", () => sdist({ name: "Happy_Path", version: "1.2", format: "tar.bz2" })],
  ])("%s → 200 OK, listed, downloadable", async (_kind, build) => {
    const artifact = await build();
    const answer = await upload(server, artifact, { auth: tokenAuth(aliceToken) });
    expect([answer.status, answer.statusText]).toEqual([200, "OK"]);
    await expectServed("happy-path", artifact);
  });

  test("a legacy sdist name with an unescaped dash (setuptools: dep-a-1.0.tar.gz)", async () => {
    const legacy = { ...(await sdist({ name: "dep-a", version: "1.0" })), filename: "dep-a-1.0.tar.gz" };
    const answer = await upload(server, legacy, { auth: tokenAuth(aliceToken) });
    expect(answer.status).toBe(200);
    await expectServed("dep-a", legacy);
  });

  test("the upload URL works at /legacy/, /legacy and / without a redirect (twine aborts on one)", async () => {
    for (const [index, path] of ["/legacy/", "/legacy", "/"].entries()) {
      const artifact = await wheel({ name: "anywhere", version: `1.${index}` });
      const answer = await upload(server, artifact, { auth: tokenAuth(aliceToken), url: `${server.url}${path}` });
      expect(answer.status).toBe(200);
    }
  });

  test("user name and password work as well as __token__ (setup.py upload, .pypirc)", async () => {
    await server.services.accounts.createUser("carol", "correct horse battery", false, "test");
    const answer = await upload(server, await wheel({ name: "carols", version: "1.0" }), { auth: basicAuth("carol", "correct horse battery") });
    expect(answer.status).toBe(200);
  });

  test.each(["pydepot-agent-horse", "pydepot-build-horse", "pydepot-horse"])("a password that starts like a credential (%s) is still that user's password", async (password) => {
    const name = `dave-${password.length}-${password.split("-")[1]}`;
    await server.services.accounts.createUser(name, password, false, "test");
    const answer = await upload(server, await wheel({ name: `${name}-pkg`, version: "1.0" }), { auth: basicAuth(name, password) });
    expect([answer.status, answer.statusText]).toEqual([200, "OK"]);
  });

  test("empty and UNKNOWN form fields mean absent (twine 4 and setup.py send them)", async () => {
    const artifact = await sdist({ name: "placeholders", version: "1.0" });
    const answer = await upload(server, artifact, {
      auth: tokenAuth(aliceToken),
      fields: { sha256_digest: "", blake2_256_digest: "", home_page: "UNKNOWN", license: "UNKNOWN", keywords: "" },
    });
    expect(answer.status).toBe(200);
  });
});

test("a huge Summary is kept to PyPI's 512 characters: it shows in every search of the web UI", async () => {
  const summary = `Huge${"€".repeat(200_000)}`;
  await publish(server, aliceToken, await sdist({ name: "huge-summary", version: "1.0", summary }));
  const search = await uiGet(server.url, "/ui/?q=Huge");
  expect(search.body).toContain(`${summary.slice(0, 511)}…<`);
  expect(search.body).not.toContain(summary.slice(0, 512));
  expect(search.body.length).toBeLessThan(20_000);
});

describe("uploading a filename again", () => {
  test("identical bytes → 200 and nothing changes (twine --skip-existing, retries)", async () => {
    const artifact = await wheel({ name: "again", version: "1.0" });
    await publish(server, aliceToken, artifact);
    const before = state();
    const answer = await upload(server, artifact, { auth: tokenAuth(aliceToken) });
    expect(answer.status).toBe(200);
    expect(state()).toEqual(before);
  });

  test("different bytes → 400 'File already exists …' in the reason phrase and the body, nothing changes", async () => {
    const artifact = await wheel({ name: "again", version: "2.0" });
    await publish(server, aliceToken, artifact);
    const before = state();
    const impostor = await wheel({ name: "again", version: "2.0", extraFiles: { "again/extra.py": "x = 1\n" } });
    expect(impostor.filename).toBe(artifact.filename);
    const answer = await upload(server, impostor, { auth: tokenAuth(aliceToken) });
    expect(answer.status).toBe(400);
    expect(answer.statusText).toMatch(/^File already exists/);
    expect(answer.body).toMatch(/^File already exists/);
    expect(state()).toEqual(before);
    expect((await get(`${server.url}/files/again/${artifact.filename}`)).bytes.equals(artifact.bytes)).toBe(true);
  });

  test("a deleted file's name can never be used again, not even with the same bytes", async () => {
    const artifact = await sdist({ name: "again", version: "3.0" });
    await publish(server, aliceToken, artifact);
    expect((await api(server, "DELETE", `/api/projects/again/files/${artifact.filename}`, { auth: tokenAuth(aliceToken) })).status).toBe(200);
    const before = state();
    const answer = await upload(server, artifact, { auth: tokenAuth(aliceToken) });
    expect(answer.status).toBe(400);
    expect(answer.statusText).toMatch(/^File already exists: .* has since been deleted/);
    expect(state()).toEqual(before);
  });
});

describe("one distribution under another name", () => {
  // Each would be listed beside the stored file and could be installed in its place, with other bytes.
  const spelled = (artifact: Artifact, filename: string, extra: Record<string, string> = { "spelled/extra.py": "x = 1\n" }) => async () => ({
    ...(artifact.kind === "wheel" ? await wheel({ name: artifact.name, version: artifact.version, extraFiles: extra }) : artifact),
    filename,
  });

  test.each([
    ["the name part in capitals", "SPELLED-1.0-py3-none-any.whl"],
    ["the name part in another case", "Spelled-1.0-py3-none-any.whl"],
    ["the version with a zero padded", "spelled-1.00-py3-none-any.whl"],
    ["the tags in capitals", "spelled-1.0-PY3-NONE-ANY.whl"],
  ])("a wheel with %s → 400 'File already exists', nothing changes", async (_title, filename) => {
    const stored = await wheel({ name: "spelled", version: "1.0" });
    await publish(server, aliceToken, stored);
    await expectRefused(server, spelled(stored, filename), 400, `File already exists: ${filename} would stand for ${stored.filename} (the same release, kind and tags); use a new version or build tag`);
  });

  test.each([
    ["a compressed tag set in another order (pip reads both as one set of tags)", { tags: "py2.py3-none-any" }, { tags: "py3.py2-none-any" }],
    ["a build tag with a zero padded (pip reads 01 as build 1)", { build: "1" }, { build: "01" }],
  ])("a wheel with %s → 400 'File already exists', nothing changes", async (_title, storedOptions, otherOptions) => {
    const stored = await wheel({ name: "spelled", version: "5.0", ...storedOptions });
    await publish(server, aliceToken, stored);
    const other = await wheel({ name: "spelled", version: "5.0", ...otherOptions, extraFiles: { "spelled/extra.py": "x = 1\n" } });
    await expectRefused(server, async () => other, 400, `File already exists: ${other.filename} would stand for ${stored.filename} (the same release, kind and tags); use a new version or build tag`);
  });

  test("a second sdist of a release, in another case or another format → 400, nothing changes", async () => {
    const stored = await sdist({ name: "spelled", version: "2.0" });
    await publish(server, aliceToken, stored);
    for (const other of [{ ...stored, filename: "SPELLED-2.0.tar.gz" }, await sdist({ name: "spelled", version: "2.0", format: "zip" })]) {
      await expectRefused(server, async () => other, 400, `File already exists: ${other.filename} would stand for ${stored.filename} (the same release, kind and tags)`);
    }
  });

  test("an egg in another case → 400, nothing changes", async () => {
    const stored = await egg({ name: "spelled", version: "3.0", python: "2.7" });
    await publish(server, aliceToken, stored);
    await expectRefused(server, async () => ({ ...stored, filename: "Spelled-3.0-py2.7.egg" }), 400, `File already exists: Spelled-3.0-py2.7.egg would stand for ${stored.filename}`);
  });

  test("a version PEP 440 compares equal to a stored release but spelled otherwise → 400, nothing changes; other tags of the release are welcome", async () => {
    await publish(server, aliceToken, await sdist({ name: "spelled", version: "4.0" }));
    for (const version of ["4.0.0", "4.0.0.0"]) {
      const other = await wheel({ name: "spelled", version });
      await expectRefused(server, async () => other, 400, `Version ${version} of ${other.filename} is release 4.0 of spelled (PEP 440 compares them equal): spell it 4.0`);
    }
    await publish(server, aliceToken, await wheel({ name: "spelled", version: "4.0" }), await wheel({ name: "spelled", version: "4.0", build: "1" }), await wheel({ name: "spelled", version: "4.0+local" }));
  });

  async function expectRefused(target: TestServer, artifact: () => Promise<Artifact>, status: number, message: string): Promise<void> {
    const file = await artifact();
    const before = state();
    const answer = await upload(target, file, { auth: tokenAuth(aliceToken), fields: { version: file.version } });
    expect({ status: answer.status, statusText: answer.statusText }).toEqual({ status, statusText: expect.stringContaining(message) });
    expect(state()).toEqual(before);
  }
});

describe("who may upload", () => {
  test("the first uploader owns the project; others get 403 with a reason until granted the upload role", async () => {
    await publish(server, aliceToken, await wheel({ name: "Owned", version: "1.0" }));
    // alice is the project's admin: she may yank.
    expect((await api(server, "POST", "/api/projects/owned/releases/1.0/yank", { auth: tokenAuth(aliceToken) })).status).toBe(200);

    const bobs = await wheel({ name: "Owned", version: "1.1" });
    const before = state();
    const refused = await upload(server, bobs, { auth: tokenAuth(bobToken) });
    expect(refused.status).toBe(403);
    expect(refused.statusText).toBe("User bob may not upload to project owned: ask a project admin for the upload role");
    expect(state()).toEqual(before);

    server.services.accounts.grant("bob", "owned", "upload", "test");
    const granted = await upload(server, bobs, { auth: tokenAuth(bobToken) });
    expect(granted.status).toBe(200);
    await expectServed("owned", bobs);
    // The upload role is not the admin role.
    expect((await api(server, "POST", "/api/projects/owned/releases/1.1/yank", { auth: tokenAuth(bobToken) })).status).toBe(403);
  });

  test("a site admin may upload to any project", async () => {
    const rootToken = await server.userToken("root", { admin: true });
    await publish(server, aliceToken, await wheel({ name: "admins-too", version: "1.0" }));
    expect((await upload(server, await wheel({ name: "admins-too", version: "1.1" }), { auth: tokenAuth(rootToken) })).status).toBe(200);
  });

  test.each<[string, () => Promise<string | undefined>, string]>([
    ["anonymous", async () => undefined, "Uploading needs credentials: use __token__ and an API token"],
    ["an unknown token", async () => tokenAuth("pydepot-not-a-real-token"), "Invalid or revoked API token"],
    [
      "a revoked token",
      async () => {
        const { id, token } = server.services.accounts.createToken("alice", "soon revoked", "test");
        server.services.accounts.revokeToken(id, "test");
        return tokenAuth(token);
      },
      "Invalid or revoked API token",
    ],
    ["a wrong password", async () => basicAuth("alice", "not her password"), 'Invalid username or password for "alice"'],
  ])("%s → 401 with WWW-Authenticate: Basic and the reason", async (_who, auth, reason) => {
    const credentials = await auth();
    const before = state();
    const answer = await upload(server, await wheel({ name: "nobodys", version: "1.0" }), { auth: credentials });
    expect(answer.status).toBe(401);
    expect(answer.headers.get("www-authenticate")).toMatch(/^Basic\b/);
    expect(answer.statusText).toBe(reason);
    expect(state()).toEqual(before);
  });
});
