import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, utimesSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AppError } from "../../src/core/errors.js";
import { Blobs, type Staged } from "../../src/store/blobs.js";

/** A pid far above Linux's pid_max limit (2**22), so no process owns it. */
const DEAD_PID = 2 ** 22 + 12345;
const MEGABYTE = 1024 * 1024;

let root: string;
let blobs: Blobs;

beforeEach(() => {
  root = mkdtempSync(path.join(tmpdir(), "pydepot-blobs-"));
  blobs = new Blobs(root);
});

afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

const tmpEntries = () => readdirSync(path.join(root, "tmp")).sort();
const hex = (algorithm: string, bytes: Buffer) => createHash(algorithm).update(bytes).digest("hex");
const streamOf = (...chunks: Buffer[]) => Readable.from(chunks, { objectMode: false });

async function thrownBy(work: () => unknown): Promise<AppError> {
  try {
    await work();
  } catch (error) {
    expect(error).toBeInstanceOf(AppError);
    return error as AppError;
  }
  throw new Error("expected an AppError");
}

describe("Blobs.stage", () => {
  it("writes the bytes to tmp and reports size, sha256, md5 and BLAKE2b-256", async () => {
    const chunks = [Buffer.from("hello "), Buffer.alloc(70_000, 7), Buffer.from("world")];
    const bytes = Buffer.concat(chunks);
    const staged = await blobs.stage(streamOf(...chunks), { maxBytes: MEGABYTE });
    expect(staged.size).toBe(bytes.length);
    expect(staged.sha256).toBe(hex("sha256", bytes));
    expect(staged.md5).toBe(hex("md5", bytes));
    expect(staged.blake2b256).toMatch(/^[0-9a-f]{64}$/);
    expect(path.dirname(staged.path)).toBe(path.join(root, "tmp"));
    expect(readFileSync(staged.path).equals(bytes)).toBe(true);
  });

  it("computes BLAKE2b-256 as twine does, across chunks", async () => {
    // hashlib.blake2b(b"abc", digest_size=32).hexdigest()
    const staged = await blobs.stage(streamOf(Buffer.from("ab"), Buffer.from("c")), { maxBytes: MEGABYTE });
    expect(staged.blake2b256).toBe("bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319");
    expect(staged.sha256).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  });

  it("accepts a file of exactly the size limit", async () => {
    const staged = await blobs.stage(streamOf(Buffer.alloc(1000, 1)), { maxBytes: 1000 });
    expect(staged.size).toBe(1000);
  });

  it("refuses a file over the size limit with 413 and leaves nothing in tmp", async () => {
    const error = await thrownBy(() => blobs.stage(streamOf(Buffer.alloc(600, 1), Buffer.alloc(600, 2)), { maxBytes: 1000 }));
    expect(error.status).toBe(413);
    expect(error.message).toBe("File too large: the limit is 1000 bytes");
    expect(tmpEntries()).toEqual([]);
  });
});

describe("Blobs.publish", () => {
  it("makes the staged file visible at files/<project>/<filename>", async () => {
    const staged = await blobs.stage(streamOf(Buffer.from("first")), { maxBytes: MEGABYTE });
    blobs.publish(staged, "demo-pkg", "demo_pkg-1.0.tar.gz");
    const published = blobs.locate("demo-pkg", "demo_pkg-1.0.tar.gz");
    expect(published).toBe(path.join(root, "files", "demo-pkg", "demo_pkg-1.0.tar.gz"));
    expect(readFileSync(published, "utf8")).toBe("first");
    blobs.discard(staged);
    expect(tmpEntries()).toEqual([]);
    expect(readFileSync(published, "utf8")).toBe("first");
  });

  it("refuses an existing name with 409 and keeps the original bytes", async () => {
    const first = await blobs.stage(streamOf(Buffer.from("original")), { maxBytes: MEGABYTE });
    blobs.publish(first, "demo-pkg", "demo_pkg-1.0.tar.gz");
    const second = await blobs.stage(streamOf(Buffer.from("replacement")), { maxBytes: MEGABYTE });
    const error = await thrownBy(() => blobs.publish(second, "demo-pkg", "demo_pkg-1.0.tar.gz"));
    expect(error.status).toBe(409);
    expect(error.message).toBe("File already exists: demo_pkg-1.0.tar.gz");
    expect(readFileSync(blobs.locate("demo-pkg", "demo_pkg-1.0.tar.gz"), "utf8")).toBe("original");
  });
});

