import { Router, type Request, type RequestHandler } from "express";
import { z } from "zod";
import { badRequest } from "../../core/errors.js";
import { LEASE_SECRET_HEADER, MAX_LOG_BATCH_LINES, type LogLine } from "../../core/farm.js";
import { parseProjectName } from "../../core/names.js";
import { parseJobFilter, parseJobId, parseLogAfter } from "../../core/parameters.js";
import { parseVersion } from "../../core/versions.js";
import { actorName, type Access } from "../../services/access.js";
import type { Agents } from "../../services/agents.js";
import type { JobStream } from "../../services/job-stream.js";
import type { Jobs } from "../../services/jobs.js";
import type { Staging } from "../../services/staging.js";
import { clientGone } from "../client-gone.js";
import { sendEventStream } from "../event-stream.js";
import { multipartForm } from "../upload-engine.js";
import type { UploadLimits } from "./legacy.js";
import { jsonBody } from "../json-body.js";

export interface FarmDependencies {
  access: Access;
  agents: Agents;
  jobs: Jobs;
  jobStream: JobStream;
  staging: Staging;
  uploadLimits: UploadLimits;
  longPollMs: number;
}

/** The build farm API: agents register, lease, log and report; admins look, re-queue and cancel. */
export function farmRoutes(deps: FarmDependencies): Router {
  const { access, agents, jobs } = deps;
  const router = Router();
  router.use("/api/farm", jsonBody());

  router.post("/api/farm/register", (request, response) => {
    const { name, version, enrolment_secret: secret } = request.body ?? {};
    if (![name, version, secret].every((value) => typeof value === "string")) throw badRequest("Send JSON with name, version and enrolment_secret");
    response.json({ token: agents.register(name, version, secret) });
  });
  router.put("/api/farm/targets", (request, response) => {
    const principal = access.agent(response.locals.principal);
    response.json(agents.startSession(principal, request.body?.targets, request.body?.slots));
  });
  router.post("/api/farm/lease", async (request, response) => {
    const principal = access.agent(response.locals.principal);
    const waitMs = Math.min(deps.longPollMs, waitSeconds(request.body?.wait_seconds, deps.longPollMs / 1000) * 1000);
    const job = await jobs.lease(principal, waitMs, clientGone(response));
    if (job) response.json({ job });
    else response.status(204).end();
  });
  router.post("/api/farm/jobs/:id/log", (request, response) => {
    const principal = access.agent(response.locals.principal);
    jobs.appendLog(principal, parseJobId(request.params.id), leaseSecret(request), logLines(request.body?.lines));
    response.json({ ok: true });
  });
  // The agent and its lease are proved from the headers, before a byte of the body is stored.
  const proveLease: RequestHandler = (request, response, next) => {
    jobs.proveLease(access.agent(response.locals.principal), parseJobId(String(request.params.id)), leaseSecret(request));
    next();
  };
  router.post("/api/farm/jobs/:id/result", proveLease, resultForm(deps.staging, deps.uploadLimits), async (request, response) => {
    const principal = access.agent(response.locals.principal);
    const { fields, files } = response.locals.form;
    const result = parseResult(fields.result);
    const built = files.map((file) => ({ ...file, linkedLibraries: result.linkedLibraries[file.filename] ?? [] }));
    response.json({ job: await jobs.acceptResult(principal, parseJobId(String(request.params.id)), leaseSecret(request), result, built) });
  });

  router.get("/api/farm/agents", (_request, response) => {
    response.json({ agents: agents.list(response.locals.principal), enrolments: agents.enrolments(response.locals.principal) });
  });
  router.post("/api/farm/enrolments", (request, response) => {
    access.requireSiteAdmin(response.locals.principal);
    const { label = "", hours, uses } = request.body ?? {};
    if (typeof label !== "string" || [hours, uses].some((value) => value !== undefined && typeof value !== "number")) throw badRequest("Send JSON {label, hours?, uses?}: label is a string, hours and uses are numbers");
    const secret = agents.createEnrolment(label, actorName(response.locals.principal), { hours, uses });
    response.json({ secret, enrolment: agents.enrolmentOf(secret) });
  });
  router.post("/api/farm/agents/:name/revoke", (request, response) => {
    access.requireSiteAdmin(response.locals.principal);
    agents.revoke(request.params.name, actorName(response.locals.principal));
    response.json({ revoked: request.params.name });
  });
  router.get("/api/farm/jobs", (request, response) => {
    response.json({ jobs: jobs.list(response.locals.principal, parseJobFilter(request.query)) });
  });
  router.get("/api/farm/jobs/:id", (request, response) => {
    response.json(jobs.show(response.locals.principal, parseJobId(request.params.id), parseLogAfter(request.query.log_after)));
  });
  router.get("/api/farm/jobs/:id/events", jobEvents(deps.jobStream));
  router.post("/api/farm/builds", (request, response) => {
    const { project, version, target } = request.body ?? {};
    if (typeof project !== "string" || typeof version !== "string") throw badRequest("Send JSON with project, version and optionally target");
    response.json({ jobs: jobs.requeue(response.locals.principal, parseProjectName(project), parseVersion(version), text(target)) });
  });
  router.post("/api/farm/jobs/:id/cancel", (request, response) => {
    response.json({ job: jobs.cancel(response.locals.principal, parseJobId(request.params.id)) });
  });
  return router;
}

