// How the HTTP tests talk to a running pydepot: a twine-shaped upload, page and file requests,
// the admin API, and the few requests fetch cannot make (no Accept header, a lying
// Content-Length). Every answer keeps the reason phrase: it is what twine prints.
import { createHash } from "node:crypto";
import http from "node:http";
import { blake2b } from "@noble/hashes/blake2.js";
import type { Artifact } from "../support/artifacts.js";
import { expect } from "vitest";
import { basicAuth, type TestServer } from "../support/server.js";
import { snapshot } from "../support/snapshot.js";

export interface Reply {
  status: number;
  /** The reason phrase of the status line. */
  statusText: string;
  headers: Headers;
  body: string;
}

/** What pip 23.0.1 – 24.2 send on index pages. */
export const PIP_23_ACCEPT = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01";
export const JSON_V1 = "application/vnd.pypi.simple.v1+json";

export const tokenAuth = (token: string) => basicAuth("__token__", token);

export interface UploadOptions {
  /** The Authorization header; anonymous without it. */
  auth?: string;
  /** Replace form fields (`null` leaves one out); names twine does not send go just before `content`. */
  fields?: Record<string, string | null>;
  /** Fields sent after the others, as given: a second copy of one, say. */
  extraFields?: [string, string][];
  /** File parts sent after `content`: a second one, or one under another field. */
  extraFiles?: { field: string; filename: string; bytes: Buffer }[];
  /** The multipart filename of the `content` part (default: the artifact's); `null` sends no file part. */
  contentFilename?: string | null;
  /** Default: the server's /legacy/. */
  url?: string;
  /** More headers, as a browser adds them (Origin, Sec-Fetch-Site). */
  headers?: Record<string, string>;
}

/** The text fields twine 4.0.2 sends for this file, in its order. */
export function twineFields(artifact: Artifact): [string, string][] {
  const filetype = { wheel: "bdist_wheel", egg: "bdist_egg", sdist: "sdist" }[artifact.kind];
  // twine 4: the wheel's python tag, nothing for sdists, and (sic) the package version for eggs.
  const pyversion = artifact.kind === "wheel" ? artifact.filename.split("-").at(-3)! : artifact.kind === "egg" ? artifact.version : "";
  const digest = (algorithm: string) => createHash(algorithm).update(artifact.bytes).digest("hex");
  return [
    [":action", "file_upload"],
    ["protocol_version", "1"],
    ["name", artifact.name.replace(/[^A-Za-z0-9.]+/g, "-")], // pkg_resources.safe_name
    ["version", artifact.version],
    ["filetype", filetype],
    ["pyversion", pyversion],
    ["metadata_version", "2.1"],
    ["summary", `Test distribution ${artifact.name} ${artifact.version}`],
    ["comment", ""],
    ["md5_digest", digest("md5")],
    ["sha256_digest", digest("sha256")],
    ["blake2_256_digest", Buffer.from(blake2b(artifact.bytes, { dkLen: 32 })).toString("hex")],
  ];
}

/** POST the artifact as twine 4.0.2 does: multipart, text fields first, the file part last. */
export async function upload(server: TestServer, artifact: Artifact, options: UploadOptions = {}): Promise<Reply> {
  const overrides = options.fields ?? {};
  const defaults = twineFields(artifact);
  const known = new Set(defaults.map(([name]) => name));
  const form = new FormData();
  for (const [name, value] of [...defaults, ...Object.entries(overrides).filter(([name]) => !known.has(name))]) {
    const chosen = name in overrides ? overrides[name] : value;
    if (chosen !== null && chosen !== undefined) form.append(name, chosen);
  }
  for (const [name, value] of options.extraFields ?? []) form.append(name, value);
  if (options.contentFilename !== null) {
    form.append("content", new Blob([new Uint8Array(artifact.bytes)], { type: "application/octet-stream" }), options.contentFilename ?? artifact.filename);
  }
  for (const file of options.extraFiles ?? []) form.append(file.field, new Blob([new Uint8Array(file.bytes)]), file.filename);
  const headers: Record<string, string> = { ...options.headers, ...(options.auth ? { Authorization: options.auth } : {}) };
  return reply(await fetch(options.url ?? server.uploadUrl, { method: "POST", body: form, headers, redirect: "manual" }));
}

/** Upload that must succeed: for building state over HTTP. */
export async function publish(server: TestServer, token: string, ...artifacts: Artifact[]): Promise<void> {
  for (const artifact of artifacts) {
    const answer = await upload(server, artifact, { auth: tokenAuth(token) });
    if (answer.status !== 200) throw new Error(`upload of ${artifact.filename} failed: ${answer.status} ${answer.statusText}`);
  }
}

