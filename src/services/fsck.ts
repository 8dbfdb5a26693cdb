import { createHash } from "node:crypto";
import { existsSync, statSync } from "node:fs";
import path from "node:path";
import { hashFile, type Blobs } from "../store/blobs.js";
import type { Db } from "../store/db.js";
import { recordedFiles, type RecordedFile } from "../store/snapshots.js";
import { readArtifactMetadata } from "./metadata.js";

export type ProblemKind = "missing" | "size" | "sha256" | "metadata" | "unrecorded" | "leftover";

export interface Problem {
  kind: ProblemKind;
  /** `<project>/<filename>` under files/, or an entry of tmp/. */
  path: string;
  detail: string;
  /** What --repair did about it; null when it cannot be repaired safely (or was not asked to). */
  repair: string | null;
}

/**
 * The storage checked against the database: every live row has its file with the right size
 * and sha256 (and its `.metadata`), every file has a live row, nothing is left in tmp/. Repairs
 * never delete or change a file a live row points to, except a `.metadata` file rebuilt from its
 * own wheel to the recorded hash: unrecorded files go to lost+found/, leftovers are swept.
 */
export class Fsck {
  constructor(
    private readonly db: Db,
    private readonly blobs: Blobs,
  ) {}

  async check(repair: boolean): Promise<Problem[]> {
    // Files first, then rows, then the files being published: a file listed before its row
    // committed is either in the rows or still named by its publisher's note.
    const listed = this.blobs.listFiles();
    const rows = recordedFiles(this.db);
    const publishing = this.blobs.publishing();
    const problems: Problem[] = [];
    const expected = new Set<string>();
    for (const row of rows) {
      if (row.deleted) continue;
      const relative = `${row.project}/${row.filename}`;
      expected.add(relative);
      const damage = await this.damage(relative, row.size, row.sha256);
      if (damage) problems.push({ ...damage, path: relative, repair: null });
      if (row.metadataSha256) {
        expected.add(`${relative}.metadata`);
        const metadataDamage = await this.damage(`${relative}.metadata`, null, row.metadataSha256);
        if (metadataDamage) {
          const fixed = repair && !damage ? await this.rebuildMetadata(row) : null;
          problems.push({ kind: "metadata", path: `${relative}.metadata`, detail: metadataDamage.detail, repair: fixed });
        }
      }
    }
    const recorded = new Set(rows.map((row) => `${row.project}/${row.filename}`));
    const leftovers = this.blobs.leftovers();
    if (repair && leftovers.length > 0) this.blobs.sweep((project, filename) => expected.has(`${project}/${filename}`));
    for (const entry of leftovers) {
      problems.push({ kind: "leftover", path: `tmp/${entry}`, detail: "left in tmp/ by a process that is gone", repair: repair ? "removed" : null });
    }
    for (const relative of listed) {
      if (expected.has(relative) || publishing.has(relative)) continue;
      const why = recorded.has(relative.replace(/\.metadata$/, "")) ? "its row says the file was deleted" : "no row records it";
      const moved = repair && existsSync(path.join(this.blobs.filesDir, relative)) ? `moved to ${this.blobs.quarantine(relative)}` : null;
      problems.push({ kind: "unrecorded", path: relative, detail: why, repair: repair ? (moved ?? "gone after the tmp/ sweep") : null });
    }
    return problems;
  }

  private async damage(relative: string, size: number | null, sha256: string): Promise<{ kind: ProblemKind; detail: string } | null> {
    const file = path.join(this.blobs.filesDir, relative);
    if (!existsSync(file)) return { kind: "missing", detail: "recorded but not on disk" };
    const actualSize = statSync(file).size;
    if (size !== null && actualSize !== size) return { kind: "size", detail: `${actualSize} bytes, recorded ${size}` };
    const actual = await hashFile(file);
    if (actual !== sha256) return { kind: "sha256", detail: `sha256 ${actual}, recorded ${sha256}` };
    return null;
  }

  /** The wheel is intact, so its METADATA is what was served: write it again if it hashes as recorded. */
  private async rebuildMetadata(row: RecordedFile): Promise<string | null> {
    const relative = `${row.project}/${row.filename}`;
    const metadata = await readArtifactMetadata(path.join(this.blobs.filesDir, relative), row.kind, row.filename);
    const bytes = metadata.coreMetadataFile;
    if (!bytes || createHash("sha256").update(bytes).digest("hex") !== row.metadataSha256) return null;
    const damaged = existsSync(path.join(this.blobs.filesDir, `${relative}.metadata`)) ? `; the damaged one moved to ${this.blobs.quarantine(`${relative}.metadata`)}` : "";
    this.blobs.replace(`${relative}.metadata`, bytes);
    return `rebuilt from the wheel${damaged}`;
  }
}
