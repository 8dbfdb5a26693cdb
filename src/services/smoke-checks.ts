import { badRequest, notFound } from "../core/errors.js";
import { tx, type Db } from "../store/db.js";
import type { HistoryStore } from "../store/history.js";
import type { SmokeCheckRow, SmokeCheckStore } from "../store/smoke-checks.js";
import { actorName, type Access, type Principal } from "./access.js";

/** Smoke checks are short; a larger program belongs in the package's own tests. */
const MAX_CODE = 4096;

/**
 * Each project's smoke check: Python an admin attaches to a project, which the checker runs after
 * the imports on every interpreter; a failing one fails the file. Recorded with who set it.
 */
export class SmokeChecks {
  constructor(
    private readonly db: Db,
    private readonly store: SmokeCheckStore,
    private readonly history: HistoryStore,
    private readonly access: Access,
    private readonly now: () => string,
  ) {}

  set(principal: Principal, name: string, code: string): SmokeCheckRow {
    const project = this.access.administeredProject(principal, name);
    if (!code.trim()) throw badRequest("The smoke check is empty: give the Python to run, e.g. \"import PIL.Image\"");
    if (Buffer.byteLength(code) > MAX_CODE) throw badRequest(`The smoke check is longer than ${MAX_CODE} bytes: keep it to a few lines`);
    return tx(this.db, () => {
      this.store.set(project.id, code, actorName(principal), this.now());
      this.history.record(this.now(), { actor: actorName(principal), action: "smoke.set", project: project.name, detail: code });
      return this.store.of(project.id)!;
    });
  }

  clear(principal: Principal, name: string): void {
    const project = this.access.administeredProject(principal, name);
    tx(this.db, () => {
      if (!this.store.clear(project.id)) throw notFound(`Project ${project.name} has no smoke check`);
      this.history.record(this.now(), { actor: actorName(principal), action: "smoke.clear", project: project.name });
    });
  }

  /** For whoever may read the project: the smoke check explains its verdicts. */
  show(principal: Principal, name: string): SmokeCheckRow | null {
    return this.store.of(this.access.readableProject(principal, name).id) ?? null;
  }


}
