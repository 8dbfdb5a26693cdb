// Index pages served by nginx from the files pydepot writes at every change (storage/pages),
// with `pydepot nginx-config` as shipped. A request log sits between nginx and pydepot, so a
// test can prove which answers nginx gave alone (nothing reached pydepot) and which it handed on.
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { get as httpGet, type IncomingHttpHeaders } from "node:http";
import os from "node:os";
import path from "node:path";
import { gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { wheel, type Wheel } from "../support/artifacts.js";
import { expectOk, makeEnvironment, pipInstall, type PythonEnvironment } from "../support/clients.js";
import { startRequestLog, type RequestLog } from "../support/request-log.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { get, JSON_V1, PIP_23_ACCEPT, publish, rawRequest, sha256, tokenAuth } from "../http/requests.js";
import { runCli, startNginx, type Nginx, type SettingsEnv } from "./proxy.js";

/** nginx's own validator: "<mtime>-<size>" in hex. pydepot's is a hash of the page. */
const NGINX_ETAG = /^(?:W\/)?"[0-9a-f]+-[0-9a-f]+"$/;
const HTML_V1 = "application/vnd.pypi.simple.v1+html";

function settingsEnv(server: TestServer, upstreamPort: string, anonymousRead: boolean): SettingsEnv {
  return {
    PYDEPOT_SERVER_HOST: "127.0.0.1",
    PYDEPOT_SERVER_PORT: upstreamPort,
    PYDEPOT_STORAGE_PATH: server.storage,
    PYDEPOT_ACCESS_ANONYMOUS_READ: String(anonymousRead),
  };
}

/** nginx → request log → pydepot: `log.requests` is everything nginx did not answer itself. */
async function behindNginx(server: TestServer, anonymousRead: boolean): Promise<{ nginx: Nginx; log: RequestLog }> {
  const log = await startRequestLog(server.url);
  const nginx = await startNginx(settingsEnv(server, new URL(log.index).port, anonymousRead)).catch(async (error: unknown) => {
    await log.stop();
    throw error;
  });
  return { nginx, log };
}

/** A GET that asks for gzip, the body as nginx sent it (fetch would decompress it). */
function gzippedGet(url: string, accept: string): Promise<{ headers: IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    httpGet(url, { headers: { Accept: accept, "Accept-Encoding": "gzip" } }, (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("end", () => resolve({ headers: response.headers, body: Buffer.concat(chunks) }));
    }).on("error", reject);
  });
}

