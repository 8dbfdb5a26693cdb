import { badRequest } from "./errors.js";
import { parseProjectName } from "./names.js";
import { JOB_STATUSES, type JobId, type JobStatus, type NormalizedName } from "./types.js";

/**
 * What a caller names in a URL or on the command line (project names, job ids, job filters),
 * parsed and normalised here once, so `Demo_Pkg` finds `demo-pkg` through every door alike.
 */

export function parseJobId(raw: string): JobId {
  return positiveId(raw, "job", "`pydepot jobs` lists them") as JobId;
}

/** A check's number as `pydepot checks` and the web UI show it. */
export function parseCheckId(raw: string): number {
  return positiveId(raw, "check", "`pydepot checks FILE` lists them");
}

/** A token's number as `pydepot token list` shows it (`#3` or `3`). */
export function parseTokenId(raw: string): number {
  return positiveId(raw.replace(/^#/, ""), "token", "`pydepot token list USER` lists them");
}

/** An enrolment secret's number as `pydepot agents list` shows it (`#3` or `3`). */
export function parseEnrolmentId(raw: string): number {
  return positiveId(raw.replace(/^#/, ""), "enrolment", "`pydepot agents list` lists them");
}

/** A waiver's number as `pydepot waivers PROJECT` shows it (`#3` or `3`). */
export function parseWaiverId(raw: string): number {
  return positiveId(raw.replace(/^#/, ""), "waiver", "`pydepot waivers PROJECT` lists them");
}

/** `log_after` (or an event stream's `Last-Event-ID`): the id of the last log line already seen (0: from the start). */
export function parseLogAfter(raw: unknown, name = "log_after"): number {
  if (raw === undefined || raw === "") return 0;
  const after = typeof raw === "string" && /^\d{1,15}$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(after)) throw badRequest(`Invalid ${name} ${JSON.stringify(raw)}: send the id of the last log line seen, or 0`);
  return after;
}

function positiveId(raw: string, what: string, listedBy: string): number {
  const id = /^\d{1,15}$/.test(raw.trim()) ? Number(raw.trim()) : NaN;
  if (!Number.isSafeInteger(id) || id <= 0) throw badRequest(`Invalid ${what} id ${JSON.stringify(raw)}: ${what} ids are whole numbers, as ${listedBy}`);
  return id;
}

export function parseJobStatus(raw: string): JobStatus {
  if (!(JOB_STATUSES as readonly string[]).includes(raw)) throw badRequest(`Unknown job status ${JSON.stringify(raw)}: use one of ${JOB_STATUSES.join(", ")}`);
  return raw as JobStatus;
}

export interface JobFilter {
  project?: NormalizedName;
  status?: JobStatus;
  target?: string;
}

/** A job list filter from query parameters or options; empty values mean "any". */
export function parseJobFilter(raw: { project?: unknown; status?: unknown; target?: unknown }): JobFilter {
  const project = filterValue("project", raw.project);
  const status = filterValue("status", raw.status);
  return {
    project: project === undefined ? undefined : parseProjectName(project),
    status: status === undefined ? undefined : parseJobStatus(status),
    target: filterValue("target", raw.target),
  };
}

/** One value per filter: `?status=failed&status=queued` would otherwise list every job, unfiltered. */
function filterValue(name: string, value: unknown): string | undefined {
  if (value === undefined || value === "") return undefined;
  if (typeof value !== "string") throw badRequest(`Give the ${name} filter once, as one value`);
  return value;
}
