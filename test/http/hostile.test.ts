// Hostile bodies and connections (issue 7): every limit holds while the body streams in, whatever
// its framing; nothing is stored before the sender is known; every exit path removes what was
// staged; stalled and dripping connections are cut off; refused requests close the connection.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import net from "node:net";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { bzip2Bomb, sdist, wheel, type Artifact } from "../support/artifacts.js";
import { bearer, FakeAgent, request, requestJson, TARGETS, waitFor } from "../support/farm-api.js";
import { twineUpload } from "../support/clients.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { snapshot } from "../support/snapshot.js";
import { VERSION } from "../../src/version.js";
import { api, expectRefused, publish, rawRequest, tokenAuth, twineFields, upload } from "./requests.js";
import { drip, stallAfter, streamRequest } from "./streaming.js";

const KiB = 1024;
const MiB = 1024 * KiB;
const BOUNDARY = "pydepot-test-boundary";
const MULTIPART = `multipart/form-data; boundary=${BOUNDARY}`;

const stagedFiles = (server: TestServer) => readdirSync(path.join(server.storage, "tmp"));

/** The head of a twine upload whose file part has begun: text fields, then the part header. */
async function uploadHead(): Promise<Buffer> {
  const artifact = await wheel({ name: "stalled", version: "1.0" });
  const fields = twineFields(artifact).map(([name, value]) => `--${BOUNDARY}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`);
  const filePart = `--${BOUNDARY}\r\nContent-Disposition: form-data; name="content"; filename="${artifact.filename}"\r\nContent-Type: application/octet-stream\r\n\r\n`;
  return Buffer.from(fields.join("") + filePart);
}

