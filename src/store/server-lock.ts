import { mkdirSync } from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { AppError } from "../core/errors.js";

export interface ServerLock {
  release(): void;
}

/**
 * One server per storage folder: a second one would requeue the first one's running checks at its
 * start and run every scheduled job (checks, re-verification, backups) a second time. SQLite's
 * exclusive lock on storage/server.lock says whether another server holds the folder: held for as
 * long as the server runs, and let go by the kernel when its process ends, however it ends, so no
 * stale pid file is left to clean up.
 */
export function holdServerLock(storage: string): ServerLock {
  mkdirSync(storage, { recursive: true });
  const file = path.join(storage, "server.lock");
  const lock = new Database(file, { timeout: 0 });
  try {
    lock.pragma("locking_mode = EXCLUSIVE");
    lock.exec("BEGIN EXCLUSIVE");
  } catch (error) {
    lock.close();
    if ((error as { code?: string }).code !== "SQLITE_BUSY") throw error;
    throw new AppError(1, `Another pydepot server is serving ${storage} (it holds ${file}): stop it first, or give this one a storage.path of its own`);
  }
  return { release: () => lock.close() };
}
