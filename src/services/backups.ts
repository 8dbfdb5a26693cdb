import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { copyFile, open, rename } from "node:fs/promises";
import path from "node:path";
import { AppError } from "../core/errors.js";
import { hashFile } from "../store/blobs.js";
import { isAlive, ownedName } from "../store/owners.js";
import type { Db } from "../store/db.js";
import type { FileStore } from "../store/files.js";
import { copyDatabase, integrityProblems, markDeletedInCopy, openCopy, recordedFiles } from "../store/snapshots.js";

/**
 * A backup folder: `files/<project>/<filename>` is a pool shared by every snapshot (files are
 * immutable, so a name copied once is never copied again), and `snapshots/<time>/` holds one
 * consistent database copy with the manifest of the files its rows need. A snapshot folder
 * without the `.partial-` prefix is complete.
 */
const POOL = "files";
const SNAPSHOTS = "snapshots";
const DATABASE = "pydepot.sqlite3";
const MANIFEST = "manifest.json";
const PARTIAL = ".partial-";
const LOCK = "lock";

interface ManifestEntry {
  /** `<project>/<filename>` under the pool (and under storage/files). */
  path: string;
  size: number;
  sha256: string;
}

interface Manifest {
  format: 1;
  createdAt: string;
  database: { size: number; sha256: string };
  files: ManifestEntry[];
}

export interface BackupReport {
  snapshot: string;
  files: number;
  copied: number;
  reused: number;
  copiedBytes: number;
  /** Snapshots removed to keep the newest `keep`. */
  removed: string[];
}

export interface RestoreReport {
  snapshot: string;
  files: number;
  bytes: number;
}

export class Backups {
  constructor(
    private readonly db: Db,
    private readonly files: FileStore,
    private readonly storagePath: string,
    private readonly now: () => Date,
  ) {}

  /**
   * The database first (SQLite's online backup API), then every file the copy's rows reference:
   * a file is linked into storage before its row commits and never changes, so each one is on
   * disk. Uploads go on meanwhile; what they add after the copy is in the next backup.
   */
  async backup(destination: string, keep?: number): Promise<BackupReport> {
    const root = path.resolve(destination);
    if (isInside(root, this.storagePath) || isInside(this.storagePath, root)) {
      throw new AppError(2, `Cannot back up into ${root}: it overlaps the storage folder ${this.storagePath}; choose a folder outside it`);
    }
    mkdirSync(path.join(root, POOL), { recursive: true });
    mkdirSync(path.join(root, SNAPSHOTS), { recursive: true });
    const unlock = lock(root);
    const name = this.now().toISOString().replace(/:/g, "-");
    const partial = path.join(root, SNAPSHOTS, `${PARTIAL}${name}`);
    try {
      mkdirSync(partial);
      const report = await this.snapshot(root, partial, path.join(root, SNAPSHOTS, name));
      if (keep !== undefined) report.removed = prune(root, keep);
      return report;
    } catch (error) {
      // The files already copied stay in the pool for the next backup; the half snapshot goes.
      rmSync(partial, { recursive: true, force: true });
      throw error;
    } finally {
      unlock();
    }
  }

  /** The database copy, the files its rows name, the manifest; then `partial` becomes `complete`. */
  private async snapshot(root: string, partial: string, complete: string): Promise<BackupReport> {
    const databaseFile = path.join(partial, DATABASE);
    await copyDatabase(this.db, databaseFile);
    const report = { snapshot: complete, files: 0, copied: 0, reused: 0, copiedBytes: 0, removed: [] as string[] };
    const entries: ManifestEntry[] = [];
    const copy = openCopy(databaseFile, { readonly: false });
    try {
      for (const file of recordedFiles(copy)) {
        if (file.deleted) continue;
        const wanted = [{ path: `${file.project}/${file.filename}`, sha256: file.sha256 }];
        if (file.metadataSha256) wanted.push({ path: `${file.project}/${file.filename}.metadata`, sha256: file.metadataSha256 });
        const copied: (ManifestEntry & { fresh: boolean })[] = [];
        try {
          for (const entry of wanted) copied.push(await this.copyToPool(root, entry.path, entry.sha256));
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
          const deletedAt = this.files.byFilename(file.filename)?.deletedAt;
          if (!deletedAt) throw new AppError(1, `${file.project}/${file.filename} is recorded but not in the storage folder: run pydepot fsck`);
          // Deleted after the database copy was taken: the copy says so too, as if taken a moment later.
          markDeletedInCopy(copy, file.filename, deletedAt);
          continue;
        }
        for (const { fresh, ...entry } of copied) {
          entries.push(entry);
          if (fresh) {
            report.copied++;
            report.copiedBytes += entry.size;
          } else report.reused++;
        }
        report.files++;
      }
    } finally {
      copy.close();
    }
    const manifest: Manifest = { format: 1, createdAt: this.now().toISOString(), database: { size: statSync(databaseFile).size, sha256: await hashFile(databaseFile) }, files: entries };
    writeFileSync(path.join(partial, MANIFEST), `${JSON.stringify(manifest, null, 1)}\n`, { flush: true });
    await syncPath(databaseFile);
    await rename(partial, complete);
    await syncPath(path.join(root, SNAPSHOTS));
    return report;
  }

