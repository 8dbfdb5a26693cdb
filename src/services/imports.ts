import { readFile } from "node:fs/promises";
import { createReadStream, existsSync, readdirSync, readlinkSync, realpathSync, statSync, type Dirent, type Stats } from "node:fs";
import path from "node:path";
import { AppError, notFound } from "../core/errors.js";
import { mapConcurrently } from "../core/concurrency.js";
import type { Staged } from "../store/blobs.js";
import type { StagedSet, Staging } from "./staging.js";
import type { Principal } from "./access.js";
import type { Ingest } from "./ingest.js";

const DISTRIBUTION = /\.(whl|egg|tar\.gz|tar\.bz2|zip)$/;
/** A batch ends at this many files or once this many bytes are staged, whichever comes first. */
const BATCH_FILES = 500;
const BATCH_BYTES = 256 * 1024 * 1024;
/** Files staged (read, hashed, written) at once: enough to keep a busy disk's queue full. */
const CONCURRENT_FILES = 8;
/**
 * Files up to this size are read whole, once: hashed, staged and read for their metadata from
 * memory (a batch holds at most BATCH_BYTES of them). Larger ones are streamed and read again
 * from the staged file, as an upload is.
 */
const SMALL_FILE_BYTES = 1024 * 1024;

export interface FileWithReason {
  file: string;
  reason: string;
}

export interface ImportReport {
  added: string[];
  skipped: string[];
  rejected: FileWithReason[];
  /** Files and folders that were not tried, each with the reason: nothing is passed over in silence. */
  ignored: FileWithReason[];
}

/** Register every distribution under a folder (or one file): how an egg directory or the build tools move in. */
export class Imports {
  constructor(
    private readonly ingest: Ingest,
    private readonly staging: Staging,
    private readonly maxBytes: number,
  ) {}

  /**
   * Files are staged and recorded in batches (`Ingest.ingestBatch`: one syncfs, one transaction,
   * one fsync per folder), so an import of many small files is not bound by fsyncs. `progress`
   * hears after each batch how many of the files have been tried.
   */
  async importDirectory(principal: Principal, directory: string, progress?: (done: number, total: number) => void): Promise<ImportReport> {
    const { files, ignored } = distributions(directory);
    const report: ImportReport = { added: [], skipped: [], rejected: [], ignored };
    progress?.(0, files.length);
    for (let start = 0; start < files.length; ) {
      const batch: { file: string; size: number }[] = [];
      for (let bytes = 0; start < files.length && batch.length < BATCH_FILES && bytes < BATCH_BYTES; start++) {
        const size = statSync(files[start]).size;
        batch.push({ file: files[start], size });
        bytes += size;
      }
      await this.staging.within(async (set) => {
        const staged = await mapConcurrently(batch, CONCURRENT_FILES, async ({ file, size }) => {
          try {
            return await this.stage(set, file, size);
          } catch (error) {
            if (!(error instanceof AppError)) throw error;
            report.rejected.push({ file, reason: error.message });
            return null;
          }
        });
        const accepted = batch.flatMap(({ file }, index) => (staged[index] ? [{ file, ...staged[index] }] : []));
        const results = await this.ingest.ingestBatch(accepted.map(({ file, staged, content }) => ({ staged, content, filename: path.basename(file), principal, origin: "import" })));
        results.forEach((result, index) => {
          const { file } = accepted[index];
          if (result instanceof AppError) report.rejected.push({ file, reason: result.message });
          else (result.created ? report.added : report.skipped).push(file);
        });
      });
      progress?.(start, files.length);
    }
    return report;
  }

  /** Stage one file without an fsync (the batch makes it durable): a small one from one read into memory, kept for its metadata. */
  private async stage(set: StagedSet, file: string, size: number): Promise<{ staged: Staged; content?: Buffer }> {
    if (size <= SMALL_FILE_BYTES) {
      const content = await readFile(file);
      // Judged by what was read (the file may have changed since): the stream refuses a file over the limit.
      if (content.length <= Math.min(SMALL_FILE_BYTES, this.maxBytes)) return { staged: await set.stageBytesUnsynced(content), content };
    }
    return { staged: await set.stage(createReadStream(file), this.maxBytes, false) };
  }
}

/**
 * The distributions under a folder, found through symbolic links too (egg directories are often
 * folders of links), each folder visited once by its real path so a link loop ends; with every
 * other entry and the reason it is not imported.
 */
function distributions(start: string): { files: string[]; ignored: FileWithReason[] } {
  if (!existsSync(start)) throw notFound(`No such file or folder: ${start}`);
  if (!statSync(start).isDirectory()) return { files: [path.resolve(start)], ignored: [] };
  const files: string[] = [];
  const ignored: FileWithReason[] = [];
  const visited = new Set<string>();
  const visit = (directory: string): void => {
    const real = realpathSync(directory);
    if (visited.has(real)) {
      ignored.push({ file: directory, reason: `a link to ${real}, a folder already visited (a loop)` });
      return;
    }
    visited.add(real);
    let entries: Dirent[];
    try {
      entries = readdirSync(directory, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1));
    } catch (error) {
      ignored.push({ file: directory, reason: `cannot read the folder: ${(error as Error).message}` });
      return;
    }
    for (const entry of entries) {
      const entryPath = path.join(directory, entry.name);
      const target = follow(entryPath, entry);
      if (typeof target === "string") ignored.push({ file: entryPath, reason: target });
      else if (target.isDirectory() && DISTRIBUTION.test(entry.name)) {
        ignored.push({ file: entryPath, reason: "an unzipped egg or wheel folder: only archives are imported (zip its contents into one file)" });
      } else if (target.isDirectory()) visit(entryPath);
      else if (!target.isFile()) ignored.push({ file: entryPath, reason: "not a regular file" });
      else if (DISTRIBUTION.test(entry.name)) files.push(entryPath);
      else ignored.push({ file: entryPath, reason: "not a wheel, egg or sdist (.whl, .egg, .tar.gz, .tar.bz2, .zip)" });
    }
  };
  visit(path.resolve(start));
  return { files, ignored };
}

/** What an entry is, through any symbolic links; or why it cannot be followed. */
function follow(entryPath: string, entry: Dirent): Stats | string {
  try {
    return statSync(entryPath);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ELOOP") return "a loop of symbolic links";
    if (code === "ENOENT" && entry.isSymbolicLink()) return `a broken symbolic link (to ${readlinkSync(entryPath)})`;
    return `cannot be read: ${(error as Error).message}`;
  }
}
