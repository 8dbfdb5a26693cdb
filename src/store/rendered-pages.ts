import { randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import path from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";

/** The names nginx looks for in a page's folder (its `$pydepot_page` map): one per format it serves. */
export const PAGE_FILE_NAMES = ["index.html", "index.json"] as const;
export type PageFileName = (typeof PAGE_FILE_NAMES)[number];

/**
 * storage/pages/simple/[<project>/]index.{html,json}[.gz]: index pages written where nginx serves them
 * (`root <storage>/pages`, the URL path is the folder). Each file is replaced by a rename, so a
 * reader holds either the old page or the new one, never part of one.
 *
 * No fsync: the pages are derived from the database, and every start of the server compares each
 * one with a fresh rendering and rewrites what differs (a page torn by a power cut included).
 */
export class RenderedPages {
  readonly root: string;
  private readonly simpleDir: string;

  constructor(storage: string) {
    this.root = path.join(storage, "pages");
    this.simpleDir = path.join(this.root, "simple");
  }

  /**
   * Write a page and its gzip twin (for nginx's gzip_static: compressed once here, not at every
   * request) unless the page already holds these bytes. A rewrite moves the mtime forward by at
   * least a second: nginx's ETag and Last-Modified are the mtime in seconds (and the size), so a
   * page changed twice in one second must still get a new validator. The twin goes first, so a
   * page on disk always has a twin at least as new.
   */
  write(project: string | null, name: PageFileName, body: Buffer): void {
    const folder = project === null ? this.simpleDir : path.join(this.simpleDir, project);
    const file = path.join(folder, name);
    const previous = readIfPresent(file);
    if (previous?.body.equals(body) && gunzipped(`${file}.gz`)?.equals(body)) return;
    mkdirSync(folder, { recursive: true });
    const seconds = Math.max(Math.floor(Date.now() / 1000), previous ? previous.mtimeSeconds + 1 : 0);
    replace(`${file}.gz`, gzipSync(body), seconds);
    replace(file, body, seconds);
  }

  /** Remove a project's pages (null: those of /simple/): nginx then hands the URL to pydepot, which answers (404, 401 …). */
  remove(project: string | null): void {
    if (project !== null) rmSync(path.join(this.simpleDir, project), { recursive: true, force: true });
    else for (const name of PAGE_FILE_NAMES) for (const file of [name, `${name}.gz`]) rmSync(path.join(this.simpleDir, file), { force: true });
  }

  /** Every page gone: nothing is served without pydepot deciding. */
  clear(): void {
    rmSync(this.root, { recursive: true, force: true });
  }

  /** The project folders on disk, to remove those the database no longer knows. */
  projects(): string[] {
    try {
      return readdirSync(this.simpleDir, { withFileTypes: true })
        .filter((entry) => entry.isDirectory())
        .map((entry) => entry.name);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw error;
    }
  }
}

/** Write `body` beside `file` and rename it into place, its mtime set to `seconds`. */
function replace(file: string, body: Buffer, seconds: number): void {
  const temporary = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString("hex")}.tmp`);
  try {
    writeFileSync(temporary, body, { mode: 0o644 });
    utimesSync(temporary, seconds, seconds);
    renameSync(temporary, file);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw error;
  }
}

/** The bytes inside a gzip file; undefined when it is missing or not whole (a crash between the twin's write and the page's). */
function gunzipped(file: string): Buffer | undefined {
  try {
    return gunzipSync(readFileSync(file));
  } catch {
    return undefined;
  }
}

function readIfPresent(file: string): { body: Buffer; mtimeSeconds: number } | undefined {
  try {
    return { mtimeSeconds: Math.floor(statSync(file).mtimeMs / 1000), body: readFileSync(file) };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}