describe("Blobs.sweep (start-up crash repair)", () => {
  /** Stage and publish, then make the tmp files look like a process that died before committing. */
  async function publishedByDeadProcess(project: string, filename: string): Promise<void> {
    const staged: Staged = await blobs.stage(streamOf(Buffer.from(`bytes of ${filename}`)), { maxBytes: MEGABYTE });
    blobs.publish(staged, project, filename);
    const random = path.basename(staged.path).split("-")[1];
    const orphan = path.join(root, "tmp", `${DEAD_PID}-${random}`);
    renameSync(`${staged.path}.dest`, `${orphan}.dest`);
    renameSync(staged.path, orphan);
  }

  const filenames = Array.from({ length: 3 }, (_, index) => `demo_pkg-1.${index}.tar.gz`);

  it("removes published files whose recording never committed, and cleans tmp", async () => {
    for (const filename of filenames) await publishedByDeadProcess("demo-pkg", filename);
    expect(tmpEntries()).toHaveLength(2 * filenames.length);

    const removed = blobs.sweep(() => false);

    expect(removed).toBe(filenames.length);
    for (const filename of filenames) expect(existsSync(blobs.locate("demo-pkg", filename))).toBe(false);
    expect(tmpEntries()).toEqual([]);
  });

  it("keeps published files that were recorded, and cleans tmp", async () => {
    for (const filename of filenames) await publishedByDeadProcess("demo-pkg", filename);
    const asked: string[] = [];

    const removed = blobs.sweep((project, filename) => {
      asked.push(`${project}/${filename}`);
      return true;
    });

    expect(removed).toBe(0);
    expect(asked.sort()).toEqual(filenames.map((filename) => `demo-pkg/${filename}`).sort());
    for (const filename of filenames) {
      expect(readFileSync(blobs.locate("demo-pkg", filename), "utf8")).toBe(`bytes of ${filename}`);
    }
    expect(tmpEntries()).toEqual([]);
  });

  it("leaves the staged files of a live process alone", async () => {
    const staged = await blobs.stage(streamOf(Buffer.from("in flight")), { maxBytes: MEGABYTE });
    blobs.publish(staged, "demo-pkg", "demo_pkg-2.0.tar.gz");

    expect(blobs.sweep(() => false)).toBe(0);

    expect(readFileSync(blobs.locate("demo-pkg", "demo_pkg-2.0.tar.gz"), "utf8")).toBe("in flight");
    expect(tmpEntries()).toEqual([path.basename(staged.path), `${path.basename(staged.path)}.dest`].sort());
  });

  it("on a storage folder shared by several hosts, leaves another host's uploads in flight alone until they are a day old", async () => {
    const staged = await blobs.stage(streamOf(Buffer.from("uploading on another server")), { maxBytes: MEGABYTE });
    blobs.publish(staged, "demo-pkg", "demo_pkg-4.0.tar.gz");
    // The same entries as another host names them: a pid that is dead here says nothing of a process there.
    const [, random] = path.basename(staged.path).split("-");
    const other = path.join(root, "tmp", `0123456789ab.${DEAD_PID}-${random}`);
    renameSync(`${staged.path}.dest`, `${other}.dest`);
    renameSync(staged.path, other);

    expect(blobs.sweep(() => false)).toBe(0);
    expect(blobs.leftovers()).toEqual([]);
    expect(blobs.publishing()).toEqual(new Set(["demo-pkg/demo_pkg-4.0.tar.gz"]));
    expect(readFileSync(blobs.locate("demo-pkg", "demo_pkg-4.0.tar.gz"), "utf8")).toBe("uploading on another server");

    const dayAgo = new Date(Date.now() - 25 * 60 * 60 * 1000);
    for (const entry of [other, `${other}.dest`]) utimesSync(entry, dayAgo, dayAgo);
    expect(blobs.sweep(() => false)).toBe(1);
    expect(existsSync(blobs.locate("demo-pkg", "demo_pkg-4.0.tar.gz"))).toBe(false);
    expect(tmpEntries()).toEqual([]);
  });

  it("does not remove a file of the same name published by someone else", async () => {
    await publishedByDeadProcess("demo-pkg", "demo_pkg-3.0.tar.gz");
    blobs.remove("demo-pkg", "demo_pkg-3.0.tar.gz");
    const other = await blobs.stage(streamOf(Buffer.from("recorded by another upload")), { maxBytes: MEGABYTE });
    blobs.publish(other, "demo-pkg", "demo_pkg-3.0.tar.gz");
    blobs.discard(other);

    expect(blobs.sweep(() => false)).toBe(0);

    expect(readFileSync(blobs.locate("demo-pkg", "demo_pkg-3.0.tar.gz"), "utf8")).toBe("recorded by another upload");
    expect(tmpEntries()).toEqual([]);
  });
});