  /** Copy one stored file into the pool unless it is there already, checking the copy's sha256 against its row. */
  private async copyToPool(root: string, relative: string, sha256: string): Promise<ManifestEntry & { fresh: boolean }> {
    const source = path.join(this.storagePath, "files", relative);
    const target = path.join(root, POOL, relative);
    const size = statSync(source).size;
    if (existsSync(target) && statSync(target).size === size) return { path: relative, size, sha256, fresh: false };
    const incoming = path.join(root, POOL, `.incoming-${process.pid}-${randomBytes(6).toString("hex")}`);
    try {
      await copyFile(source, incoming);
      const copied = await hashFile(incoming);
      if (copied !== sha256) {
        throw new AppError(1, `${relative} in storage does not match its recorded sha256 (${copied}, recorded ${sha256}): run pydepot fsck`);
      }
      await syncPath(incoming);
      mkdirSync(path.dirname(target), { recursive: true });
      await rename(incoming, target);
    } finally {
      rmSync(incoming, { force: true });
    }
    return { path: relative, size, sha256, fresh: true };
  }
}

/**
 * Restore a snapshot (or the newest one in a backup folder) into an empty storage folder, every
 * file checked against the manifest; the database goes in last, so a restore that stops half-way
 * leaves no database that points at missing files.
 */
export async function restoreBackup(source: string, storagePath: string): Promise<RestoreReport> {
  const snapshot = findSnapshot(path.resolve(source));
  const pool = path.join(snapshot, "..", "..", POOL);
  if (existsSync(storagePath) && readdirSync(storagePath).length > 0) {
    throw new AppError(1, `Refusing to restore into ${storagePath}: it is not empty (restore needs an empty storage folder; move it away or set storage.path)`);
  }
  const manifest = JSON.parse(readFileSync(path.join(snapshot, MANIFEST), "utf8")) as Manifest;
  const tmp = path.join(storagePath, "tmp");
  mkdirSync(tmp, { recursive: true });
  mkdirSync(path.join(storagePath, "files"), { recursive: true });
  let bytes = 0;
  for (const entry of manifest.files) {
    const target = path.join(storagePath, "files", entry.path);
    mkdirSync(path.dirname(target), { recursive: true });
    await copyChecked(path.join(pool, entry.path), target, entry.sha256, tmp);
    bytes += entry.size;
  }
  const database = path.join(storagePath, DATABASE);
  const staged = path.join(tmp, ownedName(`restore-${DATABASE}`));
  await copyChecked(path.join(snapshot, DATABASE), staged, manifest.database.sha256, tmp, false);
  const copy = openCopy(staged, { readonly: true });
  const problems = integrityProblems(copy);
  copy.close();
  if (problems.length > 0) throw new AppError(1, `The database in ${snapshot} is damaged: ${problems.slice(0, 3).join("; ")}`);
  await rename(staged, database);
  await syncPath(storagePath);
  return { snapshot, files: manifest.files.length, bytes };
}

function findSnapshot(source: string): string {
  if (existsSync(path.join(source, MANIFEST))) return source;
  const snapshots = existsSync(path.join(source, SNAPSHOTS)) ? completeSnapshots(source) : [];
  if (snapshots.length === 0) throw new AppError(1, `No backup in ${source}: expected a folder made by pydepot backup, or one of its snapshots/<time> folders`);
  return path.join(source, SNAPSHOTS, snapshots.at(-1)!);
}

/** Snapshot names, oldest first (the names are ISO times). */
function completeSnapshots(root: string): string[] {
  return readdirSync(path.join(root, SNAPSHOTS))
    .filter((name) => !name.startsWith("."))
    .sort();
}

/** Keep the newest `keep` snapshots; then drop pool files that no remaining manifest names, and dead partial snapshots. */
function prune(root: string, keep: number): string[] {
  const snapshots = completeSnapshots(root);
  const removed = snapshots.slice(0, Math.max(0, snapshots.length - keep));
  for (const name of removed) rmSync(path.join(root, SNAPSHOTS, name), { recursive: true, force: true });
  for (const name of readdirSync(path.join(root, SNAPSHOTS))) {
    if (name.startsWith(PARTIAL)) rmSync(path.join(root, SNAPSHOTS, name), { recursive: true, force: true });
  }
  const needed = new Set<string>();
  for (const name of completeSnapshots(root)) {
    const manifest = JSON.parse(readFileSync(path.join(root, SNAPSHOTS, name, MANIFEST), "utf8")) as Manifest;
    for (const entry of manifest.files) needed.add(entry.path);
  }
  const pool = path.join(root, POOL);
  for (const entry of readdirSync(pool, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const relative = path.relative(pool, path.join(entry.parentPath, entry.name)).split(path.sep).join("/");
    if (!needed.has(relative)) rmSync(path.join(pool, relative));
  }
  return removed.map((name) => path.join(root, SNAPSHOTS, name));
}

/** One backup at a time per folder (a scheduled one and one typed by hand); a dead holder's lock is taken over. */
function lock(root: string): () => void {
  const file = path.join(root, LOCK);
  for (;;) {
    try {
      writeFileSync(file, String(process.pid), { flag: "wx" });
      return () => rmSync(file, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const holder = Number(readFileSync(file, "utf8"));
      if (isAlive(holder)) throw new AppError(1, `Another backup (process ${holder}) is writing to ${root}; wait for it to finish`);
      rmSync(file, { force: true });
    }
  }
}

async function copyChecked(source: string, target: string, sha256: string, tmp: string, place = true): Promise<void> {
  const staged = place ? path.join(tmp, ownedName(`restore-${randomBytes(6).toString("hex")}`)) : target;
  await copyFile(source, staged);
  const copied = await hashFile(staged);
  if (copied !== sha256) {
    rmSync(staged, { force: true });
    throw new AppError(1, `${source} does not match the backup's manifest (sha256 ${copied}, expected ${sha256}): the backup is damaged`);
  }
  await syncPath(staged);
  if (place) await rename(staged, target);
}


async function syncPath(file: string): Promise<void> {
  const handle = await open(file, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function isInside(child: string, parent: string): boolean {
  const relative = path.relative(parent, child);
  return relative === "" || (!relative.startsWith("..") && !path.isAbsolute(relative));
}
