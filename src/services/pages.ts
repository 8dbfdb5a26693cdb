import { createHash } from "node:crypto";
import { notFound } from "../core/errors.js";
import { isListed, listedVerifications, type IndexView } from "../core/listing.js";
import type { NormalizedName, Version } from "../core/types.js";
import { compareVersions } from "../core/versions.js";
import type { FileRow, FileStore } from "../store/files.js";
import type { ProjectRow, ProjectStore } from "../store/projects.js";
import type { Access, Principal } from "./access.js";

export type { IndexView };

/** The three representations of PEP 503/691 pages. */
export type PageFormat = "text/html" | "application/vnd.pypi.simple.v1+html" | "application/vnd.pypi.simple.v1+json";

export interface Page {
  body: Buffer;
  /** Strong validator: a hash of the body, so a change of any kind changes it. */
  etag: string;
  contentType: string;
  /** Only for the reader who asked: shared caches must not keep it (see Access.answersArePublic). */
  private: boolean;
}

interface Cached {
  serial: number;
  page: Page;
}

const API_VERSION = "1.1";

/**
 * Index pages, rendered once per (page, format) and kept until the project's serial moves.
 * The serial lives in SQLite, so a change made by another process (the CLI) invalidates too.
 */
export class Pages {
  private readonly cache = new Map<string, Cached>();
  /** Plain counts (an increment per page), read by /metrics at each scrape. */
  private hits = 0;
  private misses = 0;

  constructor(
    private readonly projects: ProjectStore,
    private readonly files: FileStore,
    private readonly access: Access,
    /** Absolute base of file URLs when a public URL is configured; relative links otherwise. */
    private readonly publicUrl: string | undefined,
    /** Whether the import checker gates the default index (clean nodes are configured). */
    private readonly gated: boolean,
  ) {}

  root(principal: Principal, format: PageFormat, view: IndexView = "default"): Page {
    return this.counted(this.rootPage(principal, format, view));
  }

  /**
   * `/simple/` for the page files nginx serves (services/page-files.ts): through the same cache,
   * which the next reader then finds, but not counted as a reader's request in `cacheStats`.
   */
  renderRoot(principal: Principal, format: PageFormat): Buffer {
    return this.rootPage(principal, format, "default").page.body;
  }

  project(principal: Principal, name: NormalizedName, format: PageFormat, view: IndexView = "default"): Page {
    const project = this.access.readableProject(principal, name);
    return this.counted(this.cached(`project|${view}|${format}|${name}`, project.serial, () => this.projectBody(project, format, view), format));
  }

  /**
   * A project page's bytes as they are now, not kept in the cache: for the page files nginx
   * serves (services/page-files.ts), written once per change and read from disk after that.
   */
  renderProject(principal: Principal, name: NormalizedName, format: PageFormat): Buffer {
    return Buffer.from(this.projectBody(this.access.readableProject(principal, name), format, "default"));
  }

  cacheStats(): { hits: number; misses: number } {
    return { hits: this.hits, misses: this.misses };
  }

  private rootPage(principal: Principal, format: PageFormat, view: IndexView): Lookup {
    this.access.canReadIndex(principal);
    return this.cached(`root|${view}|${format}|${this.access.audience(principal)}`, this.projects.globalSerial(), () => {
      const listed = this.projects.listed(listedVerifications(view, this.gated), view === "staging").filter((project) => this.access.lists(principal, project));
      return format === "application/vnd.pypi.simple.v1+json" ? rootJson(listed) : rootHtml(listed);
    }, format);
  }

  private counted({ page, hit }: Lookup): Page {
    if (hit) this.hits++;
    else this.misses++;
    return page;
  }


  private projectBody(project: ProjectRow, format: PageFormat, view: IndexView): string {
    const files = this.files
      .liveByProject(project.id)
      .filter((file) => isListed(file, view, this.gated))
      .sort(byVersionThenName);
    if (files.length === 0) throw notFound(`No project named ${project.name}`);
    const filesBase = this.publicUrl ? `${this.publicUrl.replace(/\/$/, "")}/files/` : view === "staging" ? "../../../files/" : "../../files/";
    return format === "application/vnd.pypi.simple.v1+json" ? projectJson(project, files, filesBase) : projectHtml(project, files, filesBase);
  }

  private cached(key: string, serial: number, render: () => string, format: PageFormat): Lookup {
    const entry = this.cache.get(key);
    if (entry && entry.serial === serial) return { page: entry.page, hit: true };
    const body = Buffer.from(render());
    const page = {
      body,
      etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 27)}"`,
      contentType: format === "application/vnd.pypi.simple.v1+json" ? format : `${format}; charset=utf-8`,
      private: !this.access.answersArePublic(),
    };
    this.cache.set(key, { serial, page });
    return { page, hit: false };
  }
}

/** A page and whether the cache already held it. */
interface Lookup {
  page: Page;
  hit: boolean;
}

function fileUrl(file: FileRow, filesBase: string): string {
  return `${filesBase}${file.project}/${encodeURIComponent(file.filename)}`;
}

function projectHtml(project: ProjectRow, files: FileRow[], filesBase: string): string {
  const anchors = files.map((file) => {
    const attributes = [`href="${escape(fileUrl(file, filesBase))}#sha256=${file.sha256}"`];
    if (file.requiresPython) attributes.push(`data-requires-python="${escape(file.requiresPython)}"`);
    if (file.metadataSha256) attributes.push(`data-core-metadata="sha256=${file.metadataSha256}"`);
    if (file.yanked) attributes.push(`data-yanked="${escape(file.yankReason)}"`);
    return `    <a ${attributes.join(" ")}>${escape(file.filename)}</a><br>`;
  });
  return page(`Links for ${project.name}`, [`    <h1>Links for ${escape(project.name)}</h1>`, ...anchors]);
}

function projectJson(project: ProjectRow, files: FileRow[], filesBase: string): string {
  return JSON.stringify({
    meta: { "api-version": API_VERSION, "_last-serial": project.serial },
    name: project.name,
    versions: [...new Set(files.map((file) => file.version))],
    files: files.map((file) => ({
      filename: file.filename,
      url: fileUrl(file, filesBase),
      hashes: { sha256: file.sha256 },
      "requires-python": file.requiresPython,
      ...(file.metadataSha256 ? { "core-metadata": { sha256: file.metadataSha256 } } : {}),
      yanked: file.yanked ? file.yankReason || true : false,
      size: file.size,
      "upload-time": file.uploadedAt,
    })),
  });
}

function rootHtml(projects: ProjectRow[]): string {
  return page(
    "Simple index",
    projects.map((project) => `    <a href="${project.name}/">${escape(project.displayName)}</a><br>`),
  );
}

function rootJson(projects: ProjectRow[]): string {
  return JSON.stringify({ meta: { "api-version": API_VERSION }, projects: projects.map((project) => ({ name: project.displayName })) });
}

function page(title: string, body: string[]): string {
  return [
    "<!DOCTYPE html>",
    "<html>",
    "  <head>",
    `    <meta name="pypi:repository-version" content="${API_VERSION}">`,
    `    <title>${escape(title)}</title>`,
    "  </head>",
    "  <body>",
    ...body,
    "  </body>",
    "</html>",
    "",
  ].join("\n");
}

function byVersionThenName(a: FileRow, b: FileRow): number {
  return compareVersions(a.version as Version, b.version as Version) || (a.filename < b.filename ? -1 : 1);
}

const ENTITIES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** Escape once for HTML text and quoted attributes. */
function escape(text: string): string {
  return text.replace(/[&<>"']/g, (character) => ENTITIES[character]);
}
