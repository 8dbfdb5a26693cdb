// Disk full for real (issue 7): storage on a small tmpfs mounted by the test (it runs as root),
// filled so that an upload runs out of space at every step in turn: staging, the metadata copy,
// the publish note, the link's directory, the WAL frames of COMMIT. Whatever step fails, a file is
// visible under files/ exactly when its row is committed, the answer is a 507 whose reason says
// why, and the name stays free for the retry once space is back.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, renameSync, rmSync, statfsSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { wheel } from "../support/artifacts.js";
import { twineUpload } from "../support/clients.js";
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
  // No free-space floor: these uploads must reach each step that can run out of space.
  server = await startTestServer({ storage: { min_free_bytes: 0 } }, { storage: mountPoint });
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

test("twine prints why: the disk is full", async () => {
  const artifact = await wheel({ name: "twine-full", version: "1.0" });
  const folder = mkdtempSync(path.join(os.tmpdir(), "pydepot-twine-"));
  const file = path.join(folder, artifact.filename);
  writeFileSync(file, artifact.bytes);
  fillLeaving(0);
  try {
    const result = await twineUpload(server.uploadUrl, [file], { username: "__token__", password: token });
    expect(result.code).not.toBe(0);
    // twine retries a 5xx and prints the reason phrase of each answer.
    expect(result.stdout).toContain(`Received "507: Insufficient storage: the server is out of disk space`);
    expectVisibleIffCommitted();
  } finally {
    rmSync(filler());
    rmSync(folder, { recursive: true, force: true });
  }
});

// EIO cannot be produced on tmpfs (nor on a loop device without a failing disk), so these faults
// are injected at the store's fs calls: the link's directory fsync, and the undo's unlink.
describe("EIO at the store's fs calls (injected)", () => {
  const eio = () => Object.assign(new Error("EIO: i/o error, fsync"), { code: "EIO" });
  /** A pid above Linux's pid_max, as test/store/blobs.test.ts uses: no process owns it. */
  const DEAD_PID = 2 ** 22 + 12345;

  test("the metadata's link fails after it was made → 500, both links undone, nothing left", async () => {
    const blobs = server.services.blobs;
    const publish = blobs.publish.bind(blobs);
    let calls = 0;
    blobs.publish = (staged, project, filename) => {
      publish(staged, project, filename);
      if (++calls === 2) throw eio();
    };
    try {
      const before = snapshot(server.services.db, server.storage);
      const answer = await upload(server, await wheel({ name: "flaky", version: "1.0" }), { auth: tokenAuth(token) });
      expect([answer.status, answer.statusText]).toEqual([500, "Internal server error"]);
      expect(snapshot(server.services.db, server.storage)).toEqual(before);
      expectVisibleIffCommitted();
    } finally {
      blobs.publish = publish;
    }
  });

  test("the undo's unlink fails too → the staged file and its note stay for the start-up sweep, which removes the orphan", async () => {
    const blobs = server.services.blobs;
    const [publish, unpublish] = [blobs.publish.bind(blobs), blobs.unpublish.bind(blobs)];
    blobs.publish = (staged, project, filename) => {
      publish(staged, project, filename);
      throw eio();
    };
    blobs.unpublish = () => {
      throw eio();
    };
    const artifact = await wheel({ name: "orphan", version: "1.0" });
    try {
      const answer = await upload(server, artifact, { auth: tokenAuth(token) });
      expect(answer.status).toBe(500);
    } finally {
      blobs.publish = publish;
      blobs.unpublish = unpublish;
    }
    const tmp = path.join(mountPoint, "tmp");
    const kept = readdirSync(tmp).sort();
    expect(kept).toHaveLength(2);
    expect(kept[1]).toBe(`${kept[0]}.dest`);
    // What a restart does: the owner is dead, the sweep unlinks the unrecorded name.
    for (const entry of kept) renameSync(path.join(tmp, entry), path.join(tmp, entry.replace(/^([0-9a-f]{12}\.)?\d+-/, `$1${DEAD_PID}-`)));
    const recorded = (_project: string, filename: string) => server.services.stores.files.byFilename(filename.replace(/\.metadata$/, "")) !== undefined;
    expect(blobs.sweep(recorded)).toBe(1);
    expectVisibleIffCommitted();
  });
});
