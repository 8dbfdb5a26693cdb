// The simple repository API (PEP 503/691/700/658/592) as pip and easy_install read it.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { buildServices } from "../../src/app.js";
import { loadSettings } from "../../src/settings.js";
import { sdist, wheel, type Artifact, type Wheel } from "../support/artifacts.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { anchors, api, get, JSON_V1, PIP_23_ACCEPT, publish, rawRequest, sha256, tokenAuth } from "./requests.js";

const UPLOAD_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

let server: TestServer;
let token: string;
let demoWheel: Wheel;
let demoSdist: Artifact;
let yankedWheel: Wheel;
let yankedNoReason: Wheel;
let page: string;

beforeAll(async () => {
  server = await startTestServer();
  token = await server.userToken("alice");
  demoSdist = await sdist({ name: "Demo_Pkg", version: "1.0" });
  demoWheel = await wheel({ name: "Demo_Pkg", version: "1.5", requiresPython: ">=3.8", requiresDist: ["dep-a (>=1.0)"] });
  yankedWheel = await wheel({ name: "Demo_Pkg", version: "2.0" });
  yankedNoReason = await wheel({ name: "Demo_Pkg", version: "2.0.1" });
  await publish(server, token, demoSdist, demoWheel, yankedWheel, yankedNoReason);
  await publish(server, token, await sdist({ name: "dep-a", version: "1.0" }));
  expect((await api(server, "POST", "/api/projects/demo-pkg/releases/2.0/yank", { auth: tokenAuth(token), body: { reason: "broken wheel, use 2.0.1" } })).status).toBe(200);
  expect((await api(server, "POST", "/api/projects/demo-pkg/releases/2.0.1/yank", { auth: tokenAuth(token) })).status).toBe(200);
  page = (await get(`${server.index}demo-pkg/`, { accept: "text/html" })).body;
});

afterAll(() => server?.stop());

/** Keys of every object nested anywhere in a JSON value. */
function allKeys(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(allKeys);
  if (value && typeof value === "object") return Object.entries(value).flatMap(([key, inner]) => [key, ...allKeys(inner)]);
  return [];
}

describe("root page", () => {
  test("HTML: one anchor per project, display name as text, link to its page under the index URL", async () => {
    const answer = await get(server.index, { accept: "text/html" });
    expect(answer.status).toBe(200);
    expect(answer.body).toContain('<meta name="pypi:repository-version" content="1.1">');
    const links = anchors(answer.body).map((anchor) => [anchor.text, new URL(anchor.href, server.index).href]);
    expect(links).toEqual([
      ["Demo_Pkg", `${server.index}demo-pkg/`],
      ["dep-a", `${server.index}dep-a/`],
    ]);
  });

  test("JSON: api-version 1.1 and the projects", async () => {
    const answer = await get(server.index, { accept: JSON_V1 });
    expect(answer.headers.get("content-type")).toBe(JSON_V1);
    expect(JSON.parse(answer.body)).toEqual({ meta: { "api-version": "1.1" }, projects: [{ name: "Demo_Pkg" }, { name: "dep-a" }] });
  });
});

