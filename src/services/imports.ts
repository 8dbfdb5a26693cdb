import { createReadStream, existsSync, readFileSync, readdirSync, readlinkSync, realpathSync, statSync, type Dirent, type Stats } from "node:fs";
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
const BATCH_BYTES = 64 * 1024 * 1024;
/** Files staged at once: the large ones, streamed, keep a busy disk's queue full (small ones are staged synchronously). */
const CONCURRENT_FILES = 8;
/**
 * Files up to this size are read whole, once: hashed, staged and read for their metadata from
 * memory (the batch being recorded and the next one hold at most BATCH_BYTES of them each).
 * Larger ones are streamed and read again from the staged file, as an upload is.
 */
const SMALL_FILE_BYTES = 1024 * 1024;

export interface FileWithReason {
  file: string;
  reason: string;
}

interface Distribution {
  file: string;
  size: number;
}

interface StagedBatch {
  set: StagedSet;
  rejected: FileWithReason[];
  accepted: { file: string; staged: Staged; content?: Buffer }[];
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
   * Files are staged and recorded in batches (`Ingest.ingestBatch`: one syncfs for the bytes, one
   * transaction, one syncfs for the folders), so an import of many small files is not bound by
   * fsyncs. The next batch is staged while one is recorded: while the transaction waits for the
   * disk, the next batch's files are read and written.
   * `progress` hears after each batch how many of the files have been tried.
   */
  async importDirectory(principal: Principal, directory: string, progress?: (done: number, total: number) => void): Promise<ImportReport> {
    const { files, ignored } = distributions(directory);
    const report: ImportReport = { added: [], skipped: [], rejected: [], ignored };
    const batches = inBatches(files);
    progress?.(0, files.length);
    let done = 0;
    const stageAhead = (index: number): Promise<StagedBatch> | undefined => {
      if (index >= batches.length) return undefined;
      const staging = this.stageBatch(batches[index]);
      // Awaited once the batch before it is recorded: a failure meanwhile must not go unhandled.
      staging.catch(() => undefined);
      return staging;
    };
    let next = stageAhead(0);
    try {
      for (let index = 0; next; index++) {
        const current = await next;
        next = stageAhead(index + 1);
        try {
          await this.recordBatch(principal, current, report);
        } finally {
          current.set.close();
        }
        done += batches[index].length;
        progress?.(done, files.length);
      }
    } finally {
      // A batch staged ahead of a failure: its files go with its set.
      await next?.then(({ set }) => set.close(), () => undefined);
    }
    return report;
  }

  /** Stage a batch's files, a few at once, into a set of its own; a file refused here (too large) is only reported. */
  private async stageBatch(batch: Distribution[]): Promise<StagedBatch> {
    const set = this.staging.open();
    const rejected: FileWithReason[] = [];
    try {
      const staged = await mapConcurrently(batch, CONCURRENT_FILES, async ({ file, size }) => {
        try {
          return { file, ...(await this.stage(set, file, size)) };
        } catch (error) {
          if (!(error instanceof AppError)) throw error;
          rejected.push({ file, reason: error.message });
          return null;
        }
      });
      return { set, rejected, accepted: staged.filter((entry) => entry !== null) };
    } catch (error) {
      set.close();
      throw error;
    }
  }

  private async recordBatch(principal: Principal, { rejected, accepted }: StagedBatch, report: ImportReport): Promise<void> {
    report.rejected.push(...rejected);
    const results = await this.ingest.ingestBatch(accepted.map(({ file, staged, content }) => ({ staged, content, filename: path.basename(file), principal, origin: "import" })));
    results.forEach((result, index) => {
      const { file } = accepted[index];
      if (result instanceof AppError) report.rejected.push({ file, reason: result.message });
      else (result.created ? report.added : report.skipped).push(file);
    });
  }

  /**
   * Stage one file without an fsync (the batch makes it durable): a small one from one synchronous
   * read into memory (see `Blobs.stageBytesUnsynced`), kept for its metadata.
   */
  private async stage(set: StagedSet, file: string, size: number): Promise<{ staged: Staged; content?: Buffer }> {
    if (size <= SMALL_FILE_BYTES) {
      const content = readFileSync(file);
      // Judged by what was read (the file may have changed since): the stream refuses a file over the limit.
      if (content.length <= Math.min(SMALL_FILE_BYTES, this.maxBytes)) return { staged: await set.stageBytesUnsynced(content), content };
    }
    return { staged: await set.stage(createReadStream(file), this.maxBytes, false) };
  }
}

/** Consecutive batches of at most BATCH_FILES files and (past its first file) BATCH_BYTES. */
function inBatches(files: Distribution[]): Distribution[][] {
  const batches: Distribution[][] = [];
  let bytes = 0;
  for (const distribution of files) {
    const last = batches.at(-1);
    if (!last || last.length >= BATCH_FILES || bytes >= BATCH_BYTES) {
      batches.push([distribution]);
      bytes = distribution.size;
    } else {
      last.push(distribution);
      bytes += distribution.size;
    }
  }
  return batches;
}

/**
 * The distributions under a folder, found through symbolic links too (egg directories are often
 * folders of links), each folder visited once by its real path so a link loop ends; with every
 * other entry and the reason it is not imported.
 */
function distributions(start: string): { files: Distribution[]; ignored: FileWithReason[] } {
  if (!existsSync(start)) throw notFound(`No such file or folder: ${start}`);
  const stats = statSync(start);
  if (!stats.isDirectory()) return { files: [{ file: path.resolve(start), size: stats.size }], ignored: [] };
  const files: Distribution[] = [];
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
      else if (DISTRIBUTION.test(entry.name)) files.push({ file: entryPath, size: target.size });
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
