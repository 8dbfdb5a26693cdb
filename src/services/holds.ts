import { degradedReason, regressionReason, type CompiledContents } from "../core/compiled.js";
import type { ArtifactName } from "../core/filenames.js";
import { isListed } from "../core/listing.js";
import { builtForPython, fits } from "../core/tags.js";
import type { NormalizedName, Version } from "../core/types.js";
import { waiverCovers } from "../core/verdicts.js";
import { compareVersions } from "../core/versions.js";
import type { AgentStore, TargetRow } from "../store/agents.js";
import type { FileRow, FileStore } from "../store/files.js";
import type { HistoryStore } from "../store/history.js";
import type { JobStore } from "../store/jobs.js";
import type { ProjectStore } from "../store/projects.js";
import type { WaiverRow, WaiverStore } from "../store/waivers.js";

/** What a farm build brings besides the file: its build log and what its native modules link. */
export interface BuildFacts {
  linkedLibraries: readonly string[];
  log: readonly string[];
  /** The target the build was made for: its baseline is the last listed file that installs there. */
  target: TargetRow;
}

export interface HoldDecision {
  /** Why the build is degraded (null when it is not): recorded on the file whether held or not. */
  degraded: string | null;
  /** Why it would be held ("" when it would not). */
  heldFor: string;
  /** The degraded waiver in force that accepts the hold before it is made. */
  waiver: WaiverRow | null;
}

/** Who holds a build again when it is compared with a baseline listed after it. */
const RECHECK_ACTOR = "pydepot";

/**
 * The one owner of holds. A farm build is held off the default index when it is degraded (its
 * own log and contents say compiled code is missing) or regressed (it lacks a compiled module or
 * a linked library of the last listed file of its project for its target); a degraded waiver in
 * force accepts the hold before it is made. Decided at ingest, and again for the project's later
 * builds whenever a file reaches the default index, since a baseline may be verified only after
 * the build it should have been compared with. A released hold (an admin's release-hold, a
 * degraded waiver) is recorded and never made again. Uploads and imports are never held: what a
 * person uploads is their own statement.
 */
export class Holds {
  constructor(
    private readonly files: FileStore,
    private readonly projects: ProjectStore,
    private readonly jobs: JobStore,
    private readonly agents: AgentStore,
    private readonly waivers: WaiverStore,
    private readonly history: HistoryStore,
    private readonly gated: boolean,
    private readonly now: () => string,
  ) {}

  /** At ingest, inside its transaction: whether a new file is degraded, and for a farm build (`build`) whether it is held. */
  decide(name: ArtifactName, nativeModules: readonly string[], build: BuildFacts | null): HoldDecision {
    const degraded = degradedReason(name, nativeModules, build?.log ?? []);
    if (!build) return { degraded, heldFor: "", waiver: null };
    const baseline = this.baseline(name.project, name.version, build.target);
    const regressed = baseline && regressionReason(contentsOf(baseline), { filename: name.filename, compiledModules: nativeModules, linkedLibraries: build.linkedLibraries });
    const heldFor = [degraded && `degraded: ${degraded}`, regressed].filter(Boolean).join("; ");
    const waiver = heldFor ? this.degradedWaiver(name.project, name.version, builtForPython(name)) : null;
    return { degraded, heldFor, waiver };
  }

  /** Let a held file onto the default index (inside the caller's transaction), recorded so no later comparison holds it again. */
  release(file: FileRow, actor: string, action: "file.release-hold" | "file.hold-released", detail: string): void {
    this.files.releaseHold(file.id, this.now());
    this.projects.touch(this.projects.byName(file.project)!.id);
    this.history.record(this.now(), { actor, action, project: file.project, subject: file.filename, detail: `${detail} (held: ${file.holdReason})` });
    this.listed({ ...file, holdReason: "" });
  }

  /**
   * What follows when `file` reaches the default index (verified, its hold released, or listed at
   * ingest without a gate), inside the caller's transaction: the project's later builds for a
   * target it installs on are compared with their baseline again.
   */
  listed(file: FileRow): void {
    if (file.kind === "sdist" || !isListed(file, "default", this.gated)) return;
    this.compareLaterBuilds(file);
  }

  /**
   * Every later build whose baseline `listed` now is, compared with it: oldest first, so a build
   * held here is no longer the baseline of the ones after it. One read of the project's files.
   */
  private compareLaterBuilds(listed: FileRow): void {
    const files = this.files.liveByProject(this.projects.byName(listed.project)!.id);
    const later = files
      .filter((file) => file.jobId !== null && file.holdReason === "" && compareVersions(file.version, listed.version) > 0)
      .sort((a, b) => compareVersions(a.version, b.version));
    for (const build of later) {
      const target = this.targetOf(build);
      if (!target || newestListedBefore(files, build.version, target, this.gated)?.id !== listed.id || this.files.holdReleased(build.id)) continue;
      const regressed = regressionReason(contentsOf(listed), contentsOf(build));
      if (!regressed) continue;
      const waiver = this.degradedWaiver(build.project, build.version, builtForPython(build));
      const detail = `${regressed} (compared again once ${listed.filename} was listed)`;
      if (waiver) {
        this.history.record(this.now(), { actor: RECHECK_ACTOR, action: "file.held", project: build.project, subject: build.filename, detail: `${detail} (not held: waiver #${waiver.id})` });
        continue;
      }
      this.files.setHold(build.id, regressed);
      build.holdReason = regressed;
      this.projects.touch(this.projects.byName(build.project)!.id);
      this.history.record(this.now(), { actor: RECHECK_ACTOR, action: "file.held", project: build.project, subject: build.filename, detail });
    }
  }

  /** The last build a team could have installed on the target before `version`. */
  private baseline(project: NormalizedName, version: Version, target: TargetRow): FileRow | null {
    const projectRow = this.projects.byName(project);
    return projectRow ? newestListedBefore(this.files.liveByProject(projectRow.id), version, target, this.gated) : null;
  }

  private targetOf(build: FileRow): TargetRow | undefined {
    const job = this.jobs.byId(build.jobId!);
    return job && this.agents.target(job.targetKey);
  }

  private degradedWaiver(project: string, version: string, python: string | null): WaiverRow | null {
    return this.waivers.active(project).find((waiver) => waiverCovers(waiver, { project, version, python, degraded: true })) ?? null;
  }
}

/** The listed file of the newest version before `version` that installs on the target. */
function newestListedBefore(files: readonly FileRow[], version: Version, target: TargetRow, gated: boolean): FileRow | null {
  const earlier = files
    .filter((file) => file.kind !== "sdist" && compareVersions(file.version, version) < 0)
    .filter((file) => fits(file, target) && isListed(file, "default", gated))
    .sort((a, b) => compareVersions(b.version, a.version) || (a.uploadedAt < b.uploadedAt ? 1 : -1));
  return earlier[0] ?? null;
}

function contentsOf(file: FileRow): CompiledContents {
  return { filename: file.filename, compiledModules: file.nativeModules, linkedLibraries: file.linkedLibraries };
}