describe("project page, HTML", () => {
  test("one anchor per file: relative URL with the sha256 of the file, filename as text", async () => {
    const files = [demoSdist, demoWheel, yankedWheel, yankedNoReason];
    expect(anchors(page).map((anchor) => anchor.text)).toEqual(files.map((file) => file.filename));
    for (const [anchor, file] of anchors(page).map((anchor, index) => [anchor, files[index]] as const)) {
      expect(anchor.href).toBe(`../../files/demo-pkg/${file.filename}#sha256=${sha256(file.bytes)}`);
      // What pip does with it: resolve against the page URL, download, compare with the fragment.
      const download = await get(new URL(anchor.href, `${server.index}demo-pkg/`).href);
      expect(download.status).toBe(200);
      expect(sha256(download.bytes)).toBe(anchor.href.split("#sha256=")[1]);
    }
  });

  test("data-requires-python is escaped exactly once", () => {
    const anchor = anchors(page).find((candidate) => candidate.text === demoWheel.filename)!;
    expect(anchor.tag).toContain('data-requires-python="&gt;=3.8"');
    expect(anchor.attributes["data-requires-python"]).toBe(">=3.8");
    expect(anchors(page).filter((candidate) => "data-requires-python" in candidate.attributes)).toHaveLength(1);
  });

  test("data-core-metadata on wheels only, matching the served .metadata, which is the wheel's METADATA", async () => {
    const withMetadata = anchors(page).filter((anchor) => "data-core-metadata" in anchor.attributes);
    expect(withMetadata.map((anchor) => anchor.text)).toEqual([demoWheel.filename, yankedWheel.filename, yankedNoReason.filename]);
    const anchor = withMetadata[0];
    const metadata = await get(new URL(`${anchor.href.split("#")[0]}.metadata`, `${server.index}demo-pkg/`).href);
    expect(metadata.status).toBe(200);
    expect(metadata.bytes.equals(demoWheel.metadata)).toBe(true);
    expect(anchor.attributes["data-core-metadata"]).toBe(`sha256=${sha256(metadata.bytes)}`);
  });

  test("no data-dist-info-metadata (pip 23.0.x would pick the sdist over the wheel)", () => {
    expect(page).not.toContain("dist-info-metadata");
  });

  test("yanked files carry data-yanked with the reason or an empty value, never a bare attribute", () => {
    const yanked = Object.fromEntries(anchors(page).map((anchor) => [anchor.text, anchor.attributes["data-yanked"]]));
    expect(yanked).toEqual({
      [demoSdist.filename]: undefined,
      [demoWheel.filename]: undefined,
      [yankedWheel.filename]: "broken wheel, use 2.0.1",
      [yankedNoReason.filename]: "",
    });
    expect(page).toContain('data-yanked=""');
    expect(page).not.toMatch(/data-yanked(?!=")/);
  });
});

describe("project page, JSON", () => {
  test("PEP 691 + 700: normalized name, versions, hashes, size, upload-time, core-metadata, yanked", async () => {
    const answer = await get(`${server.index}demo-pkg/`, { accept: PIP_23_ACCEPT });
    expect(answer.headers.get("content-type")).toBe(JSON_V1);
    const body = JSON.parse(answer.body);
    expect(body.meta["api-version"]).toBe("1.1");
    expect(body.name).toBe("demo-pkg");
    expect(body.versions).toEqual(["1.0", "1.5", "2.0", "2.0.1"]);
    const files = Object.fromEntries(body.files.map((file: { filename: string }) => [file.filename, file]));
    for (const artifact of [demoSdist, demoWheel, yankedWheel, yankedNoReason]) {
      const file = files[artifact.filename];
      expect(file.url).toBe(`../../files/demo-pkg/${artifact.filename}`);
      expect(file.hashes).toEqual({ sha256: sha256(artifact.bytes) });
      expect(file.size).toBe(artifact.bytes.length);
      expect(file["upload-time"]).toMatch(UPLOAD_TIME);
      if (artifact.kind === "wheel") expect(file["core-metadata"]).toEqual({ sha256: sha256((artifact as Wheel).metadata) });
      else expect(file).not.toHaveProperty("core-metadata");
    }
    expect(files[demoWheel.filename]["requires-python"]).toBe(">=3.8");
    expect(files[demoWheel.filename].yanked).toBe(false);
    expect(files[yankedWheel.filename].yanked).toBe("broken wheel, use 2.0.1");
    expect(files[yankedNoReason.filename].yanked).toBe(true);
  });

  test("no key dist-info-metadata anywhere (any value crashes pip 23.0.1)", async () => {
    for (const url of [server.index, `${server.index}demo-pkg/`]) {
      const answer = await get(url, { accept: JSON_V1 });
      expect(allKeys(JSON.parse(answer.body))).not.toContain("dist-info-metadata");
      expect(answer.body).not.toContain("dist-info-metadata");
    }
  });

  test("versions and files are in PEP 440 order, not upload or string order", async () => {
    const versions = ["1.10", "1.9", "1.0rc1", "1.0"];
    for (const version of versions) await publish(server, token, await wheel({ name: "orderly", version }));
    const expected = ["1.0rc1", "1.0", "1.9", "1.10"];
    const json = JSON.parse((await get(`${server.index}orderly/`, { accept: JSON_V1 })).body);
    expect(json.versions).toEqual(expected);
    const html = (await get(`${server.index}orderly/`, { accept: "text/html" })).body;
    expect(anchors(html).map((anchor) => anchor.text)).toEqual(expected.map((version) => `orderly-${version}-py3-none-any.whl`));
  });
});

describe("content negotiation", () => {
  const cases: [string, string | undefined, string][] = [
    ["no Accept header (easy_install)", undefined, "text/html; charset=utf-8"],
    ["*/* ", "*/*", "text/html; charset=utf-8"],
    ["text/html (pip 18 – 22.0)", "text/html", "text/html; charset=utf-8"],
    ["pip ≥ 22.2", PIP_23_ACCEPT, JSON_V1],
    ["v1+html only when asked", "application/vnd.pypi.simple.v1+html", "application/vnd.pypi.simple.v1+html; charset=utf-8"],
    ["v1+html preferred by q", "application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01", "application/vnd.pypi.simple.v1+html; charset=utf-8"],
    ["latest+json", "application/vnd.pypi.simple.latest+json", JSON_V1],
    // The most specific range sets a type's q (RFC 9110 §12.5.1): text/html was sent to clients that refused it.
    ["text/html refused, anything else welcome", "text/html;q=0, */*", JSON_V1],
    ["JSON refused, any application/* welcome", "application/vnd.pypi.simple.v1+json;q=0, application/*", "application/vnd.pypi.simple.v1+html; charset=utf-8"],
  ];
  test.each(cases)("%s", async (_title, accept, contentType) => {
    for (const url of [server.index, `${server.index}demo-pkg/`]) {
      const answer = await rawRequest(url, { headers: accept === undefined ? {} : { Accept: accept } });
      expect(answer.status).toBe(200);
      expect(answer.headers["content-type"]).toBe(contentType);
      expect(answer.headers.vary).toMatch(/\bAccept\b/);
    }
  });

  test.each(["application/json", "text/html;q=0, text/*"])("an Accept header that leaves none of the three types acceptable (%s) → 406 with the types in the reason", async (accept) => {
    for (const url of [server.index, `${server.index}demo-pkg/`]) {
      const answer = await get(url, { accept });
      expect(answer.status).toBe(406);
      expect(answer.statusText).toContain("Not acceptable");
      expect(answer.statusText).toContain("application/vnd.pypi.simple.v1+json");
    }
  });
});

describe("URLs", () => {
  test.each([
    ["/simple/Demo_Pkg/", "/simple/demo-pkg/"],
    ["/simple/Demo.Pkg/", "/simple/demo-pkg/"],
    ["/simple/demo-pkg", "/simple/demo-pkg/"],
    ["/simple/Demo_Pkg", "/simple/demo-pkg/"],
    ["/simple", "/simple/"],
  ])("%s → 301 %s", async (path, location) => {
    const answer = await get(`${server.url}${path}`, { accept: "text/html" });
    expect(answer.status).toBe(301);
    // Resolved against the request URL, as clients do (the server may send a relative Location).
    expect(new URL(answer.headers.get("location")!, `${server.url}${path}`).pathname).toBe(location);
  });

  test("after the redirect, file links resolve against the final URL (as pip and easy_install do)", async () => {
    const answer = await get(`${server.index}Demo_Pkg/`, { accept: "text/html", redirect: "follow" });
    expect(answer.url).toBe(`${server.index}demo-pkg/`);
    const first = anchors(answer.body)[0];
    expect((await get(new URL(first.href, answer.url).href)).status).toBe(200);
  });

  // Sent byte for byte (fetch would resolve `%2e%2e` and such): no name that breaks PEP 508 gets a
  // Location, or `%2F%2Fevil.example` becomes `//evil.example/`, a redirect to another host.
  test.each([
    "/simple/%2F%2Fevil.example",
    "/staging/simple/%2F%2Fevil.example",
    "/simple/%5C%5Cevil.example",
    "/simple/%2e%2e",
    "/simple/..%2F..%2Fetc",
    "/simple/Demo%2FPkg/",
    "/staging/simple/Demo%5CPkg/",
    "/simple/-demo-pkg",
  ])("%s → 400 with the naming rule, never a redirect", async (path) => {
    for (const method of ["GET", "HEAD"]) {
      const answer = await rawRequest(`${server.url}${path}`, { method, headers: { Accept: "text/html" } });
      expect([answer.status, answer.headers.location]).toEqual([400, undefined]);
      expect(answer.statusText).toMatch(/^Invalid project name .*: use ASCII letters, digits, '\.', '_' and '-', starting and ending with a letter or digit$/);
    }
  });

  test("unknown project → 404 with the reason", async () => {
    const answer = await get(`${server.index}no-such-project/`, { accept: "text/html" });
    expect(answer.status).toBe(404);
    expect(answer.statusText).toBe("No project named no-such-project");
  });
});

describe("caching", () => {
  async function etagOf(url: string, accept = "text/html"): Promise<string> {
    const answer = await get(url, { accept });
    expect(answer.status).toBe(200);
    const etag = answer.headers.get("etag");
    expect(etag).toMatch(/^"[^"]+"$/);
    return etag!;
  }

  async function revalidate(url: string, etag: string, accept = "text/html") {
    // pip revalidates with Cache-Control: max-age=0 and the validator it stored.
    return get(url, { accept, headers: { "If-None-Match": etag, "Cache-Control": "max-age=0" } });
  }

  test("ETag + If-None-Match → 304 without a body, for each format", async () => {
    for (const accept of ["text/html", JSON_V1]) {
      for (const url of [server.index, `${server.index}demo-pkg/`]) {
        const etag = await etagOf(url, accept);
        const answer = await revalidate(url, etag, accept);
        expect(answer.status).toBe(304);
        expect(answer.body).toBe("");
      }
    }
  });

  test("an upload or a yank over HTTP changes the ETag", async () => {
    const url = `${server.index}cached/`;
    await publish(server, token, await wheel({ name: "cached", version: "1.0" }));
    const first = await etagOf(url);
    await publish(server, token, await wheel({ name: "cached", version: "1.1" }));
    const afterUpload = await revalidate(url, first);
    expect(afterUpload.status).toBe(200);
    expect(anchors(afterUpload.body)).toHaveLength(2);
    const second = afterUpload.headers.get("etag")!;
    expect(second).not.toBe(first);
    expect((await api(server, "POST", "/api/projects/cached/releases/1.1/yank", { auth: tokenAuth(token), body: { reason: "oops" } })).status).toBe(200);
    const afterYank = await revalidate(url, second);
    expect(afterYank.status).toBe(200);
    expect(afterYank.body).toContain('data-yanked="oops"');
  });

  test("a change made by another process (the CLI, with its own database connection) invalidates cached pages", async () => {
    const url = `${server.index}cli-changed/`;
    await publish(server, token, await wheel({ name: "cli-changed", version: "1.0" }));
    const pageTag = await etagOf(url);
    const rootTag = await etagOf(server.index);
    const cli = buildServices(loadSettings({ env: {}, overrides: { storage: { path: server.storage } } }).settings);
    const operator = { kind: "system", name: "operator" } as const;
    try {
      cli.releases.yank(operator, "cli-changed", "1.0", "withdrawn by the operator");
      const other = await wheel({ name: "cli-newcomer", version: "1.0" });
      await cli.ingest.ingest({ staged: cli.blobs.stageBytes(other.bytes), filename: other.filename, principal: operator, origin: "import" });
    } finally {
      cli.close();
    }
    const projectPage = await revalidate(url, pageTag);
    expect(projectPage.status).toBe(200);
    expect(projectPage.body).toContain('data-yanked="withdrawn by the operator"');
    const rootPage = await revalidate(server.index, rootTag);
    expect(rootPage.status).toBe(200);
    expect(anchors(rootPage.body).map((anchor) => anchor.text)).toContain("cli-newcomer");
  });
});
