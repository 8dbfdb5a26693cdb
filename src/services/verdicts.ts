import { fileVerification, waiversFor, type SlotVerdict } from "../core/verdicts.js";
import type { CheckRow, CheckStore } from "../store/checks.js";
import type { FileRow } from "../store/files.js";
import type { ProjectStore } from "../store/projects.js";
import type { WaiverRow, WaiverStore } from "../store/waivers.js";
import type { Holds } from "./holds.js";

/** One interpreter of a file's matrix and where its verdict stands. */
export interface MatrixEntry {
  python: string;
  platform: string;
  verdict: SlotVerdict;
  /** The verdict's one-line reason (the waiting reason while pending). */
  reason: string;
  /** The newest finished check of this interpreter, when there is one. */
  check: CheckRow | null;
  /** A newer check of this interpreter waits or runs (re-verification keeps the old verdict meanwhile). */
  rechecking: boolean;
  /** The waivers that accept this failure (verdict "waived"). */
  waivers: WaiverRow[];
}

/**
 * A file's verdict matrix (its newest verdict on each interpreter it fits, waivers applied) and
 * the verification that follows from it, which decides what /simple/ lists. Both the checker and
 * waiver changes settle files through here, so re-verification and waivers agree; a file newly
 * verified is announced to Holds (what follows when a file reaches the default index).
 */
export class Verdicts {
  constructor(
    private readonly checks: CheckStore,
    private readonly projects: ProjectStore,
    private readonly waivers: WaiverStore,
    private readonly holds: Holds,
  ) {}

  matrix(file: FileRow, checks: readonly CheckRow[] = this.checks.forFile(file.id)): MatrixEntry[] {
    const waivers = this.waivers.active(file.project).filter((waiver) => !waiver.degraded);
    const bySlot = new Map<string, CheckRow[]>();
    // Oldest first, so each slot's list ends with its newest check.
    for (const check of [...checks].sort((a, b) => a.id - b.id)) {
      if (check.python === null || check.platform === null || check.retired) continue;
      const key = `${check.python} ${check.platform}`;
      bySlot.set(key, [...(bySlot.get(key) ?? []), check]);
    }
    const ordered = [...bySlot.values()].sort((a, b) => compareSlots(a[0], b[0]));
    return ordered.map((slot) => {
      const finished = slot.filter((check) => check.status === "verified" || check.status === "failed").at(-1) ?? null;
      const newest = slot.at(-1)!;
      const rechecking = newest !== finished;
      const base = { python: newest.python!, platform: newest.platform!, check: finished, rechecking };
      if (!finished) return { ...base, verdict: "pending" as const, reason: newest.reason || "waiting for a node", waivers: [] };
      if (finished.status === "verified") return { ...base, verdict: "verified" as const, reason: finished.reason, waivers: [] };
      const accepting = waiversFor(finished, waivers, file.project, file.version);
      if (accepting.length > 0) return { ...base, verdict: "waived" as const, reason: finished.reason, waivers: accepting };
      return { ...base, verdict: finished.cause === "unresolvable" ? ("unresolvable" as const) : ("failed" as const), reason: finished.reason, waivers: [] };
    });
  }

  /**
   * Set the file's verification from its matrix (inside the caller's transaction), marking the
   * project changed when it moved. `degraded` is what the check just recorded found.
   */
  settle(file: FileRow, degraded = false): void {
    const checks = this.checks.forFile(file.id);
    const matrix = this.matrix(file, checks);
    // Until a file's first check is spread over the interpreters it fits, its verification stays.
    if (matrix.length === 0) return;
    // A verified or failed file keeps its old verdicts while it is checked again (nightly). One put
    // back to pending (its node was quarantined: those verdicts are in doubt) stays pending until
    // every interpreter has been checked again, and a waiver given meanwhile does not list it.
    const doubted = file.verification === "pending";
    const open = (check: CheckRow) => check.status === "pending" || check.status === "running";
    if (doubted && checks.some((check) => check.python === null && open(check))) return;
    const verification = fileVerification(matrix.map((entry) => (doubted && entry.rechecking ? "pending" : entry.verdict)));
    if (verification === file.verification && !degraded) return;
    this.checks.setVerification(file.id, verification, degraded);
    this.projects.touch(this.projects.byName(file.project)!.id);
    if (verification === "verified" && file.verification !== "verified") this.holds.listed({ ...file, verification });
  }
}

/** Python versions in numeric order (2.7 before 3.9 before 3.11), then platforms by name. */
function compareSlots(a: CheckRow, b: CheckRow): number {
  const [aMajor, aMinor] = a.python!.split(".").map(Number);
  const [bMajor, bMinor] = b.python!.split(".").map(Number);
  return aMajor - bMajor || aMinor - bMinor || a.platform!.localeCompare(b.platform!);
}