describe("upload form limits (max_bytes 1 MiB, 50 fields, 64 KiB of fields)", () => {
  let server: TestServer;
  let token: string;

  beforeAll(async () => {
    server = await startTestServer({ uploads: { max_bytes: MiB, max_fields: 50, max_field_bytes: 64 * KiB } });
    token = await server.userToken("alice");
  });
  afterAll(() => server?.stop());

  test("more text fields than uploads.max_fields → 413", async () => {
    const artifact = await wheel({ name: "many", version: "1.0" });
    const fields = Object.fromEntries(Array.from({ length: 60 }, (_, index) => [`extra${index}`, "x"]));
    await expectRefused(server, () => upload(server, artifact, { auth: tokenAuth(token), fields }), 413, "Too many form fields: an upload may have at most 50");
  });

  test("text fields over uploads.max_field_bytes together → 413, though each is small", async () => {
    const artifact = await wheel({ name: "wordy", version: "1.0" });
    const fields = { description: "d".repeat(30 * KiB), keywords: "k".repeat(30 * KiB), license: "l".repeat(30 * KiB) };
    await expectRefused(server, () => upload(server, artifact, { auth: tokenAuth(token), fields }), 413, `Form fields too large: the text fields of an upload may take ${64 * KiB} bytes together`);
  });

  test("a part without a name → 400 (busboy hands it on with name undefined)", async () => {
    const body = Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data\r\n\r\nvalue\r\n--${BOUNDARY}--\r\n`);
    const send = () => rawRequest(server.uploadUrl, { method: "POST", headers: { Authorization: tokenAuth(token), "Content-Type": MULTIPART, "Content-Length": String(body.length) }, body });
    await expectRefused(server, send, 400, "Malformed upload: a form field without a name");
  });

  test("a chunked body (no Content-Length) that goes past the limit → 413 while streaming, connection closed", async () => {
    const junk = Buffer.alloc(64 * KiB, "x");
    let reply: Awaited<ReturnType<typeof streamRequest>> | undefined;
    await expectRefused(
      server,
      async () => (reply = await streamRequest(server.uploadUrl, { headers: { Authorization: tokenAuth(token), "Content-Type": MULTIPART }, total: 64 * 1024 * MiB, chunk: () => junk })),
      413,
      `File too large: the limit is ${MiB} bytes`,
    );
    expect(reply!.cutOff).toBe(true);
  });
});

describe("nothing is stored before the sender is known", () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server?.stop());

  test("an anonymous build result → 401, and no file reaches storage/tmp", async () => {
    const form = new FormData();
    form.append("result", JSON.stringify({ status: "succeeded" }));
    for (let index = 0; index < 3; index++) form.append("files", new Blob([new Uint8Array(256 * KiB)]), `demo-1.0-cp311-cp311-linux_x86_64-${index}.whl`);
    await expectRefused(server, () => request(server.url, "/api/farm/jobs/1/result", { body: form }), 401, "This endpoint is for build agents: authenticate with the agent's token");
  });

  test("an anonymous upload that would send 64 GiB → 401, and the server closes the connection instead of reading it", async () => {
    const chunk = Buffer.alloc(MiB, "x");
    let reply: Awaited<ReturnType<typeof streamRequest>> | undefined;
    await expectRefused(
      server,
      async () => (reply = await streamRequest(server.uploadUrl, { headers: { "Content-Type": MULTIPART }, total: 64 * 1024 * MiB, chunk: () => chunk })),
      401,
      "Uploading needs credentials: use __token__ and an API token",
    );
    expect(reply!.cutOff).toBe(true);
  });
});

test("twine with a wrong token and a 20 MiB file still prints why: the refused body is read on briefly before the close", async () => {
  const server = await startTestServer();
  const folder = mkdtempSync(path.join(os.tmpdir(), "pydepot-twine-"));
  try {
    const big = await wheel({ name: "refused-big", version: "1.0", extraFiles: { "big/blob.bin": randomBytes(20 * MiB) } });
    const file = path.join(folder, big.filename);
    writeFileSync(file, big.bytes);
    const result = await twineUpload(server.uploadUrl, [file], { username: "__token__", password: "pydepot-not-a-token" });
    expect(result.code).not.toBe(0);
    expect(result.stdout).toContain("Invalid or revoked API token");
  } finally {
    rmSync(folder, { recursive: true, force: true });
    await server.stop();
  }
});

/** A twine upload of `artifact`, all of it sent on a raw socket the caller may destroy. */
async function sendWholeUpload(server: TestServer, token: string, artifact: Artifact): Promise<net.Socket> {
  const fields = twineFields(artifact).map(([name, value]) => `--${BOUNDARY}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`);
  const filePart = `--${BOUNDARY}\r\nContent-Disposition: form-data; name="content"; filename="${artifact.filename}"\r\n\r\n`;
  const body = Buffer.concat([Buffer.from(fields.join("") + filePart), artifact.bytes, Buffer.from(`\r\n--${BOUNDARY}--\r\n`)]);
  const socket = net.connect(Number(new URL(server.url).port), "127.0.0.1");
  socket.on("error", () => {});
  await new Promise((resolve) => socket.once("connect", resolve));
  socket.write(`POST /legacy/ HTTP/1.1\r\nHost: pydepot\r\nAuthorization: ${tokenAuth(token)}\r\nContent-Type: ${MULTIPART}\r\nContent-Length: ${body.length}\r\n\r\n`);
  socket.write(body);
  return socket;
}

describe("stalled, dripping and aborted connections (timeouts: headers 1 s, request 3 s, idle 2 s)", () => {
  let server: TestServer;
  let token: string;
  const log: string[] = [];

  beforeAll(async () => {
    server = await startTestServer(
      { server: { headers_timeout_seconds: 1, request_timeout_seconds: 3, idle_timeout_seconds: 2 }, farm: { long_poll_seconds: 1 } },
      { log: (line) => log.push(line) },
    );
    token = await server.userToken("alice");
  });
  afterAll(() => server?.stop());

  test("headers dripped a byte every 200 ms (never idle for the idle timeout): the headers timeout closes the connection", async () => {
    const headers = `POST /legacy/ HTTP/1.1\r\nHost: pydepot\r\nX-Slow: ${"x".repeat(100)}\r\n\r\n`;
    const socket = net.connect(Number(new URL(server.url).port), "127.0.0.1");
    socket.on("error", () => {});
    await new Promise((resolve) => socket.once("connect", resolve));
    expect(await drip(socket, headers, 200)).toEqual({ sentAll: false });
  });

  test("an upload body dripped a byte every 200 ms: the request timeout closes the connection and the staged file goes", async () => {
    const before = snapshot(server.services.db, server.storage);
    const head = await uploadHead();
    const headers = `POST /legacy/ HTTP/1.1\r\nHost: pydepot\r\nAuthorization: ${tokenAuth(token)}\r\nContent-Type: ${MULTIPART}\r\nContent-Length: ${head.length + 1000}\r\n\r\n`;
    const socket = net.connect(Number(new URL(server.url).port), "127.0.0.1");
    socket.on("error", () => {});
    await new Promise((resolve) => socket.once("connect", resolve));
    socket.write(Buffer.concat([Buffer.from(headers), head]));
    expect(await drip(socket, "z".repeat(1000), 200)).toEqual({ sentAll: false });
    await waitFor("the staged file to go", async () => (stagedFiles(server).length === 0 ? true : undefined), { timeoutMs: 10_000 });
    expect(snapshot(server.services.db, server.storage)).toEqual(before);
  });

  test("an upload that stops sending halfway: the connection is closed and the staged file removed", async () => {
    const before = snapshot(server.services.db, server.storage);
    const head = await uploadHead();
    const headers = `POST /legacy/ HTTP/1.1\r\nHost: pydepot\r\nAuthorization: ${tokenAuth(token)}\r\nContent-Type: ${MULTIPART}\r\nContent-Length: ${head.length + 10 * MiB}\r\n\r\n`;
    await stallAfter(server.url, Buffer.concat([Buffer.from(headers), head, Buffer.alloc(256 * KiB, "z")]));
    await waitFor("the staged file to go", async () => (stagedFiles(server).length === 0 ? true : undefined), { timeoutMs: 10_000 });
    expect(snapshot(server.services.db, server.storage)).toEqual(before);
  });

  test("a client that aborts its upload is logged as such, not as an internal error", async () => {
    log.length = 0;
    const head = await uploadHead();
    const { hostname, port } = new URL(server.url);
    const socket = net.connect(Number(port), hostname);
    socket.on("error", () => {});
    await new Promise((resolve) => socket.once("connect", resolve));
    socket.write(`POST /legacy/ HTTP/1.1\r\nHost: pydepot\r\nAuthorization: ${tokenAuth(token)}\r\nContent-Type: ${MULTIPART}\r\nContent-Length: ${head.length + MiB}\r\n\r\n`);
    socket.write(Buffer.concat([head, Buffer.alloc(64 * KiB, "z")]));
    await waitFor("the upload to be staging", async () => (stagedFiles(server).length > 0 ? true : undefined), { timeoutMs: 10_000 });
    socket.destroy();
    await waitFor("the abort to be logged", async () => (log.some((line) => line.includes("connection closed before the request was complete")) ? true : undefined), { timeoutMs: 10_000 });
    expect(log.filter((line) => line.includes("internal error"))).toEqual([]);
    await waitFor("the staged file to go", async () => (stagedFiles(server).length === 0 ? true : undefined), { timeoutMs: 10_000 });
  });

  test("a client that leaves after sending its whole upload, while the server reads the archive: logged as such, nothing left in storage/tmp or files/", async () => {
    // 60 MiB of zeros in a few hundred bytes of bzip2: reading it takes the server a while.
    const artifact = await sdist({ name: "left-early", version: "1.0", format: "tar.bz2", extraFiles: { "zeros.bin": Buffer.alloc(60 * MiB) } });
    const before = snapshot(server.services.db, server.storage);
    log.length = 0;
    const socket = await sendWholeUpload(server, token, artifact);
    const tmp = path.join(server.storage, "tmp");
    const stagedWhole = () => stagedFiles(server).some((entry) => statSync(path.join(tmp, entry), { throwIfNoEntry: false })?.size === artifact.bytes.length);
    await waitFor("the whole file to be staged", async () => (stagedWhole() ? true : undefined), { timeoutMs: 10_000, intervalMs: 2 });
    socket.destroy();
    // Almost always the server is still staging or reading the file when the client leaves; on a starved machine it may have answered first.
    const recorded = () => server.services.db.prepare("SELECT 1 FROM files WHERE filename = ?").get(artifact.filename) !== undefined;
    const ended = () => recorded() || log.some((line) => /internal error|connection closed before the request was complete/.test(line));
    await waitFor("the request to end", async () => (ended() ? true : undefined), { timeoutMs: 20_000, describe: () => `LOG:${log.join("\n")} TMP:${stagedFiles(server).join(" ")}` });
    expect(log.filter((line) => line.includes("internal error"))).toEqual([]);
    await waitFor("the staged file to go", async () => (stagedFiles(server).length === 0 ? true : undefined), { timeoutMs: 10_000 });
    if (recorded()) return;
    expect(snapshot(server.services.db, server.storage)).toEqual(before);
    expect(existsSync(path.join(server.storage, "files", "left-early"))).toBe(false);
  });

  test("a client that leaves while storage/tmp will not let its staged file go (immutable): logged as such, and the server stays up", async () => {
    const artifact = await sdist({ name: "left-stuck", version: "1.0", format: "tar.bz2", extraFiles: { "zeros.bin": Buffer.alloc(60 * MiB) } });
    const tmp = path.join(server.storage, "tmp");
    log.length = 0;
    const socket = await sendWholeUpload(server, token, artifact);
    const stagedWhole = () => stagedFiles(server).some((entry) => statSync(path.join(tmp, entry), { throwIfNoEntry: false })?.size === artifact.bytes.length);
    await waitFor("the whole file to be staged", async () => (stagedWhole() ? true : undefined), { timeoutMs: 10_000, intervalMs: 2 });
    // Nothing in the folder can be unlinked now (EPERM), as on a failing disk (EIO).
    execFileSync("chattr", ["+i", tmp]);
    try {
      socket.destroy();
      const ended = () => log.some((line) => /internal error|connection closed before the request was complete/.test(line));
      await waitFor("the request to end", async () => (ended() ? true : undefined), { timeoutMs: 20_000, describe: () => `LOG:${log.join("\n")}` });
      expect(log.filter((line) => line.includes("internal error"))).toEqual([]);
      expect((await fetch(`${server.url}/simple/`)).status).toBe(200);
    } finally {
      execFileSync("chattr", ["-i", tmp]);
      // What the start-up sweep would remove (it leaves a live server's own files alone).
      for (const entry of stagedFiles(server)) rmSync(path.join(tmp, entry), { force: true });
    }
  });

  test("a client that aborts a download is logged as such, not as an internal error", async () => {
    const big = await wheel({ name: "big-download", version: "1.0", extraFiles: { "big/blob.bin": randomBytes(16 * MiB) } });
    expect((await upload(server, big, { auth: tokenAuth(token) })).status).toBe(200);
    log.length = 0;
    const controller = new AbortController();
    const response = await fetch(`${server.url}/files/big-download/${big.filename}`, { signal: controller.signal });
    const reader = response.body!.getReader();
    await reader.read();
    controller.abort();
    await reader.read().catch(() => undefined);
    await waitFor("the abort to be logged", async () => (log.some((line) => line.includes("connection closed before the answer was complete")) ? true : undefined), { timeoutMs: 10_000 });
    expect(log.filter((line) => line.includes("internal error"))).toEqual([]);
  });
});

test("a .tar.bz2 bomb (a few KB of bzip2 streams, 1 GiB of zeros) is refused within seconds, in bounded memory, and downloads meanwhile are answered at once", async () => {
  const server = await startTestServer();
  try {
    const token = await server.userToken("alice");
    const small = await sdist({ name: "small", version: "1.0" });
    await publish(server, token, small);
    const bomb = bzip2Bomb({ name: "bz-bomb", version: "1.0" }, 1);
    expect(bomb.bytes.length).toBeLessThan(64 * KiB);
    let answered = false;
    const refused = upload(server, bomb, { auth: tokenAuth(token) }).finally(() => (answered = true));
    // The decoder is JavaScript: decoded on the event loop, the whole bomb held every request for half a minute.
    const waits: number[] = [];
    while (!answered) {
      const started = Date.now();
      expect((await fetch(`${server.url}/files/small/${small.filename}`)).status).toBe(200);
      waits.push(Date.now() - started);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const answer = await refused;
    const message = `Invalid sdist ${bomb.filename}: it unpacks to more than ${64 * MiB} bytes (archive bomb?)`;
    expect({ status: answer.status, statusText: answer.statusText }).toEqual({ status: 400, statusText: message });
    expect(Math.max(...waits)).toBeLessThan(1000);
  } finally {
    await server.stop();
  }
}, 120_000);

describe("JSON bodies: one policy per route", () => {
  let server: TestServer;
  let adminToken: string;

  beforeAll(async () => {
    server = await startTestServer();
    adminToken = await server.userToken("root", { admin: true });
  });
  afterAll(() => server?.stop());

  test("an agent's target report over 64 KB is accepted by the farm API", async () => {
    const secret = server.services.agents.createEnrolment("test", "test");
    const { token } = await requestJson<{ token: string }>(server.url, "/api/farm/register", { body: { name: "big-report", version: VERSION, enrolment_secret: secret } });
    const padded = JSON.stringify({ targets: [TARGETS.egg27, TARGETS.wheel311, TARGETS.wheel312] }, null, 2) + " ".repeat(100 * KiB);
    const answer = await request(server.url, "/api/farm/targets", { method: "PUT", auth: bearer(token), body: padded, headers: { "X-Pydepot-Agent-Version": VERSION } });
    expect([answer.status, answer.statusText]).toEqual([200, "OK"]);
    expect(JSON.parse(answer.body).targets).toHaveLength(3);
  });

  test("a build log batch over 64 KB is accepted (it is also the lease's heartbeat)", async () => {
    const uploader = await server.userToken("uploader");
    await publish(server, uploader, await sdist({ name: "chatty", version: "1.0" }));
    const agent = await FakeAgent.register(server.url, server.services.agents.createEnrolment("log", "test"), "chatty-agent", [TARGETS.wheel311]);
    await server.services.planning.idle(); // the new target's jobs for the sdists stored before it
    const job = await agent.lease();
    expect(job).not.toBeNull();
    const lines = Array.from({ length: 100 }, (_, index) => `line ${index} ${"x".repeat(1000)}`);
    const answer = await agent.log(job!.id, lines);
    expect([answer.status, answer.statusText]).toEqual([200, "OK"]);
  });

  test("the admin API keeps its 64 KB limit and says so", async () => {
    const body = { reason: "r".repeat(100 * KiB) };
    await expectRefused(server, () => api(server, "POST", "/api/projects/demo/releases/1.0/yank", { auth: tokenAuth(adminToken), body }), 413, `Request body too large: this route takes at most ${64 * KiB} bytes`);
  });

  test("an enrolment whose label is not a string → 400, no enrolment made", async () => {
    const message = "Send JSON {label, hours?, uses?}: label is a string, hours and uses are numbers";
    for (const label of [{ toString: "x" }, ["a", "b"], 7, null]) {
      await expectRefused(server, () => api(server, "POST", "/api/farm/enrolments", { auth: tokenAuth(adminToken), body: { label } }), 400, message);
    }
  });
});
