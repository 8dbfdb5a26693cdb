// pydepot behind Debian's nginx, configured by `pydepot nginx-config --full` as shipped: what pip,
// easy_install and twine see through the proxy must be what they see directly, except that
// nginx itself serves the files when reads are anonymous.
import { createHash, randomBytes } from "node:crypto";
import { get as httpGet, type IncomingHttpHeaders } from "node:http";
import { gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { VERSION } from "../../src/version.js";
import { wheel, type Artifact, type Wheel } from "../support/artifacts.js";
import { basicAuth, startTestServer, type TestServer } from "../support/server.js";
import { startNginx, type Nginx, type SettingsEnv } from "./proxy.js";

const MAX_UPLOAD_BYTES = 256 * 1024;
const JSON_V1 = "application/vnd.pypi.simple.v1+json";
/** nginx's own validator: "<mtime>-<size>" in hex. pydepot's is the content's SHA-256. */
const NGINX_ETAG = /^"[0-9a-f]+-[0-9a-f]+"$/;

const sha256 = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");
const tokenAuth = (token: string) => basicAuth("__token__", token);

/** The settings a test server runs with, as the PYDEPOT_* variables the CLI reads. */
function settingsEnv(server: TestServer, anonymousRead: boolean): SettingsEnv {
  return {
    PYDEPOT_SERVER_HOST: "127.0.0.1",
    PYDEPOT_SERVER_PORT: new URL(server.url).port,
    PYDEPOT_STORAGE_PATH: server.storage,
    PYDEPOT_UPLOADS_MAX_BYTES: String(MAX_UPLOAD_BYTES),
    PYDEPOT_ACCESS_ANONYMOUS_READ: String(anonymousRead),
  };
}

interface Answer {
  status: number;
  statusText: string;
  headers: Headers;
  bytes: Buffer;
}

async function request(url: string, init: RequestInit = {}): Promise<Answer> {
  const response = await fetch(url, { redirect: "manual", ...init });
  return { status: response.status, statusText: response.statusText, headers: response.headers, bytes: Buffer.from(await response.arrayBuffer()) };
}

/** A multipart POST with the fields twine sends, the file last. */
function upload(base: string, artifact: Artifact, auth?: string): Promise<Answer> {
  const form = new FormData();
  const fields: [string, string][] = [
    [":action", "file_upload"],
    ["protocol_version", "1"],
    ["name", artifact.name],
    ["version", artifact.version],
    ["filetype", "bdist_wheel"],
    ["pyversion", "py3"],
    ["metadata_version", "2.1"],
    ["md5_digest", createHash("md5").update(artifact.bytes).digest("hex")],
    ["sha256_digest", sha256(artifact.bytes)],
  ];
  for (const [name, value] of fields) form.append(name, value);
  form.append("content", new Blob([new Uint8Array(artifact.bytes)], { type: "application/octet-stream" }), artifact.filename);
  return request(`${base}/legacy/`, { method: "POST", body: form, headers: auth ? { Authorization: auth } : {} });
}

interface JsonFile {
  filename: string;
  url: string;
  hashes: { sha256: string };
  "core-metadata"?: false | { sha256: string };
}

describe("anonymous reads: nginx serves /files/ from the storage folder, pydepot the rest", () => {
  let server: TestServer;
  let nginx: Nginx;
  let token: string;
  let demo: Wheel;

  beforeAll(async () => {
    server = await startTestServer({ uploads: { max_bytes: MAX_UPLOAD_BYTES } });
    nginx = await startNginx(settingsEnv(server, true));
    token = await server.userToken("alice");
    demo = await wheel({ name: "Demo_Pkg", version: "1.0" });
    const answer = await upload(nginx.url, demo, tokenAuth(token));
    if (answer.status !== 200) throw new Error(`upload through nginx failed: ${answer.status} ${answer.statusText}`);
  });

  afterAll(async () => {
    await nginx?.stop();
    await server?.stop();
  });

  test("the config nginx runs is the CLI's: files from storage, everything else proxied, a body limit above pydepot's", () => {
    expect(nginx.config).toContain(`root "${server.storage}";`);
    expect(nginx.config).toContain(`server ${new URL(server.url).host};`);
    expect(nginx.config).toMatch(/location \/ \{\s+proxy_pass http:\/\/pydepot;/);
    expect(nginx.config).toContain(`client_max_body_size ${MAX_UPLOAD_BYTES + 32 * 1024 * 1024};`);
    expect(nginx.config).not.toContain("{{");
    // Either would replace pydepot's status line (and its message) with nginx's own. The pages
    // location's error_page hands its own 404 and 405 to pydepot, whose answer goes out as it is.
    const directives = nginx.config.replace(/#.*$/gm, "");
    expect(directives).not.toMatch(/proxy_intercept_errors/);
    expect(directives.match(/error_page[^;]*;/g)).toEqual(["error_page 404 405 = @pydepot;"]);
  });

  test("index pages are gzipped for clients that ask (HTML and JSON), the bytes unchanged; files never are", async () => {
    // Enough files for a page above gzip_min_length (1 kB).
    for (const version of ["0.1", "0.2", "0.3", "0.4", "0.5", "0.6"]) await upload(nginx.url, await wheel({ name: "Demo_Pkg", version }), tokenAuth(token));
    for (const accept of ["text/html", JSON_V1]) {
      const plain = await request(`${server.url}/simple/demo-pkg/`, { headers: { Accept: accept } });
      const zipped = await rawGet(`${nginx.url}/simple/demo-pkg/`, { Accept: accept, "Accept-Encoding": "gzip" });
      expect(zipped.headers["content-encoding"]).toBe("gzip");
      expect(zipped.headers.vary).toMatch(/Accept-Encoding/);
      expect(gunzipSync(zipped.body).equals(plain.bytes)).toBe(true);
    }
    const file = await rawGet(`${nginx.url}/files/demo-pkg/${demo.filename}`, { "Accept-Encoding": "gzip" });
    expect(file.headers["content-encoding"]).toBeUndefined();
  });

  test("the config is ready for TLS (a commented block to fill in) and cuts off stalled clients", () => {
    expect(nginx.config).toMatch(/#\s+listen 443 ssl;/);
    expect(nginx.config).toMatch(/#\s+ssl_certificate\s/);
    expect(nginx.config).toContain("client_header_timeout 10s;");
    expect(nginx.config).toContain("client_body_timeout 60s;");
  });

  test("/simple/ and project pages: HTML or JSON by Accept, with Vary: Accept", async () => {
    const root = await request(`${nginx.url}/simple/`, { headers: { Accept: "text/html" } });
    expect(root.status).toBe(200);
    expect(root.headers.get("content-type")).toMatch(/text\/html/);
    expect(root.bytes.toString()).toContain("demo-pkg");

    const html = await request(`${nginx.url}/simple/demo-pkg/`, { headers: { Accept: "text/html" } });
    expect(html.status).toBe(200);
    expect(html.headers.get("content-type")).toMatch(/text\/html/);
    expect(html.headers.get("vary")).toMatch(/\bAccept\b/);
    expect(html.bytes.toString()).toContain(demo.filename);

    const json = await request(`${nginx.url}/simple/demo-pkg/`, { headers: { Accept: JSON_V1 } });
    expect(json.status).toBe(200);
    expect(json.headers.get("content-type")).toMatch(/application\/vnd\.pypi\.simple\.v1\+json/);
    expect(json.headers.get("vary")).toMatch(/\bAccept\b/);
    expect((JSON.parse(json.bytes.toString()) as { files: JsonFile[] }).files.map((file) => file.filename)).toContain(demo.filename);
  });

  test("a name as typed → 301 to the normalized page, and the Location works through nginx", async () => {
    const redirect = await request(`${nginx.url}/simple/Demo_Pkg/`);
    expect(redirect.status).toBe(301);
    const location = new URL(redirect.headers.get("location")!, `${nginx.url}/simple/Demo_Pkg/`);
    expect(location.origin).toBe(nginx.url);
    expect(location.pathname).toBe("/simple/demo-pkg/");
    const page = await request(location.href, { headers: { Accept: "text/html" } });
    expect(page.status).toBe(200);
    expect(page.bytes.toString()).toContain(demo.filename);
  });

  test("a file from the page's link: served by nginx, the bytes of the page's sha256, never HTML, never gzipped", async () => {
    const file = await jsonFile(nginx.url, "demo-pkg", demo.filename);
    const answer = await request(file.url, { headers: { "Accept-Encoding": "gzip" } });
    expect(answer.status).toBe(200);
    expect(answer.headers.get("etag")).toMatch(NGINX_ETAG); // nginx answered, not pydepot
    expect(answer.bytes.equals(demo.bytes)).toBe(true);
    expect(sha256(answer.bytes)).toBe(file.hashes.sha256);
    expect(answer.headers.get("content-type")).toBe("application/octet-stream");
    expect(answer.headers.get("content-encoding")).toBeNull();
    expect(answer.headers.get("content-length")).toBe(String(demo.bytes.length));
    expect(answer.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
  });

  test("HEAD, Range and If-None-Match on a file", async () => {
    const url = `${nginx.url}/files/demo-pkg/${demo.filename}`;
    const head = await request(url, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-length")).toBe(String(demo.bytes.length));
    expect(head.bytes.length).toBe(0);

    const range = await request(url, { headers: { Range: "bytes=10-19" } });
    expect(range.status).toBe(206);
    expect(range.headers.get("content-range")).toBe(`bytes 10-19/${demo.bytes.length}`);
    expect(range.bytes.equals(demo.bytes.subarray(10, 20))).toBe(true);

    const revalidated = await request(url, { headers: { "If-None-Match": head.headers.get("etag")!, "Cache-Control": "max-age=0" } });
    expect(revalidated.status).toBe(304);
  });

  test("the wheel's `.metadata` (PEP 658) is served by nginx too", async () => {
    const file = await jsonFile(nginx.url, "demo-pkg", demo.filename);
    expect(file["core-metadata"]).toEqual({ sha256: sha256(demo.metadata) });
    const answer = await request(`${file.url.split("#")[0]}.metadata`);
    expect(answer.status).toBe(200);
    expect(answer.headers.get("etag")).toMatch(NGINX_ETAG);
    expect(answer.bytes.equals(demo.metadata)).toBe(true);
    expect(answer.headers.get("content-type")).toBe("application/octet-stream");
  });

  test("no such file, a project folder, or a write to /files/: refused", async () => {
    expect((await request(`${nginx.url}/files/demo-pkg/demo_pkg-9.9-py3-none-any.whl`)).status).toBe(404);
    expect((await request(`${nginx.url}/files/demo-pkg/`)).status).toBe(404);
    const escape = await request(`${nginx.url}/files/demo-pkg/..%2F..%2Fpydepot.sqlite3`);
    expect(escape.status).not.toBe(200);
    expect(escape.bytes.subarray(0, 6).toString()).not.toBe("SQLite");
    expect((await request(`${nginx.url}/files/demo-pkg/${demo.filename}`, { method: "PUT", body: "x" })).status).toBe(403);
  });

  test("an upload through nginx (streamed, with a token) → 200, and the file downloads through nginx", async () => {
    const second = await wheel({ name: "Demo_Pkg", version: "2.0" });
    const answer = await upload(nginx.url, second, tokenAuth(token));
    expect(answer.status).toBe(200);
    const download = await request(`${nginx.url}/files/demo-pkg/${second.filename}`);
    expect(download.status).toBe(200);
    expect(download.bytes.equals(second.bytes)).toBe(true);
  });

  test("a refused upload keeps pydepot's message in the reason phrase (what twine prints)", async () => {
    const impostor = await wheel({ name: "Demo_Pkg", version: "1.0", extraFiles: { "other.txt": "other bytes" } });
    expect(impostor.filename).toBe(demo.filename);
    const proxied = await upload(nginx.url, impostor, tokenAuth(token));
    const direct = await upload(server.url, impostor, tokenAuth(token));
    expect(proxied.status).toBe(400);
    expect(proxied.statusText).toMatch(/^File already exists \('demo_pkg-1\.0-py3-none-any\.whl', with sha256 hash '[0-9a-f]{64}'\)/);
    expect(proxied.statusText).toBe(direct.statusText);
    expect(proxied.bytes.toString()).toBe(direct.bytes.toString());
  });

  test("too large: pydepot's 413 and message, not nginx's (nginx's limit is only a backstop)", async () => {
    const big = await wheel({ name: "Demo_Pkg", version: "3.0", extraFiles: { "blob.bin": randomBytes(2 * MAX_UPLOAD_BYTES) } });
    const answer = await upload(nginx.url, big, tokenAuth(token));
    expect(answer.status).toBe(413);
    expect(answer.statusText).toBe(`File too large: the limit is ${MAX_UPLOAD_BYTES} bytes`);
  });

  test("no credentials: 401 with pydepot's reason and WWW-Authenticate", async () => {
    const answer = await upload(nginx.url, await wheel({ name: "Demo_Pkg", version: "4.0" }));
    expect(answer.status).toBe(401);
    expect(answer.statusText).toBe("Uploading needs credentials: use __token__ and an API token");
    expect(answer.headers.get("www-authenticate")).toBe('Basic realm="pydepot"');
  });

  test("an agent's lease long-poll waits through nginx and ends with 204 when there is no work", async () => {
    const secret = server.services.agents.createEnrolment("nginx test", "test");
    const agentToken = server.services.agents.register("nginx-test-agent", VERSION, secret);
    const started = Date.now();
    const answer = await request(`${nginx.url}/api/farm/lease`, {
      method: "POST",
      headers: { Authorization: `Bearer ${agentToken}`, "Content-Type": "application/json" },
      body: JSON.stringify({ wait_seconds: 2 }),
    });
    expect(answer.status).toBe(204);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1900);
  });
});

describe("authenticated reads: nginx proxies /files/ too, so pydepot checks every download", () => {
  let server: TestServer;
  let nginx: Nginx;
  let token: string;
  let demo: Wheel;

  beforeAll(async () => {
    server = await startTestServer({ access: { anonymous_read: false }, uploads: { max_bytes: MAX_UPLOAD_BYTES }, server: { trusted_proxy: "127.0.0.1" } });
    nginx = await startNginx(settingsEnv(server, false));
    token = await server.userToken("bob", { admin: true });
    demo = await wheel({ name: "secret-pkg", version: "1.0" });
    const answer = await upload(nginx.url, demo, tokenAuth(token));
    if (answer.status !== 200) throw new Error(`upload through nginx failed: ${answer.status} ${answer.statusText}`);
  });

  afterAll(async () => {
    await nginx?.stop();
    await server?.stop();
  });

  test("the config proxies /files/ to pydepot and serves the files folder only internally, for X-Accel-Redirect", () => {
    expect(nginx.config).toMatch(/location \^~ \/files\/ \{\s+proxy_pass http:\/\/pydepot;/);
    expect(nginx.config).toMatch(new RegExp(`location \\^~ /_pydepot/files/ \\{\\s+internal;\\s+alias "${server.storage}/files/";`));
    expect(nginx.config).toContain("proxy_set_header X-Pydepot-Accel-Redirect /_pydepot/files/;");
  });

  test("a download without credentials → 401 with pydepot's reason; with a token → the bytes, sent by nginx (X-Accel-Redirect)", async () => {
    const url = `${nginx.url}/files/secret-pkg/${demo.filename}`;
    const anonymous = await request(url);
    expect(anonymous.status).toBe(401);
    expect(anonymous.statusText).toBe("This index requires authentication: use __token__ and an API token");
    expect(anonymous.headers.get("www-authenticate")).toBe('Basic realm="pydepot"');

    const metadata = await request(`${url}.metadata`);
    expect(metadata.status).toBe(401);

    const signedIn = await request(url, { headers: { Authorization: tokenAuth(token) } });
    expect(signedIn.status).toBe(200);
    expect(signedIn.bytes.equals(demo.bytes)).toBe(true);
    // nginx's own validator and no X-Accel-Redirect left in the answer: nginx sent the file.
    expect(signedIn.headers.get("etag")).toMatch(NGINX_ETAG);
    expect(signedIn.headers.get("x-accel-redirect")).toBeNull();
    expect(signedIn.headers.get("content-type")).toBe("application/octet-stream");
    // Private: the reader's own answer, which no shared cache may keep for another.
    expect(signedIn.headers.get("cache-control")).toBe("private, max-age=31536000, immutable");

    const resumed = await request(url, { headers: { Authorization: tokenAuth(token), Range: "bytes=10-19" } });
    expect(resumed.status).toBe(206);
    expect(resumed.bytes.equals(demo.bytes.subarray(10, 20))).toBe(true);

    const wrongToken = await request(url, { headers: { Authorization: tokenAuth("pydepot_wrong") } });
    expect(wrongToken.status).toBe(401);
  });

  test("pydepot answers the redirect only after authorising: an unknown file 404s, the internal location is not reachable", async () => {
    expect((await request(`${nginx.url}/files/secret-pkg/secret_pkg-9.9.tar.gz`, { headers: { Authorization: tokenAuth(token) } })).status).toBe(404);
    expect((await request(`${nginx.url}/_pydepot/files/secret-pkg/${demo.filename}`)).status).toBe(404);
    // Straight to pydepot (no nginx), the same request gets the bytes: the header is nginx's to set.
    const direct = await request(`${server.url}/files/secret-pkg/${demo.filename}`, { headers: { Authorization: tokenAuth(token) } });
    expect(direct.bytes.equals(demo.bytes)).toBe(true);
    expect(direct.headers.get("etag")).toBe(`"${sha256(demo.bytes)}"`);
  });

  test("index pages without credentials → 401 through nginx too", async () => {
    const answer = await request(`${nginx.url}/simple/`);
    expect(answer.status).toBe(401);
    expect(answer.headers.get("www-authenticate")).toBe('Basic realm="pydepot"');
  });
});

/** A GET without fetch's automatic decompression: the body as nginx sent it. */
function rawGet(url: string, headers: Record<string, string>): Promise<{ headers: IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    httpGet(url, { headers }, (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("end", () => resolve({ headers: response.headers, body: Buffer.concat(chunks) }));
    }).on("error", reject);
  });
}

/** The JSON page's entry for one file, its URL made absolute against the page. */
async function jsonFile(base: string, project: string, filename: string): Promise<JsonFile> {
  const pageUrl = `${base}/simple/${project}/`;
  const page = await request(pageUrl, { headers: { Accept: JSON_V1 } });
  const file = (JSON.parse(page.bytes.toString()) as { files: JsonFile[] }).files.find((candidate) => candidate.filename === filename);
  if (!file) throw new Error(`${filename} is not on ${pageUrl}`);
  return { ...file, url: new URL(file.url, pageUrl).href };
}
