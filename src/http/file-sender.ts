import { createReadStream } from "node:fs";
import { open } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { pipeline } from "node:stream/promises";
import { answerCutShort } from "./errors.js";
import fresh from "fresh";
import parseRange from "range-parser";
import type { Download } from "../services/downloads.js";
import { fromTrustedProxy } from "./identify.js";

const YEAR_SECONDS = 365 * 24 * 3600;
/** Files up to this size are kept in memory once read: most wheels pip fetches in a deploy are small. */
const CACHED_FILE_BYTES = 256 * 1024;
/** The memory the small-file cache may hold, least recently sent out first. */
const CACHE_BYTES = 64 * 1024 * 1024;
/**
 * nginx's rendered config (authenticated reads) sets this on every proxied request to the internal
 * location that serves the files folder: pydepot then authorises and nginx sends (X-Accel-Redirect).
 * Believed from server.trusted_proxy only: from anyone else it made an empty 200 with the file's
 * ETag and a year of public caching, which a shared cache in front would keep for everybody.
 */
const ACCEL_HEADER = "x-pydepot-accel-redirect";
const ACCEL_PREFIX = /^\/[A-Za-z0-9_/-]*\/$/;
/** Large reads: 1 MiB chunks reach loopback speed where the 64 KiB default spends its time in calls. */
const CHUNK_BYTES = 1024 * 1024;

/**
 * Stored files never change under their name (a delete removes the row before the bytes, and
 * `Downloads.locate` has checked the row), so a small file's bytes can be kept in memory, keyed by
 * path and content hash. A Map keeps insertion order: re-inserting on a hit makes it an LRU.
 */
class SmallFiles {
  private readonly entries = new Map<string, Buffer>();
  private bytes = 0;

  get(key: string): Buffer | undefined {
    const body = this.entries.get(key);
    if (body) {
      this.entries.delete(key);
      this.entries.set(key, body);
    }
    return body;
  }

  set(key: string, body: Buffer): void {
    if (body.length > CACHED_FILE_BYTES || this.entries.has(key)) return;
    this.entries.set(key, body);
    this.bytes += body.length;
    for (const [oldest, old] of this.entries) {
      if (this.bytes <= CACHE_BYTES) break;
      this.entries.delete(oldest);
      this.bytes -= old.length;
    }
  }
}

const smallFiles = new SmallFiles();

/**
 * The one sender of a stored file, for the download fast path and the Express route alike:
 * strong ETag (the content's SHA-256), conditional GET through `fresh` (the library Express uses),
 * one byte range (If-Range honoured; several ranges get the whole file, as RFC 9110 allows), HEAD,
 * immutable caching (private when reads need credentials). Errors reading the file go to `fail` before anything is written. Behind
 * nginx with authenticated reads, an X-Accel-Redirect instead: nginx sends the file itself.
 */
export function sendFile(
  request: IncomingMessage,
  response: ServerResponse,
  download: Download,
  trustedProxy: string | undefined,
  fail: (error: unknown) => void,
  log: (message: string) => void,
): void {
  const headers: Record<string, string | number> = {
    ETag: download.etag,
    "Content-Type": "application/octet-stream",
    "Cache-Control": `${download.private ? "private" : "public"}, max-age=${YEAR_SECONDS}, immutable`,
    "Accept-Ranges": "bytes",
  };
  const accel = request.headers[ACCEL_HEADER];
  if (typeof accel === "string" && ACCEL_PREFIX.test(accel) && fromTrustedProxy(request.socket.remoteAddress, trustedProxy)) {
    // Stored filenames hold no `/`, `?` or `%` (core/filenames.ts), so the path needs no escaping.
    response.writeHead(200, { ...headers, "X-Accel-Redirect": `${accel}${download.relative}`, "Content-Length": 0 });
    response.end();
    return;
  }
  if (fresh(request.headers, { etag: download.etag })) {
    response.writeHead(304, headers);
    response.end();
    return;
  }
  const key = `${download.etag}${download.path}`;
  const cached = smallFiles.get(key);
  if (cached) return sendBytes(request, response, headers, cached);
  sendFromDisk(request, response, headers, download.path, key, log).catch(fail);
}

async function sendFromDisk(
  request: IncomingMessage,
  response: ServerResponse,
  headers: Record<string, string | number>,
  file: string,
  key: string,
  log: (message: string) => void,
): Promise<void> {
  const handle = await open(file, "r");
  let streaming = false;
  try {
    const { size } = await handle.stat();
    if (size <= CACHED_FILE_BYTES) {
      const body = Buffer.allocUnsafe(size);
      const { bytesRead } = await handle.read(body, 0, size, 0);
      if (bytesRead !== size) throw new Error(`${file}: read ${bytesRead} of ${size} bytes`);
      smallFiles.set(key, body);
      return sendBytes(request, response, headers, body);
    }
    const range = rangeOf(request, headers, size);
    if (!range) return refuseRange(response, headers, size);
    response.writeHead(range.status, { ...headers, ...range.headers, "Content-Length": range.end - range.start + 1 });
    if (request.method === "HEAD" || range.end < range.start) return void response.end();
    streaming = true;
    const stream = createReadStream("", { fd: handle, start: range.start, end: range.end, highWaterMark: CHUNK_BYTES });
    // A client that goes away mid-file is not an error of ours: the pipeline closes the file.
    await pipeline(stream, response).catch(() => {
      response.destroy();
      log(answerCutShort(request.method, request.url));
    });
  } finally {
    if (!streaming) await handle.close();
  }
}

function sendBytes(request: IncomingMessage, response: ServerResponse, headers: Record<string, string | number>, body: Buffer): void {
  const range = rangeOf(request, headers, body.length);
  if (!range) return refuseRange(response, headers, body.length);
  response.writeHead(range.status, { ...headers, ...range.headers, "Content-Length": range.end - range.start + 1 });
  response.end(request.method === "HEAD" ? undefined : body.subarray(range.start, range.end + 1));
}

interface Slice {
  status: 200 | 206;
  start: number;
  /** Inclusive, as in Content-Range; `start - 1` for an empty file. */
  end: number;
  headers: Record<string, string>;
}

/** The part of the file to send, or null for a range that cannot be satisfied (416). */
function rangeOf(request: IncomingMessage, headers: Record<string, string | number>, size: number): Slice | null {
  const whole: Slice = { status: 200, start: 0, end: size - 1, headers: {} };
  const header = request.headers.range;
  const ifRange = request.headers["if-range"];
  if (!header || (ifRange !== undefined && ifRange !== headers.ETag)) return whole;
  const ranges = parseRange(size, header, { combine: true });
  if (ranges === -2 || (Array.isArray(ranges) && (ranges.type !== "bytes" || ranges.length !== 1))) return whole;
  if (ranges === -1) return null;
  const [{ start, end }] = ranges;
  return { status: 206, start, end, headers: { "Content-Range": `bytes ${start}-${end}/${size}` } };
}

function refuseRange(response: ServerResponse, headers: Record<string, string | number>, size: number): void {
  response.writeHead(416, { ...headers, "Content-Range": `bytes */${size}`, "Content-Length": 0 });
  response.end();
}