describe("batch notes (an import's batch: one note for all its links)", () => {
  /** A batch of a dead process: staged, linked without .dest notes, one batch note naming them all. */
  async function batchByDeadProcess(filenames: string[]): Promise<void> {
    const dead = (file: string) => path.join(root, "tmp", `${DEAD_PID}-${path.basename(file).split("-")[1]}`);
    const staged = await Promise.all(
      filenames.map(async (filename) => {
        const file = await blobs.stage(streamOf(Buffer.from(`bytes of ${filename}`)), { maxBytes: MEGABYTE, sync: false });
        renameSync(file.path, dead(file.path));
        return { ...file, path: dead(file.path) };
      }),
    );
    const note = await blobs.noteBatch(staged.map((file, index) => ({ staged: file, project: "demo-pkg", filename: filenames[index] })));
    blobs.syncFileSystem();
    staged.forEach((file, index) => blobs.publish(file, "demo-pkg", filenames[index], { syncDirectory: false, noted: true }));
    blobs.syncFileSystem();
    renameSync(note, dead(note));
  }

  it("the sweep removes the batch's links whose rows never committed, keeps the recorded ones, and cleans tmp", async () => {
    const filenames = ["demo_pkg-4.0.tar.gz", "demo_pkg-4.1.tar.gz", "demo_pkg-4.2.tar.gz"];
    await batchByDeadProcess(filenames);
    expect(tmpEntries().filter((entry) => entry.endsWith(".batch"))).toHaveLength(1);

    const removed = blobs.sweep((_project, filename) => filename === filenames[1]);

    expect(removed).toBe(2);
    expect(existsSync(blobs.locate("demo-pkg", filenames[0]))).toBe(false);
    expect(readFileSync(blobs.locate("demo-pkg", filenames[1]), "utf8")).toBe(`bytes of ${filenames[1]}`);
    expect(existsSync(blobs.locate("demo-pkg", filenames[2]))).toBe(false);
    expect(tmpEntries()).toEqual([]);
  });

  it("fsck sees a live batch's links as being published, not as stray files", async () => {
    const staged = await blobs.stage(streamOf(Buffer.from("in a batch")), { maxBytes: MEGABYTE, sync: false });
    const note = await blobs.noteBatch([{ staged, project: "demo-pkg", filename: "demo_pkg-5.0.tar.gz" }]);
    blobs.publish(staged, "demo-pkg", "demo_pkg-5.0.tar.gz", { noted: true });

    expect([...blobs.publishing()]).toEqual(["demo-pkg/demo_pkg-5.0.tar.gz"]);
    expect(blobs.sweep(() => false)).toBe(0);
    blobs.forgetNote(note);
    expect(blobs.publishing().size).toBe(0);
  });
});
