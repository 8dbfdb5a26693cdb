import { createReadStream, existsSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { AppError, notFound } from "../core/errors.js";
import type { Staging } from "./staging.js";
import type { Principal } from "./access.js";
import type { Ingest } from "./ingest.js";

const DISTRIBUTION = /\.(whl|egg|tar\.gz|tar\.bz2|zip)$/;

export interface ImportReport {
  added: string[];
  skipped: string[];
  rejected: { file: string; reason: string }[];
}

/** Register every distribution under a folder (or one file): how an egg directory or the build tools move in. */
export class Imports {
  constructor(
    private readonly ingest: Ingest,
    private readonly staging: Staging,
    private readonly maxBytes: number,
  ) {}

  async importDirectory(principal: Principal, directory: string): Promise<ImportReport> {
    const report: ImportReport = { added: [], skipped: [], rejected: [] };
    for (const file of distributions(directory)) {
      try {
        const result = await this.staging.within(async (set) => {
          const staged = await set.stage(createReadStream(file), this.maxBytes);
          return this.ingest.ingest({ staged, filename: path.basename(file), principal, origin: "import" });
        });
        (result.created ? report.added : report.skipped).push(file);
      } catch (error) {
        if (!(error instanceof AppError)) throw error;
        report.rejected.push({ file, reason: error.message });
      }
    }
    return report;
  }
}

function distributions(directory: string): string[] {
  if (!existsSync(directory)) throw notFound(`No such folder: ${directory}`);
  if (!statSync(directory).isDirectory()) return [path.resolve(directory)];
  return readdirSync(directory, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && DISTRIBUTION.test(entry.name))
    .map((entry) => path.join(entry.parentPath, entry.name))
    .sort();
}
