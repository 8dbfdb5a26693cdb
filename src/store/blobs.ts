import { execFile, execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { closeSync, createReadStream, existsSync, fsyncSync, linkSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statfsSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { open, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import { promisify } from "node:util";
import { blake2b, createBLAKE2b } from "hash-wasm";
import { conflict, tooLarge } from "../core/errors.js";
import type { Sha256 } from "../core/types.js";
import { inUse, ownedName } from "./owners.js";

const execFileAsync = promisify(execFile);

/** A file written to storage/tmp, hashed and fsynced, not yet visible under files/. */
export interface Staged {
  path: string;
  size: number;
  sha256: Sha256;
  md5: string;
  /** BLAKE2b-256, as twine sends it; null only for bytes staged with `stageBytes` (a wheel's METADATA). */
  blake2b256: string | null;
}

export interface StageOptions {
  maxBytes: number;
  /**
   * False: leave the bytes to `syncFileSystem()`, which a batch (an import) calls once before the
   * transaction that records them; a file is never recorded before its bytes are on disk.
   */
  sync?: boolean;
}

/**
 * The artifact folder: storage/files/<project>/<filename>, the same path as the download URL so
 * nginx can serve it. Files are staged in storage/tmp (same filesystem) and hard-linked into place,
 * so a name is never replaced and a half-written file is never visible.
 */
export class Blobs {
  readonly filesDir: string;
  private readonly tmpDir: string;
  /** Where fsck puts files that no row accounts for: moved aside, never deleted. */
  readonly lostFoundDir: string;

  constructor(private readonly root: string) {
    this.filesDir = path.join(root, "files");
    this.tmpDir = path.join(root, "tmp");
    this.lostFoundDir = path.join(root, "lost+found");
    mkdirSync(this.filesDir, { recursive: true });
    mkdirSync(this.tmpDir, { recursive: true });
  }

  /** Free space on the storage filesystem for pydepot's user (root's reserved blocks not counted). */
  freeBytes(): number {
    // The root, not tmp/: /healthz still answers when tmp/ is gone.
    const stats = statfsSync(this.root);
    return stats.bavail * stats.bsize;
  }

  async stage(source: AsyncIterable<Buffer> & Readable, options: StageOptions): Promise<Staged> {
    const file = this.tmpName();
    const handle = await open(file, "wx");
    const sha256 = createHash("sha256");
    const md5 = createHash("md5");
    // Node's OpenSSL has no BLAKE2b-256; the WebAssembly one hashes at ~700 MB/s (plain JS: ~35).
    const blake = await createBLAKE2b(256);
    let size = 0;
    try {
      // Not destroyed on an early exit: a destroyed part aborts the whole form (a 500 instead of the 413).
      for await (const chunk of source.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > options.maxBytes) {
          source.resume();
          throw tooLarge(`File too large: the limit is ${options.maxBytes} bytes`);
        }
        sha256.update(chunk);
        md5.update(chunk);
        blake.update(chunk);
        await handle.write(chunk);
      }
      if (options.sync !== false) await handle.sync();
    } catch (error) {
      await handle.close();
      rmSync(file, { force: true });
      throw error;
    }
    await handle.close();
    return {
      path: file,
      size,
      sha256: sha256.digest("hex") as Sha256,
      md5: md5.digest("hex"),
      blake2b256: blake.digest("hex"),
    };
  }

  stageBytes(bytes: Buffer): Staged {
    const file = this.tmpName();
    try {
      writeFileSync(file, bytes, { flag: "wx", flush: true });
    } catch (error) {
      // Disk full: the name was created before the write failed.
      rmSync(file, { force: true });
      throw error;
    }
    return stagedBytes(file, bytes);
  }

  /**
   * stageBytes for a batch (an import's small files, read whole, and their METADATA): not fsynced
   * (see `syncFileSystem`). Written synchronously: through the thread pool, each small file cost
   * more in hand-offs between threads than in writing (an import of 10,000 files spent twice the
   * kernel time, in futex waits). The bytes are hashed from memory, BLAKE2b too, by one shared
   * WebAssembly instance (creating one per file, as a stream needs, cost more than the hashing).
   */
  async stageBytesUnsynced(bytes: Buffer): Promise<Staged> {
    const file = this.tmpName();
    try {
      writeFileSync(file, bytes, { flag: "wx" });
    } catch (error) {
      rmSync(file, { force: true });
      throw error;
    }
    return { ...stagedBytes(file, bytes), blake2b256: await blake2b(bytes, 256) };
  }

  /**
   * Link a staged file to its final name; fails if the name exists. Call inside the transaction
   * that records it: the `.dest` note lets the start-up sweep undo a link whose commit never came.
   */
  publish(staged: Staged, project: string, filename: string, options: { syncDirectory?: boolean; noted?: boolean } = {}): void {
    if (!options.noted) writeFileSync(`${staged.path}.dest`, path.join(project, filename));
    const directory = path.join(this.filesDir, project);
    try {
      linkAbsent(staged.path, path.join(directory, filename));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "EEXIST") throw conflict(`File already exists: ${filename}`);
      throw error;
    }
    if (options.syncDirectory !== false) syncDirectory(directory);
  }

  /**
   * One publish note for a whole batch (then `publish(…, { noted: true })`), written before its
   * transaction: what a `.dest` note says, one line per link, `<staged name>\t<project>/<filename>`.
   * A line whose link never came is harmless: the sweep acts only on a published name that is
   * that staged file. Returns the note, for `forgetNote` once the batch's fate is settled.
   */
  async noteBatch(links: { staged: Staged; project: string; filename: string }[]): Promise<string> {
    const note = `${this.tmpName()}${BATCH_NOTE}`;
    await writeFile(note, links.map(({ staged, project, filename }) => `${path.basename(staged.path)}\t${path.join(project, filename)}\n`).join(""));
    return note;
  }

  forgetNote(note: string): void {
    rmSync(note, { force: true });
  }

  /**
   * Make everything written to the storage's filesystem durable at once: one syncfs(2) (coreutils
   * `sync --file-system`; Node has no binding). A batch calls it twice: before its transaction for
   * the bytes staged with `sync: false` and the batch note, instead of an fsync per file (what held
   * an import to ~200 files/s); and after linking, before the commit, for every folder it linked
   * into, instead of an fsync per project folder.
   */
  syncFileSystem(): void {
    execFileSync("sync", ["--file-system", this.tmpDir], { stdio: "ignore" });
  }

  /** syncFileSystem, leaving the event loop free meanwhile: an import stages its next batch while this one's bytes are written out. */
  async syncFileSystemAsync(): Promise<void> {
    await execFileAsync("sync", ["--file-system", this.tmpDir]);
  }

  /** Undo publish() after its transaction failed: unlink the name if it is still this staged file. */
  unpublish(staged: Staged, project: string, filename: string): void {
    const published = this.locate(project, filename);
    if (!sameFile(published, staged.path)) return;
    unlinkSync(published);
    syncDirectory(path.dirname(published));
  }

  /** Forget a staged file once its fate is settled (recorded or refused). */
  discard(staged: Staged): void {
    unlinkIfPresent(staged.path);
    unlinkIfPresent(`${staged.path}.dest`);
  }

  locate(project: string, filename: string): string {
    return path.join(this.filesDir, project, filename);
  }

  remove(project: string, filename: string): void {
    rmSync(this.locate(project, filename), { force: true });
  }

  /**
   * Start-up repair: remove what dead processes left in tmp/, and unlink published files whose
   * recording transaction never committed.
   */
  sweep(isRecorded: (project: string, filename: string) => boolean): number {
    let removed = 0;
    // readdir lists `<staged>` before `<staged>.dest`; read the notes first, while the staged files still exist.
    const entries = readdirSync(this.tmpDir).sort((a, b) => Number(isNote(b)) - Number(isNote(a)));
    for (const entry of entries) {
      if (inUse(this.tmpDir, entry)) continue;
      const file = path.join(this.tmpDir, entry);
      for (const { staged, relative } of isNote(entry) ? this.readNote(file) : []) {
        const [project, filename] = relative.split(path.sep);
        const published = this.locate(project, filename);
        if (!isRecorded(project, filename) && existsSync(staged) && sameFile(published, staged)) {
          unlinkSync(published);
          removed++;
        }
      }
      rmSync(file, { force: true });
    }
    return removed;
  }

  /** A `.dest` note (one link) or a batch note (one line per link): staged path and `<project>/<filename>`. */
  private readNote(note: string): { staged: string; relative: string }[] {
    const text = readFileSync(note, "utf8");
    if (note.endsWith(".dest")) return [{ staged: note.slice(0, -".dest".length), relative: text }];
    return text
      .split("\n")
      .filter(Boolean)
      .map((line) => {
        const [staged, relative] = line.split("\t");
        return { staged: path.join(this.tmpDir, staged), relative };
      });
  }

  /** Every file under files/, as `<project>/<filename>`. */
  listFiles(): string[] {
    return readdirSync(this.filesDir, { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile())
      .map((entry) => path.relative(this.filesDir, path.join(entry.parentPath, entry.name)).split(path.sep).join("/"));
  }

  /** What dead processes left in tmp/ (what the start-up sweep removes). */
  leftovers(): string[] {
    return readdirSync(this.tmpDir).filter((entry) => !inUse(this.tmpDir, entry));
  }

  /** `<project>/<filename>` of files a running process is publishing: linked, their row not yet committed. */
  publishing(): Set<string> {
    const names = new Set<string>();
    for (const entry of readdirSync(this.tmpDir)) {
      if (!isNote(entry) || !inUse(this.tmpDir, entry)) continue;
      try {
        for (const { relative } of this.readNote(path.join(this.tmpDir, entry))) names.add(relative.split(path.sep).join("/"));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
      }
    }
    return names;
  }

  /** Move a file out of files/ into lost+found/ (same filesystem, so a rename); returns where it went. */
  quarantine(relative: string): string {
    const target = path.join(this.lostFoundDir, relative);
    mkdirSync(path.dirname(target), { recursive: true });
    renameSync(path.join(this.filesDir, relative), target);
    return target;
  }

  /** Replace a file's bytes atomically: staged in tmp/, then renamed over the old name. */
  replace(relative: string, bytes: Buffer): void {
    const staged = this.tmpName();
    writeFileSync(staged, bytes, { flag: "wx", flush: true });
    renameSync(staged, path.join(this.filesDir, relative));
    syncDirectory(path.dirname(path.join(this.filesDir, relative)));
  }

  private tmpName(): string {
    return path.join(this.tmpDir, ownedName(randomBytes(8).toString("hex")));
  }
}

/** The sha256 of a file, read as a stream (backups and fsck hash while the server serves). */
export function hashFile(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash("sha256");
    createReadStream(file)
      .on("data", (chunk) => hash.update(chunk))
      .on("error", reject)
      .on("end", () => resolve(hash.digest("hex")));
  });
}

