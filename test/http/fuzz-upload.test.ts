// Property-based tests (fast-check) of the upload path over HTTP: mutated multipart framing and
// mutated archives (wheel, egg, sdist; digests recomputed so the archive readers really run) are
// accepted or refused with a 4xx, never a 5xx; a refusal changes nothing; and whatever the
// answer, storage/tmp is empty and every visible file has its row.
import { readdirSync, statSync } from "node:fs";
import path from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { egg, sdist, wheel, type Artifact } from "../support/artifacts.js";
import { waitFor } from "../support/farm-api.js";
import { mutatedBytes } from "../support/mutations.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { snapshot } from "../support/snapshot.js";
import { rawRequest, tokenAuth, twineFields, upload } from "./requests.js";

const RUNS = { numRuns: 60 };
let server: TestServer;
let token: string;

beforeAll(async () => {
  server = await startTestServer();
  token = await server.userToken("alice");
});
afterAll(() => server?.stop());

function expectNoTrace(): void {
  expect(readdirSync(path.join(server.storage, "tmp"))).toEqual([]);
  const rows = snapshot(server.services.db, server.storage).rows.files as { filename: string }[];
  const recorded = new Set(rows.flatMap((row) => [row.filename, `${row.filename}.metadata`]));
  const filesDir = path.join(server.storage, "files");
  for (const entry of readdirSync(filesDir, { recursive: true }) as string[]) {
    if (statSync(path.join(filesDir, entry)).isFile()) expect(recorded).toContain(path.basename(entry));
  }
}

/** status 200 or 4xx; a 4xx leaves every row as it was, and afterwards no file is left behind. */
async function expectAcceptedOrRefused(send: () => Promise<{ status: number; statusText: string }>): Promise<void> {
  const before = snapshot(server.services.db, server.storage);
  const answer = await send();
  expect(answer.status === 200 || (answer.status >= 400 && answer.status < 500), `${answer.status} ${answer.statusText}`).toBe(true);
  if (answer.status !== 200) expect(snapshot(server.services.db, server.storage).rows).toEqual(before.rows);
  // A part still being staged when the answer went out is removed as soon as its stage ends.
  await waitFor("storage/tmp to be empty", async () => (readdirSync(path.join(server.storage, "tmp")).length === 0 ? true : undefined), { timeoutMs: 5000, intervalMs: 5 });
  expectNoTrace();
}

/** The body twine sends for an artifact, as bytes. */
function multipartBody(artifact: Artifact, boundary: string): Buffer {
  const parts = twineFields(artifact).map(([name, value]) => Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`));
  const fileHead = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="content"; filename="${artifact.filename}"\r\nContent-Type: application/octet-stream\r\n\r\n`);
  return Buffer.concat([...parts, fileHead, artifact.bytes, Buffer.from(`\r\n--${boundary}--\r\n`)]);
}

describe("fuzzing uploads", () => {
  test("mutated multipart framing → 200 or 4xx, no trace", async () => {
    const boundary = "fuzz-boundary-1234";
    const seed = multipartBody(await wheel({ name: "framing", version: "1.0" }), boundary);
    const contentTypes = [`multipart/form-data; boundary=${boundary}`, `multipart/form-data; boundary="${boundary}"`, "multipart/form-data", `multipart/form-data; boundary=${boundary}x`, "multipart/form-data; boundary="];
    await fc.assert(
      fc.asyncProperty(mutatedBytes(seed), fc.constantFrom(...contentTypes), async (body, contentType) => {
        await expectAcceptedOrRefused(() =>
          rawRequest(server.uploadUrl, { method: "POST", headers: { Authorization: tokenAuth(token), "Content-Type": contentType, "Content-Length": String(body.length) }, body }),
        );
      }),
      RUNS,
    );
  });

  test.each<[string, () => Promise<Artifact>]>([
    ["wheel", () => wheel({ name: "fuzzed", version: "1.0" })],
    ["egg", () => egg({ name: "fuzzed", version: "1.0", python: "2.7" })],
    ["sdist .tar.gz", () => sdist({ name: "fuzzed", version: "1.0" })],
    ["sdist .zip", () => sdist({ name: "fuzzed", version: "1.1", format: "zip" })],
    ["sdist .tar.bz2", () => sdist({ name: "fuzzed", version: "1.2", format: "tar.bz2" })],
  ])("mutated %s archives → 200 or 4xx, no trace", async (_kind, build) => {
    const artifact = await build();
    let run = 0;
    await fc.assert(
      fc.asyncProperty(mutatedBytes(artifact.bytes), async (bytes) => {
        // A new version each run, so one accepted mutation does not turn the next into a duplicate.
        const version = `${artifact.version}.${++run}`;
        const filename = artifact.filename.replace(`-${artifact.version}`, `-${version}`);
        await expectAcceptedOrRefused(() => upload(server, { ...artifact, bytes, filename }, { auth: tokenAuth(token) }));
      }),
      RUNS,
    );
  });
});
