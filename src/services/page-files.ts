import { AppError } from "../core/errors.js";
import type { NormalizedName } from "../core/types.js";
import type { ProjectStore } from "../store/projects.js";
import type { PageFileName, RenderedPages } from "../store/rendered-pages.js";
import { ANONYMOUS } from "./access.js";
import type { PageFormat, Pages } from "./pages.js";

/** The formats nginx serves from files, and the file each is written to. */
const FILES: [PageFormat, PageFileName][] = [
  ["text/html", "index.html"],
  ["application/vnd.pypi.simple.v1+json", "index.json"],
];

/**
 * The default index's pages as an anonymous reader sees them, kept on disk for nginx: every
 * project's page and `/simple/`, in HTML and PEP 691 JSON. Whatever has no file (an unknown or
 * removed project, any page while reads need credentials) nginx hands to pydepot, which answers
 * it as always. Pages are rendered by the same `Pages` service, for the anonymous principal, so a
 * file holds exactly the bytes pydepot itself would send.
 *
 * A change shows as a moved global serial: `refresh()` renders the projects whose serial moved
 * since the last pass, then `/simple/`. It is one indexed SELECT when nothing changed, so it runs
 * after every commit of this process and on a short timer for the CLI's changes.
 */
export class PageFiles {
  /** The global serial the files on disk reflect; -1 makes the next refresh render every project. */
  private renderedSerial = -1;
  /** Projects start() has yet to compare with their page files. */
  private backlog: NormalizedName[] = [];

  constructor(
    private readonly projects: ProjectStore,
    private readonly pages: Pages,
    private readonly files: RenderedPages,
    /** With reads that need credentials nothing is written: each page is pydepot's to refuse. */
    private readonly anonymousRead: boolean,
    private readonly log: (message: string) => void,
  ) {}

  /**
   * Bring the folder in line with the database, the projects' pages in steps (`catchUp`) so
   * that starting does not wait for them: until a project's turn comes, nginx serves the page
   * the last run wrote, stale only if something changed while no server ran (the CLI) or a
   * setting that shapes pages did. Pages with the same bytes are left alone, so their ETags
   * survive a restart; folders of projects the database does not know are removed at once.
   */
  start(): void {
    if (!this.anonymousRead) {
      this.files.clear();
      return;
    }
    this.renderedSerial = this.projects.globalSerial();
    this.backlog = this.projects.changedSince(-1);
    const known = new Set<string>(this.backlog);
    for (const folder of this.files.projects()) if (!known.has(folder)) this.files.remove(folder);
    if (!this.renderRoot()) this.renderedSerial = -1;
  }

  /** Render up to `limit` pages left by start(); false once none are left. */
  catchUp(limit: number): boolean {
    for (const name of this.backlog.splice(0, limit)) this.renderProject(name);
    return this.backlog.length > 0;
  }

  /** Render what changed since the last pass. Never throws: a page it cannot write is removed, so pydepot answers for it. */
  refresh(): void {
    if (!this.anonymousRead) return;
    try {
      const serial = this.projects.globalSerial();
      if (serial === this.renderedSerial) return;
      for (const name of this.projects.changedSince(this.renderedSerial)) this.renderProject(name);
      if (this.renderRoot()) this.renderedSerial = serial;
    } catch (error) {
      // After a commit, a throw would report the committed change as failed; the next tick retries.
      this.log(`page files: cannot read what changed, retrying at the next change: ${String(error)}`);
    }
  }

  private renderProject(name: NormalizedName): void {
    try {
      for (const [format, file] of FILES) this.files.write(name, file, this.pages.renderProject(ANONYMOUS, name, format));
    } catch (error) {
      // A 404 is a project with nothing listed (its files deleted, or all held back by the gate).
      if (!(error instanceof AppError && error.status === 404)) this.log(`page files: cannot write the page of ${name}, pydepot answers for it: ${String(error)}`);
      this.removeQuietly(name);
    }
  }

  /** False when /simple/ could not be written (its files are then removed): the next pass tries again. */
  private renderRoot(): boolean {
    try {
      for (const [format, file] of FILES) this.files.write(null, file, this.pages.renderRoot(ANONYMOUS, format));
      return true;
    } catch (error) {
      this.log(`page files: cannot write /simple/, pydepot answers for it: ${String(error)}`);
      this.removeQuietly(null);
      return false;
    }
  }

  private removeQuietly(name: NormalizedName | null): void {
    try {
      this.files.remove(name);
    } catch (error) {
      this.log(`page files: cannot remove the page of ${name ?? "/simple/"}, nginx may serve it stale: ${String(error)}`);
    }
  }
}