const BATCH_NOTE = ".batch";

function stagedBytes(file: string, bytes: Buffer): Staged {
  return {
    path: file,
    size: bytes.length,
    sha256: createHash("sha256").update(bytes).digest("hex") as Sha256,
    md5: createHash("md5").update(bytes).digest("hex"),
    blake2b256: null,
  };
}

function isNote(entry: string): boolean {
  return entry.endsWith(".dest") || entry.endsWith(BATCH_NOTE);
}

function sameFile(a: string, b: string): boolean {
  if (!existsSync(a)) return false;
  const [first, second] = [statSync(a), statSync(b)];
  return first.ino === second.ino && first.dev === second.dev;
}

/** Link into a project folder, creating the folder only when the link finds it missing (the rare case, kept off an import's path). */
function linkAbsent(existing: string, target: string): void {
  try {
    linkSync(existing, target);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    mkdirSync(path.dirname(target), { recursive: true });
    linkSync(existing, target);
  }
}

/** One unlink, where rmSync's `force` costs two stats more per file (a batch discards thousands). */
function unlinkIfPresent(file: string): void {
  try {
    unlinkSync(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
}

function syncDirectory(directory: string): void {
  const descriptor = openSync(directory, "r");
  try {
    fsyncSync(descriptor);
  } finally {
    closeSync(descriptor);
  }
}
