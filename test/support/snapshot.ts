import { readdirSync, statSync } from "node:fs";
import path from "node:path";
import type { Db } from "../../src/store/db.js";

/** Every row of every table plus every file under storage: to assert that bad input changed nothing. */
export function snapshot(db: Db, storage: string): { rows: Record<string, unknown[]>; files: string[] } {
  const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all() as string[];
  const rows = Object.fromEntries(tables.map((table) => [table, db.prepare(`SELECT * FROM "${table}"`).all()]));
  const files = (readdirSync(storage, { recursive: true }) as string[])
    .filter((entry) => !entry.startsWith("pydepot.sqlite3"))
    .filter((entry) => statSync(path.join(storage, entry)).isFile())
    .sort();
  return { rows, files };
}
