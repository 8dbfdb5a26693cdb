import { badRequest, conflict, notFound } from "../core/errors.js";
import { parseVersion } from "../core/versions.js";
import type { Blobs } from "../store/blobs.js";
import { tx, type Db } from "../store/db.js";
import type { FileStore } from "../store/files.js";
import type { HistoryStore } from "../store/history.js";
import type { ProjectStore } from "../store/projects.js";
import { actorName, type Access, type Principal } from "./access.js";
import type { Holds } from "./holds.js";

/** Yank, unyank and delete: the recorded changes an admin makes to what the index offers. */
export class Releases {
  constructor(
    private readonly db: Db,
    private readonly projects: ProjectStore,
    private readonly files: FileStore,
    private readonly history: HistoryStore,
    private readonly blobs: Blobs,
    private readonly access: Access,
    private readonly holds: Holds,
    private readonly now: () => string,
  ) {}

  /** PEP 592: every file of the release is marked; installers skip it unless pinned with ==. */
  yank(principal: Principal, projectName: string, versionText: string, reason: string): void {
    this.setYank(principal, projectName, versionText, true, reason.trim());
  }

  unyank(principal: Principal, projectName: string, versionText: string): void {
    this.setYank(principal, projectName, versionText, false, "");
  }

  deleteFile(principal: Principal, projectName: string, filename: string): void {
    const project = this.access.administeredProject(principal, projectName);
    const file = this.files.byFilename(filename);
    if (!file || file.project !== project.name || file.deletedAt) throw notFound(`No file ${filename} in project ${project.name}`);
    tx(this.db, () => {
      this.files.markDeleted(file.id, this.now(), actorName(principal));
      this.projects.touch(project.id);
      this.history.record(this.now(), { actor: actorName(principal), action: "file.delete", project: project.name, subject: filename });
    });
    this.blobs.remove(project.name, filename);
    this.blobs.remove(project.name, `${filename}.metadata`);
  }

  /**
   * Let a held file (degraded or regressed build) onto the default index, for a project admin who
   * accepts it (a degraded waiver does the same). The reason is recorded with the hold it released,
   * and the file is never held again (Holds).
   */
  releaseHold(principal: Principal, projectName: string, filename: string, reason: string): void {
    const project = this.access.administeredProject(principal, projectName);
    const file = this.files.byFilename(filename);
    if (!file || file.project !== project.name || file.deletedAt) throw notFound(`No file ${filename} in project ${project.name}`);
    if (!file.holdReason) throw conflict(`${filename} is not held`);
    if (!reason.trim()) throw badRequest(`Say why the hold of ${filename} may be released (it was held because ${file.holdReason})`);
    tx(this.db, () => this.holds.release(file, actorName(principal), "file.release-hold", reason.trim()));
  }

  private setYank(principal: Principal, projectName: string, versionText: string, yanked: boolean, reason: string): void {
    const project = this.access.administeredProject(principal, projectName);
    const version = parseVersion(versionText);
    if (!this.files.hasLiveRelease(project.id, version)) throw notFound(`No release ${version} of project ${project.name}`);
    tx(this.db, () => {
      this.files.setYank(project.id, version, yanked, reason);
      this.projects.touch(project.id);
      this.history.record(this.now(), {
        actor: actorName(principal),
        action: yanked ? "release.yank" : "release.unyank",
        project: project.name,
        subject: version,
        detail: reason,
      });
    });
  }

}
