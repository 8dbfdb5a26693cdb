// One table of requests sent down both paths that answer index pages: the anonymous fast path
// (before Express) and the Express route (any request with credentials). The answers must be the
// same, header for header (issue 7: a weak If-None-Match got 304 on one path and 200 on the other).
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { wheel } from "../support/artifacts.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { get, JSON_V1, publish, tokenAuth } from "./requests.js";

let server: TestServer;
let readerToken: string;

beforeAll(async () => {
  server = await startTestServer();
  const token = await server.userToken("alice");
  readerToken = await server.userToken("reader");
  await publish(server, token, await wheel({ name: "demo", version: "1.0" }));
});
afterAll(() => server?.stop());

type Row = { method?: "GET" | "HEAD"; accept?: string; headers?: (etag: string) => Record<string, string>; status: number };

const ROWS: [string, Row][] = [
  ["plain GET", { status: 200 }],
  ["HEAD", { method: "HEAD", status: 200 }],
  ["PEP 691 JSON", { accept: JSON_V1, status: 200 }],
  ["If-None-Match with the ETag", { headers: (etag) => ({ "If-None-Match": etag }), status: 304 }],
  ["If-None-Match with the weak ETag", { headers: (etag) => ({ "If-None-Match": `W/${etag}` }), status: 304 }],
  ["If-None-Match: *", { headers: () => ({ "If-None-Match": "*" }), status: 304 }],
  ["If-None-Match with a list", { headers: (etag) => ({ "If-None-Match": `"other", ${etag}` }), status: 304 }],
  ["If-None-Match with another tag", { headers: () => ({ "If-None-Match": '"other"' }), status: 200 }],
  ["If-None-Match and Cache-Control: no-cache", { headers: (etag) => ({ "If-None-Match": etag, "Cache-Control": "no-cache" }), status: 200 }],
  ["an Accept nothing matches", { accept: "image/png", status: 406 }],
];

async function answer(url: string, row: Row, auth: string | undefined, etag: string) {
  // fetch adds Cache-Control: no-cache to a conditional request unless told otherwise; pip sends max-age=0.
  const headers = { "Cache-Control": "max-age=0", ...row.headers?.(etag) };
  const reply = await get(url, { method: row.method, accept: row.accept ?? "text/html", auth, headers });
  const shown = Object.fromEntries(["content-type", "etag", "vary", "cache-control", "content-length"].map((name) => [name, reply.headers.get(name)]));
  return { status: reply.status, statusText: reply.statusText, headers: shown, body: reply.body };
}

describe.each([
  ["root page", "/simple/"],
  ["project page", "/simple/demo/"],
  ["staging project page", "/staging/simple/demo/"],
])("%s", (_page, pagePath) => {
  test.each(ROWS)("%s: the fast path and Express answer alike", async (_label, row) => {
    const url = `${server.url}${pagePath}`;
    const etag = (await get(url, { accept: row.accept === JSON_V1 ? JSON_V1 : "text/html" })).headers.get("etag") ?? '"none"';
    const fast = await answer(url, row, undefined, etag);
    const viaExpress = await answer(url, row, tokenAuth(readerToken), etag);
    expect(fast.status).toBe(row.status);
    expect(viaExpress).toEqual(fast);
  });
});
