import { badRequest, conflict, notFound } from "../core/errors.js";
import { builtForPython } from "../core/tags.js";
import { waiverCovers } from "../core/verdicts.js";
import { parseVersion } from "../core/versions.js";
import { tx, type Db } from "../store/db.js";
import type { FileStore } from "../store/files.js";
import type { HistoryStore } from "../store/history.js";
import type { ProjectRow } from "../store/projects.js";
import type { WaiverRow, WaiverStore } from "../store/waivers.js";
import { actorName, type Access, type Principal } from "./access.js";
import type { Holds } from "./holds.js";
import type { Verdicts } from "./verdicts.js";

export interface WaiverRequest {
  project: string;
  version?: string;
  module?: string;
  python?: string;
  degraded?: boolean;
  reason: string;
}

const MODULE = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;
const PYTHON = /^\d+\.\d+$/;

/**
 * An admin's acceptance of a failure (or, with `degraded`, of a degraded-build hold), scoped to a
 * project and optionally a version, module and Python. Giving or revoking one settles the
 * project's files at once, and every later verdict is judged with the waivers then in force.
 */
export class Waivers {
  constructor(
    private readonly db: Db,
    private readonly store: WaiverStore,
    private readonly files: FileStore,
    private readonly history: HistoryStore,
    private readonly verdicts: Verdicts,
    private readonly access: Access,
    private readonly holds: Holds,
    private readonly now: () => string,
  ) {}

  add(principal: Principal, request: WaiverRequest): WaiverRow {
    const project = this.access.administeredProject(principal, request.project);
    const reason = request.reason.trim();
    if (!reason) throw badRequest("A waiver needs a reason: say why the failure is acceptable");
    if (request.module !== undefined && !MODULE.test(request.module)) throw badRequest(`Module ${JSON.stringify(request.module)} is not a module name such as attrs or PIL._imaging`);
    if (request.python !== undefined && !PYTHON.test(request.python)) throw badRequest(`Python ${JSON.stringify(request.python)} is not a Python version such as 2.7 or 3.11`);
    const version = request.version === undefined ? null : parseVersion(request.version);
    return tx(this.db, () => {
      const waiver = this.store.insert({
        project: project.name,
        version,
        module: request.module ?? null,
        python: request.python ?? null,
        degraded: request.degraded ?? false,
        reason,
        createdBy: actorName(principal),
        createdAt: this.now(),
      });
      this.history.record(this.now(), { actor: waiver.createdBy, action: "waiver.add", project: project.name, subject: `waiver #${waiver.id}`, detail: `${describeScope(waiver)}: ${reason}` });
      if (waiver.degraded) this.releaseHolds(project, waiver);
      this.settleProject(project);
      return waiver;
    });
  }

  /** `within`: the project the caller named (the HTTP API's URL); a waiver of another project is as unknown as none. */
  revoke(principal: Principal, id: number, within: string | null): WaiverRow {
    const named = within === null ? null : this.access.administeredProject(principal, within);
    const found = this.store.byId(id);
    if (!found || (named && found.project !== named.name)) throw notFound(named ? `No waiver #${id} in project ${named.name}` : `No waiver #${id}`);
    const project = named ?? this.access.administeredProject(principal, found.project);
    if (found.revokedAt !== null) throw conflict(`Waiver #${id} was revoked already, by ${found.revokedBy} at ${found.revokedAt}`);
    return tx(this.db, () => {
      this.store.revoke(id, actorName(principal), this.now());
      this.history.record(this.now(), { actor: actorName(principal), action: "waiver.revoke", project: project.name, subject: `waiver #${id}`, detail: describeScope(found) });
      this.settleProject(project);
      return this.store.byId(id)!;
    });
  }

  /** Every waiver of a project, revoked ones too: for whoever may read the project (they explain its verdicts). */
  list(principal: Principal, name: string): WaiverRow[] {
    return this.store.forProject(this.access.readableProject(principal, name).name);
  }



  /**
   * A degraded waiver releases the holds of the files it covers, as `release-hold` would; revoking
   * it later holds nothing again (yank a release to take it off the index).
   */
  private releaseHolds(project: ProjectRow, waiver: WaiverRow): void {
    for (const file of this.files.liveByProject(project.id)) {
      const scope = { project: project.name, version: file.version, python: builtForPython(file), degraded: true };
      if (file.holdReason && waiverCovers(waiver, scope)) this.holds.release(file, waiver.createdBy, "file.hold-released", `waiver #${waiver.id}`);
    }
  }

  private settleProject(project: ProjectRow): void {
    for (const file of this.files.liveByProject(project.id)) if (file.kind !== "sdist") this.verdicts.settle(file);
  }
}

/** "attrs 21.4.0, module attrs, Python 2.7 (degraded)" */
export function describeScope(waiver: Pick<WaiverRow, "project" | "version" | "module" | "python" | "degraded">): string {
  return [
    waiver.version ? `${waiver.project} ${waiver.version}` : `${waiver.project} (every version)`,
    waiver.module ? `module ${waiver.module}` : "any module",
    waiver.python ? `Python ${waiver.python}` : "every Python",
  ].join(", ") + (waiver.degraded ? " (degraded builds)" : "");
}