/** Polls `check` until it holds: for a change another process makes, which the server notices on its own timer. */
async function eventually(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within 15 s`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe("anonymous reads: nginx serves /simple/ pages from the files pydepot renders", () => {
  let server: TestServer;
  let nginx: Nginx;
  let log: RequestLog;
  let token: string;
  let pinned: Wheel[];
  let environment: PythonEnvironment | undefined;

  beforeAll(async () => {
    server = await startTestServer();
    ({ nginx, log } = await behindNginx(server, true));
    token = await server.userToken("alice");
    pinned = [await wheel({ name: "Pinned_App", version: "1.0" }), await wheel({ name: "pinned-lib", version: "2.0" })];
    await publish(server, token, ...pinned, await wheel({ name: "pinned-app", version: "1.1" }));
  }, 60_000);

  afterAll(async () => {
    await environment?.cleanup();
    await nginx?.stop();
    await log?.stop();
    await server?.stop();
  });

  const pageRequests = () => log.requests.filter((request) => request.path.startsWith("/simple"));

  test("pip install --require-hashes through nginx: every index page came from the files, none from pydepot", async () => {
    environment = await makeEnvironment("3.13");
    const requirements = path.join(environment.workDir, "requirements.txt");
    writeFileSync(requirements, pinned.map((artifact) => `${artifact.name}==${artifact.version} --hash=sha256:${sha256(artifact.bytes)}\n`).join(""));
    const before = pageRequests().length;
    const result = expectOk(await pipInstall(environment, `${nginx.url}/simple/`, ["--require-hashes", "-r", requirements]));
    expect(result.stdout).toMatch(/Successfully installed .*pinned[-_]app-1\.0/i);
    expect(result.stdout).toMatch(/Successfully installed .*pinned[-_]lib-2\.0/i);
    expect(pageRequests().slice(before)).toEqual([]);
  }, 300_000);

  test("each Accept nginx can decide gets pydepot's bytes and headers, from the file (nginx's ETag, no request to pydepot)", async () => {
    for (const [urlPath, accept] of [
      ["/simple/pinned-app/", PIP_23_ACCEPT],
      ["/simple/pinned-app/", JSON_V1],
      ["/simple/pinned-app/", "text/html"],
      ["/simple/pinned-app/", "*/*"],
      ["/simple/", PIP_23_ACCEPT],
      ["/simple/", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"],
    ]) {
      const before = log.requests.length;
      const direct = await get(`${server.url}${urlPath}`, { accept });
      const proxied = await get(`${nginx.url}${urlPath}`, { accept });
      expect(proxied.status, `${urlPath} ${accept}`).toBe(200);
      expect(proxied.bytes.equals(direct.bytes), `${urlPath} ${accept}`).toBe(true);
      expect(proxied.headers.get("content-type")).toBe(direct.headers.get("content-type"));
      expect(proxied.headers.get("vary")).toMatch(/(?:^|, )Accept, Authorization$/);
      // Caches must keep the gzip twin apart from the page even for a client that did not ask for gzip.
      expect(proxied.headers.get("vary")).toMatch(/\bAccept-Encoding\b/);
      expect(proxied.headers.get("cache-control")).toBe("no-cache");
      expect(proxied.headers.get("etag")).toMatch(NGINX_ETAG);
      expect(log.requests.length).toBe(before);
      const revalidated = await get(`${nginx.url}${urlPath}`, { accept, headers: { "If-None-Match": proxied.headers.get("etag")! } });
      expect(revalidated.status).toBe(304);
    }
    const noAccept = await rawRequest(`${nginx.url}/simple/pinned-app/`); // easy_install sends none
    expect(noAccept.status).toBe(200);
    expect(noAccept.headers["content-type"]).toBe("text/html; charset=utf-8");
    expect(noAccept.headers.etag).toMatch(NGINX_ETAG);
    // pip asks for gzip: nginx sends the twin pydepot compressed (gzip_static: the .gz file's own
    // strong ETag; compressing per request would make it weak).
    for (const accept of [PIP_23_ACCEPT, "text/html"]) {
      const direct = await get(`${server.url}/simple/pinned-app/`, { accept });
      const zipped = await gzippedGet(`${nginx.url}/simple/pinned-app/`, accept);
      expect(zipped.headers["content-encoding"]).toBe("gzip");
      expect(zipped.headers.vary).toBe("Accept-Encoding, Accept, Authorization");
      expect(zipped.headers.etag).toMatch(/^"[0-9a-f]+-[0-9a-f]+"$/);
      expect(zipped.headers["content-type"]).toBe(direct.headers.get("content-type"));
      expect(gunzipSync(zipped.body).equals(direct.bytes)).toBe(true);
    }
    const head = await get(`${nginx.url}/simple/pinned-app/`, { accept: JSON_V1, method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("etag")).toMatch(NGINX_ETAG);
  });

  test("credentials, names as typed, unknown projects and Accept headers the map leaves open go to pydepot", async () => {
    const handedOn = async (urlPath: string, options: Parameters<typeof get>[1]) => {
      const before = log.requests.length;
      const answer = await get(`${nginx.url}${urlPath}`, options);
      expect(log.requests.slice(before).map((request) => request.path), `${urlPath} ${JSON.stringify(options)}`).toEqual([urlPath]);
      return answer;
    };
    const signedIn = await handedOn("/simple/pinned-app/", { accept: JSON_V1, auth: tokenAuth(token) });
    expect(signedIn.status).toBe(200);
    expect(signedIn.headers.get("etag")).not.toMatch(NGINX_ETAG);
    expect((await handedOn("/simple/Pinned_App/", { accept: JSON_V1 })).status).toBe(301);
    const unknown = await handedOn("/simple/no-such-project/", { accept: JSON_V1 });
    expect(unknown.status).toBe(404);
    expect(unknown.statusText).toBe("No project named no-such-project");
    expect((await handedOn("/simple/pinned-app/", { accept: "application/xml" })).status).toBe(406);
    const weighed = await handedOn("/simple/pinned-app/", { accept: `text/html;q=0.2, ${JSON_V1};q=0.5` });
    expect(weighed.headers.get("content-type")).toBe(JSON_V1);
    const htmlV1 = await handedOn("/simple/pinned-app/", { accept: HTML_V1 });
    expect(htmlV1.headers.get("content-type")).toBe(`${HTML_V1}; charset=utf-8`);
    const outranked = await handedOn("/simple/pinned-app/", { accept: `${JSON_V1}, text/html;q=2` });
    expect(outranked.headers.get("content-type")).toBe("text/html; charset=utf-8");
    const htmlRefused = await handedOn("/simple/pinned-app/", { accept: "*/*, text/html;q=0" });
    expect(htmlRefused.headers.get("content-type")).toBe(JSON_V1);
    // Another method reaches pydepot too, rather than nginx's own 405 for a page file.
    const before = log.requests.length;
    const removed = await fetch(`${nginx.url}/simple/pinned-app/`, { method: "DELETE" });
    expect(log.requests.slice(before).map((request) => request.path)).toEqual(["/simple/pinned-app/"]);
    expect([removed.status, removed.statusText]).toEqual([404, "Not Found"]);
  });

  test("a page changing while many clients read it through nginx: every answer a whole page, and the upload's answer means the page has it", async () => {
    let uploading = true;
    const seen = { html: 0, json: 0 };
    const reader = async () => {
      let lastCount = 0;
      for (let round = 0; uploading; round++) {
        const json = round % 2 === 0;
        const answer = await get(`${nginx.url}/simple/churn/`, { accept: json ? JSON_V1 : "text/html" });
        // Before the first upload pydepot says 404; a request nginx handed on just before a page
        // was first written gets pydepot's answer (its own ETag), as current as the file.
        if (answer.status === 404) continue;
        expect(answer.status).toBe(200);
        const count = json ? (JSON.parse(answer.body) as { files: unknown[] }).files.length : answer.body.split("<a ").length - 1;
        if (!json) expect(answer.body.endsWith("</html>\n")).toBe(true);
        expect(count).toBeGreaterThanOrEqual(lastCount); // pages only grow here: an older page after a newer one would be a torn rename
        lastCount = count;
        if (NGINX_ETAG.test(answer.headers.get("etag") ?? "")) seen[json ? "json" : "html"]++;
      }
    };
    const readers = Promise.all(Array.from({ length: 6 }, reader));
    readers.catch(() => {}); // awaited below; a reader failing early must not count as unhandled
    try {
      for (let minor = 0; minor < 12; minor++) {
        const artifact = await wheel({ name: "churn", version: `1.${minor}` });
        await publish(server, token, artifact);
        const page = await get(`${nginx.url}/simple/churn/`, { accept: JSON_V1 });
        expect(page.headers.get("etag")).toMatch(NGINX_ETAG);
        expect((JSON.parse(page.body) as { files: { filename: string }[] }).files.map((file) => file.filename)).toContain(artifact.filename);
      }
    } finally {
      uploading = false;
    }
    await readers;
    expect(seen.json).toBeGreaterThan(0);
    expect(seen.html).toBeGreaterThan(0);
  }, 120_000);

  test("a yank made by another process (the CLI) reaches the page nginx serves", async () => {
    await runCli(["yank", "pinned-lib", "2.0", "--reason", "broken"], settingsEnv(server, new URL(server.url).port, true), server.storage);
    await eventually("the yank on nginx's page", async () => (await get(`${nginx.url}/simple/pinned-lib/`, { accept: "text/html" })).body.includes('data-yanked="broken"'));
    const page = await get(`${nginx.url}/simple/pinned-lib/`, { accept: JSON_V1 });
    expect((JSON.parse(page.body) as { files: { yanked: unknown }[] }).files[0].yanked).toBe("broken");
  });
});

describe("page files across restarts and with reads that need credentials", () => {
  let storage: string;

  beforeAll(() => {
    storage = mkdtempSync(path.join(os.tmpdir(), "pydepot-page-files-"));
  });

  afterAll(() => {
    rmSync(storage, { recursive: true, force: true });
  });

  test("a restart keeps unchanged pages (and their ETags) and removes folders of unknown projects", async () => {
    const first = await startTestServer({}, { storage });
    await publish(first, await first.userToken("carol"), await wheel({ name: "kept", version: "1.0" }));
    await first.stop();
    const page = path.join(storage, "pages", "simple", "kept", "index.json");
    const mtime = statSync(page).mtimeMs;
    const stray = path.join(storage, "pages", "simple", "not-a-project");
    writeFileSync(path.join(storage, "pages", "simple", "kept", "index.html"), "torn");
    mkdirSync(stray);
    writeFileSync(path.join(stray, "index.html"), "stale");
    const second = await startTestServer({}, { storage });
    try {
      expect(statSync(page).mtimeMs).toBe(mtime);
      expect(existsSync(stray)).toBe(false);
      const html = await get(`${second.url}/simple/kept/`, { accept: "text/html" });
      expect(statSync(path.join(storage, "pages", "simple", "kept", "index.html")).size).toBe(html.bytes.length);
    } finally {
      await second.stop();
    }
  });

  test("anonymous_read = false: the page files are removed, and nginx hands every page to pydepot, which asks for credentials", async () => {
    const server = await startTestServer({ access: { anonymous_read: false } }, { storage });
    const { nginx, log } = await behindNginx(server, false);
    try {
      expect(existsSync(path.join(storage, "pages"))).toBe(false);
      expect(nginx.config).not.toContain("/pages");
      for (const urlPath of ["/simple/", "/simple/kept/"]) {
        const answer = await get(`${nginx.url}${urlPath}`, { accept: JSON_V1 });
        expect(answer.status).toBe(401);
        expect(answer.headers.get("www-authenticate")).toBe('Basic realm="pydepot"');
      }
      expect(log.requests.map((request) => request.path).filter((urlPath) => urlPath.startsWith("/simple"))).toEqual(["/simple/", "/simple/kept/"]);
    } finally {
      await nginx.stop();
      await log.stop();
      await server.stop();
    }
  });
});
