// `pydepot backup` while twenty uploads run against the real server, then `pydepot restore` into
// an empty folder and a real server on it: every upload acknowledged before the backup began is
// there, byte for byte, and nothing the restored database lists is missing. Then the incremental
// second backup, retention, a damaged backup, and the node-cron schedule.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startApp, type App } from "../../src/app.js";
import { loadSettings } from "../../src/settings.js";
import { wheel, type Artifact } from "../support/artifacts.js";
import { expectOk } from "../support/commands.js";
import { pydepot } from "../support/farm.js";
import { waitFor } from "../support/farm-api.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { heldUpload } from "../support/held-upload.js";
import { get, JSON_V1, publish, sha256, tokenAuth } from "../http/requests.js";

let server: TestServer;
let token: string;
const root = mkdtempSync(join(tmpdir(), "pydepot-backup-test-"));
const dest = join(root, "backups");

interface Acknowledged {
  artifact: Artifact;
  at: number;
}

let before: Artifact[];
let during: Artifact[];
let acknowledged: Acknowledged[];
let backupStartedAt: number;

beforeAll(async () => {
  server = await startTestServer();
  token = await server.userToken("alice");
  before = await Promise.all([1, 2, 3, 4, 5].map((minor) => wheel({ name: "steady", version: `1.${minor}` })));
  await publish(server, token, ...before);
  // Each upload carries 256 kB of its own, so they take long enough to overlap the backup.
  during = await Promise.all(
    Array.from({ length: 20 }, (_, index) => wheel({ name: "busy", version: `2.${index}`, extraFiles: { "busy/blob.bin": Buffer.alloc(256 * 1024, index) } })),
  );
  acknowledged = [];
  // All twenty are in flight, half of each body sent, before the backup starts; the rest of each
  // body goes while the backup runs.
  const held = await Promise.all(during.map((artifact) => heldUpload(server.uploadUrl, artifact, tokenAuth(token))));
  backupStartedAt = Date.now();
  const backup = pydepot(["backup", dest], server.storage);
  await Promise.all(
    held.map(async (upload, index) => {
      const status = await upload.finish();
      expect(status).toBe(200);
      acknowledged.push({ artifact: during[index], at: Date.now() });
    }),
  );
  expectOk(await backup);
});

afterAll(async () => {
  await server?.stop();
  rmSync(root, { recursive: true, force: true });
});

/** A real server on a restored storage folder. */
async function serve(storage: string): Promise<App> {
  const { settings } = loadSettings({ env: {}, overrides: { server: { port: 0 }, storage: { path: storage } } });
  return startApp(settings, () => {});
}

/** Every file the index of `project` lists, downloaded and checked against the index's sha256. */
async function served(app: App, project: string): Promise<Map<string, Buffer>> {
  const page = await get(`${app.url}/simple/${project}/`, { accept: JSON_V1 });
  if (page.status === 404) return new Map();
  expect(page.status).toBe(200);
  const files = new Map<string, Buffer>();
  for (const file of JSON.parse(page.body).files as { filename: string; url: string; hashes: { sha256: string } }[]) {
    const download = await get(new URL(file.url, `${app.url}/simple/${project}/`).href);
    expect(download.status, file.filename).toBe(200);
    expect(sha256(download.bytes), file.filename).toBe(file.hashes.sha256);
    files.set(file.filename, download.bytes);
  }
  return files;
}

/** An empty folder to restore into (pydepot runs with the storage folder as its working folder). */
function emptyFolder(name: string): string {
  const folder = join(root, name);
  mkdirSync(folder);
  return folder;
}

function snapshots(): string[] {
  return readdirSync(join(dest, "snapshots")).filter((name) => !name.startsWith("."));
}

describe("backup while twenty uploads run, then restore", () => {
  test("everything acknowledged before the backup began is restored, byte for byte; what else it caught is whole", async () => {
    const target = emptyFolder("restored-1");
    const restored = expectOk(await pydepot(["restore", dest], target));
    expect(restored.stdout).toMatch(/^restored .* every one checked against its sha256/m);
    const app = await serve(target);
    try {
      const steady = await served(app, "steady");
      for (const artifact of before) expect(steady.get(artifact.filename)?.equals(artifact.bytes), artifact.filename).toBe(true);
      const busy = await served(app, "busy");
      // None of the twenty was acknowledged before the backup began, so the copy may or may not hold each.
      expect(acknowledged.every((entry) => entry.at > backupStartedAt)).toBe(true);
      // Whatever else the copy caught is whole: the bytes of an upload that was acknowledged.
      for (const [filename, bytes] of busy) expect(during.find((artifact) => artifact.filename === filename)?.bytes.equals(bytes), filename).toBe(true);
      // PEP 658 metadata came along too.
      const metadata = await get(`${app.url}/files/steady/${before[0].filename}.metadata`);
      expect(metadata.status).toBe(200);
    } finally {
      await app.stop();
    }
  });

  test("a second backup copies only what is new, and restores all twenty-five uploads", async () => {
    const second = expectOk(await pydepot(["backup", dest], server.storage));
    const [, files, copied] = /: (\d+) files, (\d+) copied/.exec(second.stdout)!.map(Number);
    expect(files).toBe(25);
    // Each wheel has a .metadata file beside it: 50 files in all, some of them in DEST already.
    expect(copied).toBeLessThan(50);
    expect(second.stdout).toMatch(/\d+ already there/);
    const target = emptyFolder("restored-2");
    expectOk(await pydepot(["restore", dest], target));
    expect(expectOk(await pydepot(["fsck"], target)).stdout).toContain("no problems");
    const app = await serve(target);
    try {
      const busy = await served(app, "busy");
      expect([...busy.keys()].sort()).toEqual(during.map((artifact) => artifact.filename).sort());
      for (const artifact of during) expect(busy.get(artifact.filename)!.equals(artifact.bytes)).toBe(true);
    } finally {
      await app.stop();
    }
  });

  test("restore refuses a storage folder that is not empty", async () => {
    const target = join(root, "not-empty");
    mkdirSync(target);
    writeFileSync(join(target, "something"), "mine");
    const refused = await pydepot(["restore", dest], target);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^pydepot: Refusing to restore into .*not-empty: it is not empty/);
    expect(readdirSync(target)).toEqual(["something"]);
  });

  test("--keep removes older snapshots and the files only they needed", async () => {
    expect(snapshots().length).toBe(2);
    const third = expectOk(await pydepot(["backup", dest, "--keep", "1"], server.storage));
    expect(third.stdout.match(/^removed /gm)?.length).toBe(2);
    expect(snapshots().length).toBe(1);
    const target = emptyFolder("restored-3");
    expectOk(await pydepot(["restore", dest], target));
    const app = await serve(target);
    try {
      expect((await served(app, "busy")).size).toBe(20);
    } finally {
      await app.stop();
    }
  });

  test("a damaged file in the backup stops the restore, naming it", async () => {
    const damaged = join(dest, "files", "steady", before[0].filename);
    writeFileSync(damaged, "not the wheel");
    const target = emptyFolder("restored-4");
    const refused = await pydepot(["restore", dest], target);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`${before[0].filename} does not match the backup's manifest`);
    expect(readdirSync(target)).not.toContain("pydepot.sqlite3");
  });
});

