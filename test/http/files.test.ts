// Downloads: what pip and easy_install need from a file URL (and what a cache in front needs).
import { existsSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { egg, sdist, wheel, type Artifact, type Wheel } from "../support/artifacts.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { anchors, api, get, publish, sha256, tokenAuth } from "./requests.js";

let server: TestServer;
let token: string;
let demoWheel: Wheel;
let demoSdist: Artifact;
let demoEgg: Artifact;

const fileUrl = (project: string, filename: string) => `${server.url}/files/${project}/${filename}`;

beforeAll(async () => {
  server = await startTestServer();
  token = await server.userToken("alice");
  demoWheel = await wheel({ name: "filer", version: "1.0" });
  demoSdist = await sdist({ name: "filer", version: "1.0" });
  demoEgg = await egg({ name: "filer", version: "1.0", python: "2.7" });
  await publish(server, token, demoWheel, demoSdist, demoEgg, await sdist({ name: "other", version: "1.0" }));
});

afterAll(() => server?.stop());

describe("GET a file", () => {
  test("the exact bytes, with length, a strong ETag, immutable caching, and not as HTML", async () => {
    const answer = await get(fileUrl("filer", demoWheel.filename));
    expect(answer.status).toBe(200);
    expect(answer.bytes.equals(demoWheel.bytes)).toBe(true);
    expect(answer.headers.get("content-length")).toBe(String(demoWheel.bytes.length));
    expect(answer.headers.get("etag")).toBe(`"${sha256(demoWheel.bytes)}"`);
    expect(answer.headers.get("cache-control")).toContain("immutable");
    expect(answer.headers.get("content-type")).not.toMatch(/html/);
    expect(answer.headers.get("content-encoding")).toBeNull();
  });

  test("the same for sdists and eggs (easy_install refuses anything served as HTML)", async () => {
    for (const artifact of [demoSdist, demoEgg]) {
      const answer = await get(fileUrl("filer", artifact.filename));
      expect(answer.status).toBe(200);
      expect(answer.bytes.equals(artifact.bytes)).toBe(true);
      expect(answer.headers.get("content-type")).not.toMatch(/html/);
    }
  });

  test("HEAD: the headers of GET, no body", async () => {
    const answer = await get(fileUrl("filer", demoWheel.filename), { method: "HEAD" });
    expect(answer.status).toBe(200);
    expect(answer.headers.get("content-length")).toBe(String(demoWheel.bytes.length));
    expect(answer.headers.get("etag")).toBe(`"${sha256(demoWheel.bytes)}"`);
    expect(answer.bytes.length).toBe(0);
  });

  test("Range → 206 with Content-Range and just those bytes (resumed downloads)", async () => {
    const answer = await get(fileUrl("filer", demoWheel.filename), { headers: { Range: "bytes=10-19" } });
    expect(answer.status).toBe(206);
    expect(answer.headers.get("content-range")).toBe(`bytes 10-19/${demoWheel.bytes.length}`);
    expect(answer.bytes.equals(demoWheel.bytes.subarray(10, 20))).toBe(true);
  });

  test("If-None-Match with the ETag → 304", async () => {
    // pip revalidates with max-age=0; fetch would otherwise add `no-cache`, which asks for a full reload.
    const headers = { "If-None-Match": `"${sha256(demoWheel.bytes)}"`, "Cache-Control": "max-age=0" };
    const answer = await get(fileUrl("filer", demoWheel.filename), { headers });
    expect(answer.status).toBe(304);
    expect(answer.bytes.length).toBe(0);
  });

  test("a local version (+ in the filename) downloads through the page's own link", async () => {
    const local = await wheel({ name: "filer", version: "1.1+cpu" });
    await publish(server, token, local);
    const page = await get(`${server.index}filer/`, { accept: "text/html" });
    const anchor = anchors(page.body).find((candidate) => candidate.text === local.filename)!;
    const answer = await get(new URL(anchor.href, `${server.index}filer/`).href);
    expect(answer.status).toBe(200);
    expect(answer.bytes.equals(local.bytes)).toBe(true);
  });

  test.each([
    ["unknown file", "filer", "filer-9.9.tar.gz"],
    ["a file of another project", "other", "filer-1.0.tar.gz"],
    ["a file under an unknown project", "nobody", "filer-1.0.tar.gz"],
    ["a path that is not a file name", "filer", "..%2Fpydepot.sqlite3"],
  ])("%s → 404", async (_title, project, filename) => {
    const answer = await get(fileUrl(project, filename));
    expect(answer.status).toBe(404);
    expect(answer.bytes.toString()).not.toContain("SQLite");
  });
});

describe("PEP 658 .metadata", () => {
  test("served for a wheel: its METADATA byte for byte, with its own strong ETag", async () => {
    const answer = await get(fileUrl("filer", `${demoWheel.filename}.metadata`));
    expect(answer.status).toBe(200);
    expect(answer.bytes.equals(demoWheel.metadata)).toBe(true);
    expect(answer.headers.get("etag")).toBe(`"${sha256(demoWheel.metadata)}"`);
    expect(answer.headers.get("content-type")).not.toMatch(/html/);
  });

  test.each([
    ["sdist", () => demoSdist],
    ["egg", () => demoEgg],
  ])("not served for an %s (never advertised either)", async (_kind, artifact) => {
    expect((await get(fileUrl("filer", `${artifact().filename}.metadata`))).status).toBe(404);
  });
});

describe("after a delete through the admin API", () => {
  test("the file and its .metadata 404, the page no longer lists it, the bytes are gone from disk", async () => {
    const doomed = await wheel({ name: "filer", version: "0.9" });
    await publish(server, token, doomed);
    expect((await get(fileUrl("filer", doomed.filename))).status).toBe(200);
    const answer = await api(server, "DELETE", `/api/projects/filer/files/${doomed.filename}`, { auth: tokenAuth(token) });
    expect(answer.status).toBe(200);
    expect((await get(fileUrl("filer", doomed.filename))).status).toBe(404);
    expect((await get(fileUrl("filer", `${doomed.filename}.metadata`))).status).toBe(404);
    const page = await get(`${server.index}filer/`, { accept: "text/html" });
    expect(anchors(page.body).map((anchor) => anchor.text)).not.toContain(doomed.filename);
    expect(existsSync(path.join(server.storage, "files", "filer", doomed.filename))).toBe(false);
    expect(existsSync(path.join(server.storage, "files", "filer", `${doomed.filename}.metadata`))).toBe(false);
  });

  test("deleting a project's last file removes the project from the root page, and its page 404s", async () => {
    const only = await sdist({ name: "lonely", version: "1.0" });
    await publish(server, token, only);
    expect((await api(server, "DELETE", `/api/projects/lonely/files/${only.filename}`, { auth: tokenAuth(token) })).status).toBe(200);
    expect((await get(`${server.index}lonely/`, { accept: "text/html" })).status).toBe(404);
    const root = await get(server.index, { accept: "text/html" });
    expect(anchors(root.body).map((anchor) => anchor.text)).not.toContain("lonely");
  });
});
