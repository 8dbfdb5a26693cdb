import { notFound } from "../core/errors.js";
import { parseProjectName } from "../core/names.js";
import { fits } from "../core/tags.js";
import type { JobId, Version } from "../core/types.js";
import { compareVersions, parseVersion } from "../core/versions.js";
import type { Settings } from "../settings.js";
import type { AgentStore, TargetRow } from "../store/agents.js";
import type { CheckRow, CheckStore, NodeHealth } from "../store/checks.js";
import type { FileRow, FileStore } from "../store/files.js";
import type { JobRow, JobStore } from "../store/jobs.js";
import type { ProjectRow, ProjectStore } from "../store/projects.js";
import type { SmokeCheckRow } from "../store/smoke-checks.js";
import type { WaiverRow } from "../store/waivers.js";
import { isSiteAdmin, type Access, type Principal } from "./access.js";
import type { AgentView, Agents } from "./agents.js";
import type { Checks } from "./checks.js";
import type { Jobs } from "./jobs.js";
import type { SmokeChecks } from "./smoke-checks.js";
import type { MatrixEntry, Verdicts } from "./verdicts.js";
import type { Waivers } from "./waivers.js";

/** What a file's badge says. */
export type FileStatus = "verified" | "pending" | "unchecked" | "held" | "failed" | "yanked" | "source";

export interface FileView {
  file: FileRow;
  status: FileStatus;
}

/** What the signed-in principal may do here: the UI shows these actions and no others. */
export interface Permissions {
  /** Yank, unyank, waive (project admin). */
  administer: boolean;
  /** Rebuild, re-check (site admin). */
  operate: boolean;
}

export interface ReleaseView {
  version: Version;
  yanked: boolean;
  yankReason: string;
  files: FileView[];
  /** Build jobs of the release still queued or running. */
  pendingBuilds: number;
}

/** One row of a release's matrix: a target, its job and what came of it. */
export interface MatrixRow {
  target: TargetRow;
  job: JobRow;
  /** The file that serves the target (built by the job, uploaded, or a pure build covering it). */
  file: FileView | null;
  /** Its verdict per interpreter. */
  verdicts: MatrixEntry[];
}

const LIST_LIMIT = 20;
/** Releases a project page shows with their files; older ones are listed, each with its own page. */
const DETAILED_RELEASES = 10;
/** Projects whose version order is kept (a handful of bytes each). */
const VERSION_ORDERS_KEPT = 1000;

/**
 * The web UI's read models, built from the stores and the same services the API uses. Every
 * method checks read access itself, exactly as the index does (`access.canRead`), so a page can
 * show nothing its reader could not fetch from the API.
 */
export class Catalog {
  private readonly versionOrder = new Map<number, { serial: number; versions: Version[] }>();

  constructor(
    private readonly access: Access,
    private readonly projects: ProjectStore,
    private readonly files: FileStore,
    private readonly checkStore: CheckStore,
    private readonly agentStore: AgentStore,
    private readonly jobStore: JobStore,
    private readonly jobs: Jobs,
    private readonly checks: Checks,
    private readonly agents: Agents,
    private readonly verdicts: Verdicts,
    private readonly waivers: Waivers,
    private readonly smokeChecks: SmokeChecks,
    private readonly nodes: Settings["nodes"],
  ) {}

  /** The home page: a search (name and summary), recent uploads, builds running now, failures and holds. */
  home(principal: Principal, query: string) {
    const readable = this.access.readableProjects(principal);
    const failedJobs = this.jobs.list(principal, { status: "failed" }).slice(0, LIST_LIMIT);
    return {
      query,
      results: query.trim() ? this.projects.search(query.trim(), readable, 100) : null,
      recentUploads: this.files.recent(readable, LIST_LIMIT).map((file) => this.viewOf(file)),
      running: this.jobs.list(principal, { status: "leased" }),
      failedJobs,
      failedFiles: this.files.failed(readable, LIST_LIMIT).map((file) => this.viewOf(file)),
      heldFiles: this.files.held(readable, LIST_LIMIT).map((file) => this.viewOf(file)),
    };
  }

  /**
   * A project's releases newest first (PEP 440): the newest ones with their files and their
   * status, the older ones listed (each has its own page).
   */
  project(principal: Principal, name: string) {
    const project = this.access.readableProject(principal, name);
    const rows = new Map(this.files.releases(project.id).map((row) => [row.version, row]));
    const ordered = this.newestFirst(project, [...rows.keys()]).map((version) => rows.get(version)!);
    const releases: ReleaseView[] = ordered.slice(0, DETAILED_RELEASES).map((release) => ({
      version: release.version,
      yanked: release.yanked,
      yankReason: release.yankReason,
      files: this.files.liveByRelease(project.id, release.version).sort(byKindThenName).map((file) => this.viewOf(file)),
      pendingBuilds: this.jobStore.forRelease(project.id, release.version).filter((job) => job.status === "queued" || job.status === "leased").length,
    }));
    return { project, releases, older: ordered.slice(DETAILED_RELEASES), permissions: this.permissions(principal, project), ...this.adminViews(principal, project) };
  }