export interface GetOptions {
  accept?: string;
  auth?: string;
  headers?: Record<string, string>;
  method?: "GET" | "HEAD";
  /** Default "manual": tests look at redirects themselves. */
  redirect?: RequestRedirect;
}

/** A request as pip makes it (fetch adds `Accept: *\/*` when none is given). */
export async function get(url: string, options: GetOptions = {}): Promise<Reply & { url: string; bytes: Buffer }> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.accept) headers.Accept = options.accept;
  if (options.auth) headers.Authorization = options.auth;
  const response = await fetch(url, { method: options.method ?? "GET", headers, redirect: options.redirect ?? "manual" });
  const bytes = Buffer.from(await response.arrayBuffer());
  return { status: response.status, statusText: response.statusText, headers: response.headers, body: bytes.toString("utf8"), bytes, url: response.url };
}

/** The admin JSON API: `api(server, "POST", "/api/projects/x/releases/1.0/yank", {auth, body})`. */
export async function api(server: TestServer, method: "POST" | "PUT" | "DELETE", path: string, options: { auth?: string; body?: unknown } = {}): Promise<Reply> {
  const headers: Record<string, string> = options.auth ? { Authorization: options.auth } : {};
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  const body = options.body === undefined ? undefined : JSON.stringify(options.body);
  return reply(await fetch(`${server.url}${path}`, { method, headers, body, redirect: "manual" }));
}

/**
 * A request through node:http, which sends only the headers given and the path as written: no Accept at all (as
 * easy_install), or a Content-Length the body never reaches. The body, if any, is written after
 * the answer arrives or not at all; the answer is read without waiting for the upload to finish.
 */
export function rawRequest(url: string, options: { method?: string; headers?: Record<string, string>; body?: Buffer } = {}): Promise<Omit<Reply, "headers"> & { headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    // The path as given, byte for byte: a URL parser would resolve `%2e%2e` and `..` first.
    const { hostname, port } = new URL(url);
    const path = url.replace(/^https?:\/\/[^/]+/, "");
    const request = http.request({ hostname, port, path, method: options.method ?? "GET", headers: options.headers ?? {} }, (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("end", () => {
        resolve({ status: response.statusCode!, statusText: response.statusMessage ?? "", headers: response.headers, body: Buffer.concat(chunks).toString("utf8") });
        request.destroy();
      });
      response.on("error", reject);
    });
    request.on("error", reject);
    if (options.body) request.end(options.body);
    else if (options.headers?.["Content-Length"]) request.flushHeaders();
    else request.end();
  });
}

export interface Anchor {
  href: string;
  text: string;
  /** Attribute values as an HTML parser returns them (entities decoded once); null for a bare attribute. */
  attributes: Record<string, string | null>;
  /** The opening tag as sent. */
  tag: string;
}

/** The anchors of an index page, in page order. */
export function anchors(html: string): Anchor[] {
  return [...html.matchAll(/<a\s([^>]*)>([^<]*)<\/a>/g)].map(([, attributeText, text]) => {
    const attributes: Record<string, string | null> = {};
    for (const [, name, value] of attributeText.matchAll(/([\w-]+)(?:="([^"]*)")?/g)) attributes[name] = value === undefined ? null : unescapeHtml(value);
    return { href: attributes.href ?? "", text: unescapeHtml(text), attributes, tag: `<a ${attributeText}>` };
  });
}

export function sha256(bytes: Buffer): string {
  return createHash("sha256").update(bytes).digest("hex");
}

function unescapeHtml(text: string): string {
  const entities: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', "#39": "'" };
  return text.replace(/&(amp|lt|gt|quot|#39);/g, (_match, entity: string) => entities[entity]);
}

async function reply(response: Response): Promise<Reply> {
  return { status: response.status, statusText: response.statusText, headers: response.headers, body: await response.text() };
}

/** Send one bad request: status and reason as given, the index still up, nothing changed. */
export async function expectRefused(server: TestServer, send: () => Promise<Pick<Reply, "status" | "statusText" | "body">>, status: number, message: string): Promise<void> {
  const before = snapshot(server.services.db, server.storage);
  const answer = await send();
  expect({ status: answer.status, statusText: answer.statusText }).toEqual({ status, statusText: expect.stringContaining(message) });
  expect(answer.body).toContain(message);
  expect((await get(server.index, { accept: "text/html" })).status).toBe(200);
  expect(snapshot(server.services.db, server.storage)).toEqual(before);
}
