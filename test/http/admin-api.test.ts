// The admin JSON API: yank, unyank, delete — who may, what pip then sees, what history keeps.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { sdist, wheel, type Artifact } from "../support/artifacts.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { snapshot } from "../support/snapshot.js";
import { anchors, api, get, JSON_V1, publish, tokenAuth, type Reply } from "./requests.js";

let server: TestServer;
const tokens: Record<string, string> = {};
let old: Artifact;
let broken: Artifact;
let brokenSdist: Artifact;

beforeAll(async () => {
  server = await startTestServer();
  tokens.alice = await server.userToken("alice");
  tokens.bob = await server.userToken("bob");
  tokens.root = await server.userToken("root", { admin: true });
  old = await wheel({ name: "Yankee", version: "1.0" });
  broken = await wheel({ name: "Yankee", version: "2.0" });
  brokenSdist = await sdist({ name: "Yankee", version: "2.0" });
  await publish(server, tokens.alice, old, broken, brokenSdist);
  await publish(server, tokens.bob, await sdist({ name: "other", version: "1.0" }));
});

afterAll(() => server?.stop());

const as = (who: string | undefined) => (who ? tokenAuth(tokens[who]) : undefined);
const history = () => server.services.stores.history.forProject("yankee");
const state = () => snapshot(server.services.db, server.storage);

/** data-yanked of every file on the HTML page (undefined = not yanked) and `yanked` in JSON. */
async function yankState(): Promise<{ html: Record<string, string | null | undefined>; json: Record<string, string | boolean> }> {
  const html = await get(`${server.index}yankee/`, { accept: "text/html" });
  const json = JSON.parse((await get(`${server.index}yankee/`, { accept: JSON_V1 })).body);
  return {
    html: Object.fromEntries(anchors(html.body).map((anchor) => [anchor.text, anchor.attributes["data-yanked"]])),
    json: Object.fromEntries(json.files.map((file: { filename: string; yanked: string | boolean }) => [file.filename, file.yanked])),
  };
}

function expectJson(answer: Reply, status: number, body: unknown): void {
  expect(answer.status).toBe(status);
  expect(JSON.parse(answer.body)).toEqual(body);
}

describe("yank and unyank", () => {
  test("the project admin yanks a release with a reason: every file of it is marked, others are not", async () => {
    const answer = await api(server, "POST", "/api/projects/yankee/releases/2.0/yank", { auth: as("alice"), body: { reason: "broken, use 1.0" } });
    expectJson(answer, 200, { project: "yankee", version: "2.0", yanked: true, reason: "broken, use 1.0" });
    expect(await yankState()).toEqual({
      html: { [old.filename]: undefined, [brokenSdist.filename]: "broken, use 1.0", [broken.filename]: "broken, use 1.0" },
      json: { [old.filename]: false, [brokenSdist.filename]: "broken, use 1.0", [broken.filename]: "broken, use 1.0" },
    });
    expect(history().at(-1)).toMatchObject({ actor: "alice", action: "release.yank", project: "yankee", subject: "2.0", detail: "broken, use 1.0" });
  });

  test("a site admin unyanks it (project name as displayed works too)", async () => {
    const unyanked = await api(server, "POST", "/api/projects/Yankee/releases/2.0/unyank", { auth: as("root") });
    expectJson(unyanked, 200, { project: "Yankee", version: "2.0", yanked: false });
    const { html, json } = await yankState();
    expect(Object.values(html)).toEqual([undefined, undefined, undefined]);
    expect(Object.values(json)).toEqual([false, false, false]);
    expect(history().at(-1)).toMatchObject({ actor: "root", action: "release.unyank", project: "yankee", subject: "2.0" });
  });

  test("yanking without a reason gives data-yanked=\"\" and yanked: true", async () => {
    expect((await api(server, "POST", "/api/projects/yankee/releases/1.0/yank", { auth: as("alice") })).status).toBe(200);
    const { html, json } = await yankState();
    expect(html[old.filename]).toBe("");
    expect(json[old.filename]).toBe(true);
    expect((await api(server, "POST", "/api/projects/yankee/releases/1.0/unyank", { auth: as("alice") })).status).toBe(200);
  });
});