  /** A release's matrix: a row per target with its job, the file serving it and that file's verdict per interpreter. */
  release(principal: Principal, name: string, versionText: string) {
    const project = this.access.readableProject(principal, name);
    const version = parseVersion(versionText);
    const files = this.files.liveByRelease(project.id, version);
    if (files.length === 0) throw notFound(`No release ${version} of project ${project.name}`);
    const jobs = this.jobStore.forRelease(project.id, version);
    const rows: MatrixRow[] = jobs
      .map((job) => ({ job, target: this.agentStore.target(job.targetKey) }))
      .filter((row): row is { job: JobRow; target: TargetRow } => row.target !== undefined)
      .sort((a, b) => a.target.key.localeCompare(b.target.key))
      .map(({ job, target }) => {
        const file = job.status === "succeeded" ? (files.find((candidate) => candidate.jobId === job.id) ?? files.find((candidate) => candidate.kind !== "sdist" && fits(candidate, target))) : undefined;
        return { target, job, file: file ? this.viewOf(file) : null, verdicts: file ? this.verdicts.matrix(file) : [] };
      });
    const served = new Set(rows.map((row) => row.file?.file.id));
    // Uploaded eggs and wheels no build target stands for still have their verdicts.
    const others = files
      .filter((file) => file.kind !== "sdist" && !served.has(file.id))
      .map((file) => ({ file: this.viewOf(file), verdicts: this.verdicts.matrix(file) }));
    return {
      project,
      version,
      yanked: files[0].yanked,
      yankReason: files[0].yankReason,
      sdists: files.filter((file) => file.kind === "sdist").map((file) => this.viewOf(file)),
      rows,
      others,
      permissions: this.permissions(principal, project),
      ...this.adminViews(principal, project),
    };
  }

  job(principal: Principal, jobId: JobId) {
    return this.jobs.show(principal, jobId);
  }

  /** One check with its log: only for those who may read its file's project. */
  check(principal: Principal, checkId: number): { check: CheckRow; file: FileView } {
    const check = this.checkStore.byId(checkId);
    const file = check && this.files.byFilename(check.filename);
    const project = file ? this.projects.byName(file.project) : undefined;
    this.access.canRead(principal, project, () => notFound(`No check ${checkId}`));
    return { check: check!, file: this.viewOf(file!) };
  }

  /** Build agents: for site admins, as the API lists them. */
  agentList(principal: Principal): AgentView[] {
    return this.agents.list(principal);
  }

  /** Clean nodes: their interpreters, health and the checks they run now (of readable projects only). */
  nodeList(principal: Principal): { name: string; interpreters: string[]; health: NodeHealth | null; running: CheckRow[] }[] {
    const health = this.checks.health(principal);
    const readable = this.access.readableProjects(principal);
    const running = this.checkStore.running().filter((check) => readable === "all" || readable.includes(this.projects.byName(parseProjectName(check.project))?.id ?? -1));
    return this.nodes.map((node) => ({
      name: node.name,
      interpreters: [...node.interpreters],
      health: health.find((entry) => entry.node === node.name) ?? null,
      running: running.filter((check) => check.node === node.name),
    }));
  }

  /**
   * Versions newest first. PEP 440 comparison parses both versions each time, which for a
   * project of hundreds of releases costs more than the rest of its page: the order is kept
   * until the project's serial moves (any change to it).
   */
  private newestFirst(project: ProjectRow, versions: Version[]): Version[] {
    const cached = this.versionOrder.get(project.id);
    if (cached?.serial === project.serial && cached.versions.length === versions.length) return cached.versions;
    const sorted = [...versions].sort((a, b) => compareVersions(b, a));
    if (this.versionOrder.size >= VERSION_ORDERS_KEPT) this.versionOrder.clear();
    this.versionOrder.set(project.id, { serial: project.serial, versions: sorted });
    return sorted;
  }


  private viewOf(file: FileRow): FileView {
    return { file, status: this.statusOf(file) };
  }

  private statusOf(file: FileRow): FileStatus {
    if (file.yanked) return "yanked";
    if (file.holdReason) return "held";
    if (file.kind === "sdist") return "source";
    if (this.nodes.length === 0) return "unchecked";
    return file.verification;
  }

  private permissions(principal: Principal, project: ProjectRow): Permissions {
    return { administer: principal.kind !== "anonymous" && this.access.administers(principal, project), operate: isSiteAdmin(principal) };
  }

  /** Every waiver and the smoke check's code: what the project's admins see (the services decide). */
  private adminViews(principal: Principal, project: ProjectRow): { waivers: WaiverRow[]; smokeCheck: SmokeCheckRow | null } {
    if (principal.kind === "anonymous" || !this.access.administers(principal, project)) return { waivers: [], smokeCheck: null };
    return { waivers: this.waivers.list(principal, project.name), smokeCheck: this.smokeChecks.show(principal, project.name) };
  }
}

function byKindThenName(a: FileRow, b: FileRow): number {
  const order = { sdist: 0, wheel: 1, egg: 2 };
  return order[a.kind] - order[b.kind] || a.filename.localeCompare(b.filename);
}