describe("a store whose files do not match their rows", () => {
  test("is not backed up: the damaged file is named, fsck suggested, no half snapshot left", async () => {
    const damaged = await startTestServer();
    try {
      const [gone, changed] = [await wheel({ name: "frail", version: "1.0" }), await wheel({ name: "frail", version: "2.0" })];
      await publish(damaged, await damaged.userToken("carol"), gone, changed);
      const damagedDest = join(root, "from-damaged");
      writeFileSync(join(damaged.storage, "files", "frail", changed.filename), "other bytes");
      const changedResult = await pydepot(["backup", damagedDest], damaged.storage);
      expect(changedResult.code).toBe(1);
      expect(changedResult.stderr).toMatch(new RegExp(`^pydepot: frail/${changed.filename.replace(/\./g, "\\.")} in storage does not match its recorded sha256 .*: run pydepot fsck$`, "m"));
      rmSync(join(damaged.storage, "files", "frail", gone.filename));
      const goneResult = await pydepot(["backup", damagedDest], damaged.storage);
      expect(goneResult.code).toBe(1);
      expect(goneResult.stderr).toBe(`pydepot: frail/${gone.filename} is recorded but not in the storage folder: run pydepot fsck\n`);
      expect(readdirSync(join(damagedDest, "snapshots"))).toEqual([]);
    } finally {
      await damaged.stop();
    }
  });
});

describe("a file deleted while the backup runs", () => {
  test("is recorded as deleted in the copy, so the restored store is whole", async () => {
    const doomed = await wheel({ name: "doomed", version: "1.0" });
    await publish(server, token, doomed);
    // Delete it right after the database copy is taken and before its file is copied.
    const db = server.services.db;
    const copyDatabase = db.backup.bind(db);
    db.backup = async (...args: Parameters<typeof db.backup>) => {
      const result = await copyDatabase(...args);
      server.services.releases.deleteFile({ kind: "system", name: "test" }, "doomed", doomed.filename);
      return result;
    };
    const deletedDest = join(root, "deleted-while-running");
    try {
      await server.services.backups.backup(deletedDest);
    } finally {
      delete (db as { backup?: unknown }).backup;
    }
    const target = emptyFolder("restored-deleted");
    expectOk(await pydepot(["restore", deletedDest], target));
    expect(expectOk(await pydepot(["fsck"], target)).stdout).toContain("no problems");
    const app = await serve(target);
    try {
      expect((await get(`${app.url}/simple/doomed/`)).status).toBe(404);
      expect((await served(app, "steady")).size).toBe(5);
    } finally {
      await app.stop();
    }
  });
});

describe("scheduled backups", () => {
  test("a schedule node-cron cannot read is a configuration error, named with its variable", async () => {
    const result = await pydepot(["config"], root, { PYDEPOT_BACKUP_SCHEDULE: "every night" });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^pydepot: Invalid configuration: PYDEPOT_BACKUP_SCHEDULE \(backup\.schedule\): not a node-cron schedule/);
  });


  test("run on the node-cron schedule and keep the newest backup.keep", async () => {
    const scheduledDest = join(root, "scheduled");
    const scheduled = await startTestServer({ backup: { destination: scheduledDest, schedule: "* * * * * *", keep: 2 } });
    const seen = new Set<string>();
    try {
      await publish(scheduled, await scheduled.userToken("bob"), await wheel({ name: "nightly", version: "1.0" }));
      await waitFor("three scheduled backups", async () => {
        const folder = join(scheduledDest, "snapshots");
        for (const name of existsSync(folder) ? readdirSync(folder) : []) if (!name.startsWith(".")) seen.add(name);
        return seen.size >= 3 ? true : undefined;
      }, { timeoutMs: 60_000 });
    } finally {
      await scheduled.stop();
    }
    expect(readdirSync(join(scheduledDest, "snapshots")).filter((name) => !name.startsWith(".")).length).toBe(2);
  });
});
