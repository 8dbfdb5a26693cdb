// Downloads go down two paths: the anonymous fast path (before Express) and the Express route (any
// request with credentials). One table of requests, for a small file (sent from memory once read)
// and a large one (streamed from disk): both paths must answer alike, header for header and byte
// for byte. And the fast path must answer anonymous downloads by itself.
import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { downloadFastPath } from "../../src/http/download-fast-path.js";
import { wheel, type Wheel } from "../support/artifacts.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { get, publish, sha256, tokenAuth } from "./requests.js";

let server: TestServer;
let readerToken: string;
let small: Wheel;
let large: Wheel;

beforeAll(async () => {
  server = await startTestServer();
  const token = await server.userToken("alice");
  readerToken = await server.userToken("reader");
  small = await wheel({ name: "fetched", version: "1.0" });
  large = await wheel({ name: "fetched", version: "2.0", extraFiles: { "fetched/blob.bin": randomBytes(3 * 1024 * 1024) } });
  await publish(server, token, small, large);
});
afterAll(() => server?.stop());

type Row = { method?: "GET" | "HEAD"; headers?: (etag: string) => Record<string, string>; status: number; bytes?: (file: Buffer) => Buffer };

const ROWS: [string, Row][] = [
  ["plain GET", { status: 200, bytes: (file) => file }],
  ["HEAD", { method: "HEAD", status: 200, bytes: () => Buffer.alloc(0) }],
  ["If-None-Match with the ETag", { headers: (etag) => ({ "If-None-Match": etag }), status: 304 }],
  ["If-None-Match with the weak ETag", { headers: (etag) => ({ "If-None-Match": `W/${etag}` }), status: 304 }],
  ["If-None-Match with another tag", { headers: () => ({ "If-None-Match": '"other"' }), status: 200 }],
  ["one range", { headers: () => ({ Range: "bytes=100-199" }), status: 206, bytes: (file) => file.subarray(100, 200) }],
  ["a suffix range", { headers: () => ({ Range: "bytes=-10" }), status: 206, bytes: (file) => file.subarray(-10) }],
  ["an open range (resumed download)", { headers: () => ({ Range: "bytes=1000-" }), status: 206, bytes: (file) => file.subarray(1000) }],
  ["a range with a matching If-Range", { headers: (etag) => ({ Range: "bytes=0-9", "If-Range": etag }), status: 206, bytes: (file) => file.subarray(0, 10) }],
  ["a range with a stale If-Range: the whole file", { headers: () => ({ Range: "bytes=0-9", "If-Range": '"other"' }), status: 200, bytes: (file) => file }],
  ["two ranges: the whole file", { headers: () => ({ Range: "bytes=0-9,20-29" }), status: 200, bytes: (file) => file }],
  ["a range past the end", { headers: () => ({ Range: "bytes=99999999-" }), status: 416 }],
  // nginx's header, sent by a client with no trusted_proxy configured: the bytes, not an empty answer a shared cache would keep.
  ["a client's own X-Pydepot-Accel-Redirect", { headers: () => ({ "X-Pydepot-Accel-Redirect": "/_pydepot/files/" }), status: 200, bytes: (file) => file }],
];

async function answer(url: string, row: Row, auth: string | undefined, etag: string) {
  // fetch adds Cache-Control: no-cache to a conditional request unless told otherwise; pip sends max-age=0.
  const headers = { "Cache-Control": "max-age=0", ...row.headers?.(etag) };
  const reply = await get(url, { method: row.method, auth, headers });
  const names = ["content-type", "etag", "cache-control", "content-length", "content-range", "accept-ranges"];
  // The body by its hash: a deep comparison of megabytes is slow enough for keep-alive sockets to time out.
  return { status: reply.status, headers: Object.fromEntries(names.map((name) => [name, reply.headers.get(name)])), bytes: reply.bytes, body: sha256(reply.bytes) };
}

describe.each([
  ["a small wheel", () => small],
  ["a 3 MiB wheel", () => large],
])("%s", (_file, artifact) => {
  test.each(ROWS)("%s: the fast path and Express answer alike", async (_label, row) => {
    const url = `${server.url}/files/fetched/${artifact().filename}`;
    const etag = `"${sha256(artifact().bytes)}"`;
    // Twice anonymously: the first read may come from disk, the second from memory.
    const first = await answer(url, row, undefined, etag);
    const fast = await answer(url, row, undefined, etag);
    const viaExpress = await answer(url, row, tokenAuth(readerToken), etag);
    expect(fast.status).toBe(row.status);
    if (row.bytes) {
      expect(fast.bytes.equals(row.bytes(artifact().bytes))).toBe(true);
      expect(viaExpress.bytes.equals(row.bytes(artifact().bytes))).toBe(true);
    }
    const comparable = ({ bytes: _bytes, ...rest }: typeof fast) => rest;
    expect(comparable(first)).toEqual(comparable(fast));
    expect(comparable(viaExpress)).toEqual(comparable(fast));
  });
});

describe("the fast path on its own, in front of a stand-in for Express", () => {
  let front: Server;
  let url: string;
  beforeAll(async () => {
    const standIn = (_request: unknown, response: import("node:http").ServerResponse) => {
      response.writeHead(599);
      response.end("express");
    };
    const fastPath = downloadFastPath(server.services.downloads, undefined, standIn, () => {});
    front = createServer((request, response) => {
      if (!fastPath(request, response)) standIn(request, response);
    });
    await new Promise<void>((resolve) => front.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(front.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => front.close(() => resolve())));

  test("answers an anonymous download itself, small and large, with the exact bytes", async () => {
    for (const artifact of [small, large]) {
      const reply = await get(`${url}/files/fetched/${artifact.filename}`);
      expect(reply.status).toBe(200);
      expect(reply.bytes.equals(artifact.bytes)).toBe(true);
    }
  });

  test("leaves credentials, unknown files, other projects' names and other methods to Express", async () => {
    const known = `${url}/files/fetched/${small.filename}`;
    expect((await get(known, { auth: tokenAuth(readerToken) })).status).toBe(599);
    expect((await get(`${url}/files/fetched/fetched-9.9.tar.gz`)).status).toBe(599);
    expect((await get(`${url}/files/other/${small.filename}`)).status).toBe(599);
    expect((await get(known, { method: "DELETE" as "GET" })).status).toBe(599);
  });
});