/**
 * A job's log and status as server-sent events, for whoever may read the job: the farm API's
 * stream and the web UI's job page (with its session) answer through this one handler.
 * EventSource sends Last-Event-ID when it reconnects; a page that already shows lines starts
 * after them with log_after.
 */
export function jobEvents(jobStream: JobStream): RequestHandler<{ id: string }> {
  return async (request, response) => {
    const lastEventId = request.get("Last-Event-ID");
    const after = lastEventId === undefined ? parseLogAfter(request.query.log_after) : parseLogAfter(lastEventId, "Last-Event-ID");
    const { principal, clientAddress } = response.locals;
    await sendEventStream(request, response, jobStream.follow(principal, clientAddress, parseJobId(request.params.id), after));
  };
}

/** Up to 20 built files, together within the upload limit, and the result JSON. */
function resultForm(staging: Staging, limits: UploadLimits): RequestHandler {
  const maxFieldBytes = 1024 * 1024;
  return multipartForm(staging, { fileFields: { files: 20 }, maxFileBytes: limits.maxBytes, maxFields: 5, maxFieldBytes, maxBodyBytes: limits.maxBytes + 2 * maxFieldBytes });
}

const resultShape = z.object({
  status: z.string(),
  reason: z.string().default(""),
  linked_libraries: z.record(z.string(), z.array(z.string())).default({}),
});

function parseResult(raw: unknown): { status: string; reason: string; linkedLibraries: Record<string, string[]> } {
  let json: unknown;
  try {
    json = JSON.parse(String(raw));
  } catch {
    throw badRequest("The result field must be JSON: {status, reason, linked_libraries}");
  }
  const result = resultShape.safeParse(json);
  if (!result.success) throw badRequest("Malformed result: status and reason must be strings and linked_libraries map filenames to lists of strings");
  return { status: result.data.status, reason: result.data.reason, linkedLibraries: result.data.linked_libraries };
}

/** The longest `at` kept: an ISO 8601 time with a numeric offset is 29 characters. */
const MAX_AT_CHARS = 40;

function logLines(raw: unknown): LogLine[] {
  if (!Array.isArray(raw) || raw.length > MAX_LOG_BATCH_LINES) throw badRequest("Send JSON {lines: [{at, stream, text}]}");
  return raw.map((line) => {
    if (typeof line?.text !== "string" || typeof line?.stream !== "string") throw badRequest("Each log line needs stream and text strings");
    // The log's budget (farm.max_log_mib) counts a fixed cost for `at`: a free-form one would be stored beyond it.
    const at: unknown = line.at ?? new Date().toISOString();
    if (typeof at !== "string" || at.length > MAX_AT_CHARS || Number.isNaN(Date.parse(at))) throw badRequest("A log line's at must be an ISO 8601 time, as the agent sends it");
    return { at, stream: line.stream.slice(0, 16), text: line.text };
  });
}

/**
 * How long a lease request may wait for a job (the long poll), in seconds. Anything but a number
 * of seconds is refused: NaN made a poll that never timed out, waking every millisecond.
 */
function waitSeconds(raw: unknown, longest: number): number {
  if (raw === undefined) return longest;
  if (typeof raw !== "number" || !(raw >= 0)) throw badRequest(`Invalid wait_seconds ${JSON.stringify(raw)}: send a number of seconds, 0 or more (at most ${longest} are waited)`);
  return raw;
}

function leaseSecret(request: Request): string | undefined {
  return request.get(LEASE_SECRET_HEADER);
}

function text(value: unknown): string | undefined {
  return typeof value === "string" && value !== "" ? value : undefined;
}
