// twine uploads a large wheel through nginx as rendered by `pydepot nginx-config`: nginx streams
// the body to pydepot unbuffered (its own limit only a backstop), and the file comes back whole.
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { wheel, type Wheel } from "../support/artifacts.js";
import { twineUpload } from "../support/clients.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { startNginxFor, type Nginx } from "./proxy.js";

/** Far above nginx's default body limit (1 MiB) and its proxy buffers. */
const LARGE_BYTES = 96 * 1024 * 1024;

let server: TestServer;
let nginx: Nginx;
let root: string;
let large: Wheel;

beforeAll(async () => {
  server = await startTestServer();
  nginx = await startNginxFor(server);
  root = await mkdtemp(join(tmpdir(), "pydepot-large-upload-"));
  large = await wheel({ name: "large-pkg", version: "1.0", extraFiles: { "large_pkg/blob.bin": randomBytes(LARGE_BYTES) } });
  await writeFile(join(root, large.filename), large.bytes);
}, 120_000);

afterAll(async () => {
  await nginx?.stop();
  await server?.stop();
  if (root) await rm(root, { recursive: true, force: true });
});

describe("twine through nginx", () => {
  test(`uploads a ${LARGE_BYTES / 1024 ** 2} MiB wheel, which then downloads through nginx byte for byte`, async () => {
    const token = await server.userToken("uploader");
    const result = await twineUpload(`${nginx.url}/legacy/`, [join(root, large.filename)], { username: "__token__", password: token });
    expect(result.code, result.stdout + result.stderr).toBe(0);
    const download = await fetch(`${nginx.url}/files/large-pkg/${large.filename}`);
    expect(download.status).toBe(200);
    const bytes = Buffer.from(await download.arrayBuffer());
    expect(bytes.length).toBe(large.bytes.length);
    expect(createHash("sha256").update(bytes).digest("hex")).toBe(createHash("sha256").update(large.bytes).digest("hex"));
  }, 300_000);
});
