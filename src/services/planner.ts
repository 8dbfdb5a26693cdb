import { fits } from "../core/tags.js";
import type { Version } from "../core/types.js";
import { compareVersions, satisfiesRequiresPython } from "../core/versions.js";
import type { AgentStore, TargetRow } from "../store/agents.js";
import { derivedTx, type Db } from "../store/db.js";
import type { FileRow, FileStore } from "../store/files.js";
import type { BuildCandidate, JobStatus, JobStore } from "../store/jobs.js";

/** Sdists one query of a chunk reads. */
const BATCH_SDISTS = 16;

/** Sdists in (cursor, end] still to plan against the targets named by `targets`. */
export interface PassRange {
  targets: ReadonlySet<string>;
  cursor: number;
  end: number;
}

export interface ChunkResult {
  cursor: number;
  done: boolean;
  created: number;
}

type LatestOf = (projectId: number) => string | undefined;

/**
 * The planning rules, in one place for both connections that plan: the event loop's (an upload's
 * jobs at once) and the background pass's thread (every sdist for a new target). An (sdist,
 * active target) pair gets a job: queued, `not_applicable` with the reason, or covered by a
 * fitting file; a target that registers later gets jobs for the latest version of each project
 * only. UNIQUE (sdist_id, target_key) keeps two planners from making a job twice.
 */
export class Planner {
  constructor(
    private readonly db: Db,
    private readonly store: JobStore,
    private readonly agents: AgentStore,
    private readonly files: FileStore,
    private readonly now: () => string,
  ) {}

  activeTargets(): TargetRow[] {
    return this.agents.activeTargets();
  }

  /** Plan `sdists` against `targets` in one transaction; how many jobs it added. */
  planSdists(sdists: BuildCandidate[], targets: TargetRow[]): number {
    const latestOf = this.latestVersions();
    return derivedTx(this.db, () => sdists.reduce((count, sdist) => count + this.planSdist(sdist, targets, latestOf), 0));
  }

  /** Plan the pass's next sdists against its targets that are still active, in one transaction: for about `budgetMs`, or less once `wanted()` (the other connection waits to write). */
  planChunk(pass: PassRange, budgetMs: number, wanted: () => boolean): ChunkResult {
    const targets = this.agents.activeTargets().filter((target) => pass.targets.has(target.key));
    const deadline = performance.now() + budgetMs;
    const over = () => performance.now() >= deadline || wanted();
    const latestOf = this.latestVersions();
    let cursor = pass.cursor;
    let done = targets.length === 0;
    const created = derivedTx(this.db, () => {
      let count = 0;
      while (!done && !over()) {
        const sdists = this.store.sdistsBetween(cursor, pass.end, BATCH_SDISTS);
        done = sdists.length < BATCH_SDISTS;
        for (const sdist of sdists) {
          count += this.planSdist(sdist, targets, latestOf);
          cursor = sdist.sdistId;
          if (over() && sdist !== sdists.at(-1)) {
            done = false;
            break;
          }
        }
      }
      return count;
    });
    return { cursor, done, created };
  }

  /** One sdist against some targets, under the backfill rule; how many jobs it added. */
  private planSdist(candidate: BuildCandidate, targets: TargetRow[], latestOf: LatestOf): number {
    const planned = new Set(this.store.plannedTargets(candidate.sdistId));
    let created = 0;
    let files: FileRow[] | undefined;
    for (const target of targets) {
      if (planned.has(target.key)) continue;
      const isNew = candidate.uploadedAt >= target.firstSeenAt;
      if (!isNew && latestOf(candidate.projectId) !== candidate.version) continue;
      const [status, reason] = this.decide(candidate, target, (files ??= this.releaseFiles(candidate.projectId, candidate.version)));
      const id = this.store.insert(candidate.sdistId, target.key, status, reason, this.now());
      if (id !== undefined) {
        this.store.recordEvent(id, this.now(), status, null, reason);
        created++;
      }
    }
    return created;
  }

  private decide(candidate: BuildCandidate, target: TargetRow, releaseFiles: FileRow[]): [JobStatus, string] {
    if (!satisfiesRequiresPython(target.pythonVersion, candidate.requiresPython)) {
      return ["not_applicable", `Requires-Python ${candidate.requiresPython} excludes Python ${target.pythonVersion}`];
    }
    const covering = releaseFiles.find((file) => fits(file, target));
    return covering ? ["succeeded", `covered by ${covering.filename}`] : ["queued", ""];
  }

  private releaseFiles(projectId: number, version: string): FileRow[] {
    return this.files.liveByProject(projectId).filter((file) => file.version === version);
  }

  /** Each project's latest sdist version, read when first asked (one indexed query per project). */
  private latestVersions(): LatestOf {
    const latest = new Map<number, string | undefined>();
    return (projectId) => {
      if (!latest.has(projectId)) {
        const versions = this.store.sdistVersions(projectId) as Version[];
        latest.set(projectId, versions.reduce<Version | undefined>((best, version) => (!best || compareVersions(version, best) > 0 ? version : best), undefined));
      }
      return latest.get(projectId);
    };
  }
}
