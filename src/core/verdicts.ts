/**
 * The verdict matrix's rules, decided once: which interpreter a check stands for, when a waiver
 * covers a failure, and what a file's verification is given one verdict per interpreter.
 */

/** What a waiver accepts: project (normalized), optionally one version, module and Python `X.Y`. */
export interface WaiverScope {
  project: string;
  version: string | null;
  module: string | null;
  python: string | null;
  /** A degraded-build hold rather than a failed check. */
  degraded: boolean;
}

/** What a caller asks about: a failure or hold of this project, version, module and Python. */
export interface WaiverQuery {
  project: string;
  version: string;
  module?: string | null;
  python?: string | null;
  degraded?: boolean;
}

/** The parts of a finished check that decide whether a waiver covers it. */
export interface FailedCheck {
  python: string | null;
  cause: "" | "broken" | "unresolvable";
  modules: readonly { name: string; ok: boolean }[];
  missingLibraries: readonly string[];
  smoke: { ok: boolean } | null;
}

/** `X.Y` of a version such as `3.11.7`. */
export function pythonSeries(version: string): string {
  return version.split(".").slice(0, 2).join(".");
}

/**
 * Whether the waiver accepts this query. A waiver naming a module covers that module and its
 * submodules only; one naming none covers any failure of its scope. A query without a module
 * (an install that failed, a smoke check) is covered by module-less waivers only.
 */
export function waiverCovers(waiver: WaiverScope, query: WaiverQuery): boolean {
  if (waiver.project !== query.project || waiver.degraded !== (query.degraded ?? false)) return false;
  if (waiver.version !== null && waiver.version !== query.version) return false;
  if (waiver.python !== null && waiver.python !== (query.python ?? null)) return false;
  if (waiver.module === null) return true;
  const module = query.module ?? null;
  return module !== null && (module === waiver.module || module.startsWith(`${waiver.module}.`));
}

/**
 * The waivers that together accept a failed check, or none when it stands. Failed imports alone
 * may be waived module by module; a failure that names no module (install, unresolvable
 * dependency, missing native library, smoke check) needs a waiver without a module.
 */
export function waiversFor<W extends WaiverScope>(check: FailedCheck, waivers: readonly W[], project: string, version: string): W[] {
  const base = { project, version, python: check.python };
  const failedModules = check.modules.filter((module) => !module.ok).map((module) => module.name);
  const onlyImports = check.cause === "broken" && failedModules.length > 0 && check.missingLibraries.length === 0 && (check.smoke?.ok ?? true);
  if (!onlyImports) {
    const whole = waivers.find((waiver) => waiverCovers(waiver, base));
    return whole ? [whole] : [];
  }
  const used: W[] = [];
  for (const module of failedModules) {
    const found = waivers.find((waiver) => waiverCovers(waiver, { ...base, module }));
    if (!found) return [];
    if (!used.includes(found)) used.push(found);
  }
  return used;
}

export type SlotVerdict = "pending" | "verified" | "failed" | "unresolvable" | "waived";

/**
 * A file's verification from one verdict per interpreter it fits: failed when any stands failed
 * or unresolvable, verified when every one passed or was waived, pending otherwise (no
 * interpreter known yet, or one not checked yet).
 */
export function fileVerification(verdicts: readonly SlotVerdict[]): "pending" | "verified" | "failed" {
  if (verdicts.some((verdict) => verdict === "failed" || verdict === "unresolvable")) return "failed";
  if (verdicts.length === 0 || verdicts.includes("pending")) return "pending";
  return "verified";
}
