import { badRequest } from "./errors.js";
import { parseProjectName } from "./names.js";
import { JOB_STATUSES, type JobId, type JobStatus, type NormalizedName } from "./types.js";

/**
 * What a caller names in a URL or on the command line (project names, job ids, job filters),
 * parsed and normalised here once, so `Demo_Pkg` finds `demo-pkg` through every door alike.
 */

export function parseJobId(raw: string): JobId {
  const id = /^\d{1,15}$/.test(raw.trim()) ? Number(raw.trim()) : NaN;
  if (!Number.isSafeInteger(id) || id <= 0) throw badRequest(`Invalid job id ${JSON.stringify(raw)}: job ids are whole numbers, as \`pydepot jobs\` lists them`);
  return id as JobId;
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
  const text = (value: unknown) => (typeof value === "string" && value !== "" ? value : undefined);
  const project = text(raw.project);
  const status = text(raw.status);
  return {
    project: project === undefined ? undefined : parseProjectName(project),
    status: status === undefined ? undefined : parseJobStatus(status),
    target: text(raw.target),
  };
}
