// Disk full for real (issue 7): storage on a small tmpfs mounted by the test (it runs as root),
// filled so that an upload runs out of space at every step in turn: staging, the metadata copy,
// the publish note, the link's directory, the WAL frames of COMMIT. Whatever step fails, a file is
// visible under files/ exactly when its row is committed, the answer is a 507 whose reason says
// why, and the name stays free for the retry once space is back.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, statfsSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { wheel } from "../support/artifacts.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { snapshot } from "../support/snapshot.js";
import { tokenAuth, upload } from "./requests.js";

const BLOCK = 4096;
let mountPoint: string;
let server: TestServer;
let token: string;

beforeAll(async () => {
  mountPoint = mkdtempSync(path.join(os.tmpdir(), "pydepot-full-"));
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=16m", "tmpfs", mountPoint]);
  server = await startTestServer({}, { storage: mountPoint });
  token = await server.userToken("alice");
});

afterAll(async () => {
  await server?.stop();
  execFileSync("umount", [mountPoint]);
  rmSync(mountPoint, { recursive: true, force: true });
});

const filler = () => path.join(mountPoint, "filler");

/** Leave `blocks` free blocks, after emptying the WAL so that COMMIT needs new space too. */
function fillLeaving(blocks: number): void {
  server.services.db.pragma("wal_checkpoint(TRUNCATE)");
  const { bavail, bsize } = statfsSync(mountPoint);
  expect(bsize).toBe(BLOCK);
  writeFileSync(filler(), Buffer.alloc(Math.max(0, (bavail - blocks) * bsize)));
}

/** Every file under files/ has a live row, every live row its file, and nothing is left in tmp/. */
function expectVisibleIffCommitted(): void {
  const rows = snapshot(server.services.db, server.storage).rows.files as { filename: string; deleted_at: string | null }[];
  const recorded = rows.filter((row) => !row.deleted_at).flatMap((row) => [row.filename, `${row.filename}.metadata`]);
  const filesDir = path.join(mountPoint, "files");
  const visible = (readdirSync(filesDir, { recursive: true }) as string[]).filter((entry) => statSync(path.join(filesDir, entry)).isFile()).map((entry) => path.basename(entry));
  expect(visible.sort()).toEqual(recorded.sort());
  expect(readdirSync(path.join(mountPoint, "tmp"))).toEqual([]);
}

test("an upload that runs out of space at any step → 507 and no trace; the retry succeeds", async () => {
  const refused: string[] = [];
  for (let blocks = 0; blocks <= 16; blocks++) {
    const artifact = await wheel({ name: "full", version: `1.${blocks}` });
    fillLeaving(blocks);
    const before = snapshot(server.services.db, server.storage);
    const answer = await upload(server, artifact, { auth: tokenAuth(token) });
    if (answer.status !== 200) {
      expect([answer.status, answer.statusText]).toEqual([507, "Insufficient storage: the server is out of disk space; try again once an administrator has freed some"]);
      expect(snapshot(server.services.db, server.storage)).toEqual(before);
      refused.push(artifact.filename);
    }
    expectVisibleIffCommitted();
    rmSync(filler());
    if (answer.status !== 200) {
      const retry = await upload(server, artifact, { auth: tokenAuth(token) });
      expect([retry.status, retry.statusText]).toEqual([200, "OK"]);
      expectVisibleIffCommitted();
    }
  }
  // The range covers both sides: out of space somewhere, and enough space at the end.
  expect(refused.length).toBeGreaterThan(0);
  expect(refused.length).toBeLessThan(17);
});
