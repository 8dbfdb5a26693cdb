import Database from "better-sqlite3";
import { MIGRATIONS } from "./migrations.js";
import type { WriteTurns } from "./write-turns.js";

export type Db = Database.Database;

/** Open (creating if needed) and migrate the database; WAL so readers never wait for a writer. */
export function openDb(file: string): Db {
  const db = new Database(file);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = FULL");
  db.pragma("busy_timeout = 5000");
  db.pragma("foreign_keys = ON");
  migrate(db);
  return db;
}

function migrate(db: Db): void {
  const current = db.pragma("user_version", { simple: true }) as number;
  for (let step = current; step < MIGRATIONS.length; step++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[step]);
      db.pragma(`user_version = ${step + 1}`);
    }).immediate();
  }
}

const commitListeners = new WeakMap<Db, (() => void)[]>();

/**
 * Run `listener` after every tx() on `db` that commits, before tx() returns: for derived state that
 * must be current by the time the writer answers (the page files nginx serves). A tx() nested in
 * another commits with the outer one, so only the outer one calls it. The listener must not throw.
 */
export function afterCommit(db: Db, listener: () => void): () => void {
  const listeners = commitListeners.get(db) ?? [];
  commitListeners.set(db, [...listeners, listener]);
  return () => commitListeners.set(db, (commitListeners.get(db) ?? []).filter((other) => other !== listener));
}

const sharedWriteLocks = new WeakMap<Db, WriteTurns>();

/**
 * Take turns with a worker thread's connection for the write lock at every tx() on `db` from now
 * on (write-turns.ts), until the returned function is called.
 */
export function shareWriteLock(db: Db, turns: WriteTurns): () => void {
  sharedWriteLocks.set(db, turns);
  return () => sharedWriteLocks.delete(db);
}

/** Run `work` in one IMMEDIATE transaction, so concurrent writers queue instead of failing mid-way. */
export function tx<T>(db: Db, work: () => T): T {
  const turns = db.inTransaction ? undefined : sharedWriteLocks.get(db);
  turns?.claim();
  let result: T;
  try {
    result = db.transaction(work).immediate();
  } finally {
    turns?.release();
  }
  if (!db.inTransaction) for (const listener of commitListeners.get(db) ?? []) listener();
  return result;
}

/**
 * tx() for rows that a restart derives again (planned jobs): the commit does not wait for an
 * fsync, so it does not hold the event loop for one. WAL keeps the database consistent; a crash
 * loses at most the last such commits, and the next ordinary commit's fsync of the WAL makes
 * them durable with it.
 */
export function derivedTx<T>(db: Db, work: () => T): T {
  db.pragma("synchronous = NORMAL");
  try {
    return tx(db, work);
  } finally {
    db.pragma("synchronous = FULL");
  }
}