describe("refusals change nothing", () => {
  test.each<[string, "POST" | "DELETE", string, string | undefined, number, string]>([
    ["anonymous yank", "POST", "/api/projects/yankee/releases/2.0/yank", undefined, 401, "This action needs credentials: use __token__ and an API token"],
    ["anonymous unyank", "POST", "/api/projects/yankee/releases/2.0/unyank", undefined, 401, "This action needs credentials: use __token__ and an API token"],
    ["anonymous delete", "DELETE", "/api/projects/yankee/files/yankee-1.0-py3-none-any.whl", undefined, 401, "This action needs credentials: use __token__ and an API token"],
    ["yank by a user with no role", "POST", "/api/projects/yankee/releases/2.0/yank", "bob", 403, "bob is not an admin of project yankee"],
    ["unyank by a user with no role", "POST", "/api/projects/yankee/releases/2.0/unyank", "bob", 403, "bob is not an admin of project yankee"],
    ["delete by a user with no role", "DELETE", "/api/projects/yankee/files/yankee-1.0-py3-none-any.whl", "bob", 403, "bob is not an admin of project yankee"],
    ["yank of an unknown release", "POST", "/api/projects/yankee/releases/9.9/yank", "alice", 404, "No release 9.9 of project yankee"],
    ["unyank of an unknown release", "POST", "/api/projects/yankee/releases/9.9/unyank", "alice", 404, "No release 9.9 of project yankee"],
    ["yank in an unknown project", "POST", "/api/projects/nobody/releases/1.0/yank", "root", 404, "No project named nobody"],
    ["yank of an invalid version", "POST", "/api/projects/yankee/releases/banana/yank", "alice", 400, 'Invalid version "banana": it is not a PEP 440 version'],
    ["delete of an unknown file", "DELETE", "/api/projects/yankee/files/yankee-9.9.tar.gz", "alice", 404, "No file yankee-9.9.tar.gz in project yankee"],
    ["delete of a file through another project", "DELETE", "/api/projects/yankee/files/other-1.0.tar.gz", "root", 404, "No file other-1.0.tar.gz in project yankee"],
  ])("%s → %s %s", async (_title, method, path, who, status, reason) => {
    const before = state();
    const answer = await api(server, method, path, { auth: as(who), body: method === "POST" ? { reason: "nope" } : undefined });
    expect(answer.status).toBe(status);
    expect(answer.statusText).toContain(reason);
    if (status === 401) expect(answer.headers.get("www-authenticate")).toMatch(/^Basic\b/);
    expect(state()).toEqual(before);
  });

  test("a version number past 2^53 → 400 naming it, not a 404 for the other version the PEP 440 library rounds it to", async () => {
    const before = state();
    const answer = await api(server, "POST", "/api/projects/yankee/releases/1.99999999999999999999/yank", { auth: as("alice") });
    expect([answer.status, answer.statusText]).toEqual([400, 'Invalid version "1.99999999999999999999": its number 99999999999999999999 is larger than 9007199254740991, the largest a version number may be here']);
    expect(state()).toEqual(before);
  });

  test("a reason that is not a string → 400", async () => {
    const before = state();
    const answer = await api(server, "POST", "/api/projects/yankee/releases/2.0/yank", { auth: as("alice"), body: { reason: 42 } });
    expect([answer.status, answer.statusText]).toEqual([400, "reason must be a string"]);
    expect(state()).toEqual(before);
  });
});

describe("delete", () => {
  test("the project admin deletes one file: gone from pages and downloads, the rest of the release stays", async () => {
    const answer = await api(server, "DELETE", `/api/projects/yankee/files/${brokenSdist.filename}`, { auth: as("alice") });
    expectJson(answer, 200, { project: "yankee", filename: brokenSdist.filename, deleted: true });
    expect(Object.keys((await yankState()).html)).toEqual([old.filename, broken.filename]);
    expect((await get(`${server.url}/files/yankee/${brokenSdist.filename}`)).status).toBe(404);
    expect((await get(`${server.url}/files/yankee/${broken.filename}`)).status).toBe(200);
    expect(history().at(-1)).toMatchObject({ actor: "alice", action: "file.delete", project: "yankee", subject: brokenSdist.filename });
  });

  test("a site admin deletes too; deleting it again → 404", async () => {
    const path = `/api/projects/yankee/files/${broken.filename}`;
    expect((await api(server, "DELETE", path, { auth: as("root") })).status).toBe(200);
    expect(history().at(-1)).toMatchObject({ actor: "root", action: "file.delete", subject: broken.filename });
    const again = await api(server, "DELETE", path, { auth: as("root") });
    expect([again.status, again.statusText]).toEqual([404, `No file ${broken.filename} in project yankee`]);
  });

  test("a release whose files are all deleted can no longer be yanked", async () => {
    const answer = await api(server, "POST", "/api/projects/yankee/releases/2.0/yank", { auth: as("alice") });
    expect([answer.status, answer.statusText]).toEqual([404, "No release 2.0 of project yankee"]);
  });

  test("history holds every change in order, and nothing for the refusals", () => {
    expect(history().map((row) => [row.actor, row.action, row.subject])).toEqual([
      ["alice", "file.upload", old.filename],
      ["alice", "file.upload", broken.filename],
      ["alice", "file.upload", brokenSdist.filename],
      ["alice", "release.yank", "2.0"],
      ["root", "release.unyank", "2.0"],
      ["alice", "release.yank", "1.0"],
      ["alice", "release.unyank", "1.0"],
      ["alice", "file.delete", brokenSdist.filename],
      ["root", "file.delete", broken.filename],
    ]);
  });
});
