// Talking to the build farm API over HTTP: the JSON views an admin reads (jobs, one job with its
// log, agents), and a scripted "fake agent" that registers, reports targets, leases and posts
// results exactly as src/agent does, for tests that need no real build (bad input, races,
// backfill, expired leases). Every answer keeps the reason phrase: it is the message a client prints.
import type { FileRow } from "../../src/store/files.js";
import type { JobEvent, JobRow, JobStatus, LogLine } from "../../src/store/jobs.js";
import type { AgentView } from "../../src/services/agents.js";
import type { LeasedJobMessage, TargetMessage } from "../../src/agent/messages.js";
import { VERSION } from "../../src/version.js";
import { LEASE_SECRET_HEADER } from "../../src/core/farm.js";
import { createHash } from "node:crypto";
import yauzl from "yauzl";
import { basicAuth } from "./server.js";

export type { JobRow, JobStatus, FileRow, JobEvent, LogLine, LeasedJobMessage, TargetMessage };
export { LEASE_SECRET_HEADER };

export const AGENT_VERSION_HEADER = "X-Pydepot-Agent-Version";
/** States a job does not leave by itself. */
export const FINAL_STATUSES: readonly JobStatus[] = ["succeeded", "failed", "cancelled", "not_applicable"];

export interface Reply {
  status: number;
  /** The reason phrase: pydepot puts its error message there too. */
  statusText: string;
  body: string;
}

export interface JobDetails {
  job: JobRow;
  files: FileRow[];
  events: JobEvent[];
  log: LogLine[];
}

export interface RequestOptions {
  method?: string;
  /** The Authorization header as sent. */
  auth?: string;
  /** JSON-encoded unless it is FormData or a string (sent as is, as JSON). */
  body?: unknown;
  headers?: Record<string, string>;
  /** Hangs up when it aborts, as a killed client does. */
  signal?: AbortSignal;
}

export async function request(baseUrl: string, path: string, options: RequestOptions = {}): Promise<Reply> {
  const headers: Record<string, string> = { ...(options.auth ? { Authorization: options.auth } : {}), ...options.headers };
  let body: BodyInit | undefined;
  if (options.body instanceof FormData) body = options.body;
  else if (options.body !== undefined) {
    body = typeof options.body === "string" ? options.body : JSON.stringify(options.body);
    headers["Content-Type"] ??= "application/json";
  }
  const response = await fetch(new URL(path, baseUrl), { method: options.method ?? (body ? "POST" : "GET"), headers, body, redirect: "manual", signal: options.signal });
  return { status: response.status, statusText: response.statusText, body: await response.text() };
}

/** A request that must succeed, parsed as JSON. */
export async function requestJson<T>(baseUrl: string, path: string, options: RequestOptions = {}): Promise<T> {
  const reply = await request(baseUrl, path, options);
  if (reply.status !== 200) throw new Error(`${options.method ?? "GET"} ${path}: ${reply.status} ${reply.statusText}\n${reply.body}`);
  return JSON.parse(reply.body) as T;
}

export const bearer = (token: string) => `Bearer ${token}`;
export const tokenAuth = (token: string) => basicAuth("__token__", token);

// ---- what an admin (or anyone who may read the index) sees -----------------------------------

export async function listJobs(baseUrl: string, filter: { project?: string; status?: string; target?: string } = {}): Promise<JobRow[]> {
  const query = new URLSearchParams(Object.entries(filter).filter((entry): entry is [string, string] => entry[1] !== undefined));
  return (await requestJson<{ jobs: JobRow[] }>(baseUrl, `/api/farm/jobs?${query}`)).jobs;
}

export function showJob(baseUrl: string, jobId: number): Promise<JobDetails> {
  return requestJson<JobDetails>(baseUrl, `/api/farm/jobs/${jobId}`);
}

export async function listAgents(baseUrl: string, adminToken: string): Promise<AgentView[]> {
  return (await requestJson<{ agents: AgentView[] }>(baseUrl, "/api/farm/agents", { auth: tokenAuth(adminToken) })).agents;
}

/** Filenames of a project as its JSON index page lists them ([] when the project has no page). */
export async function indexFilenames(baseUrl: string, project: string): Promise<string[]> {
  const reply = await request(baseUrl, `/simple/${project}/`, { headers: { Accept: "application/vnd.pypi.simple.v1+json" } });
  if (reply.status === 404) return [];
  if (reply.status !== 200) throw new Error(`/simple/${project}/: ${reply.status} ${reply.statusText}`);
  return (JSON.parse(reply.body) as { files: { filename: string }[] }).files.map((file) => file.filename).sort();
}

/** The whole log of a job as text, one `stream: text` line per line. */
export function logText(details: JobDetails): string {
  return details.log.map((line) => `${line.stream}: ${line.text}`).join("\n");
}

/** A job for a short failure message: status, reason, attempts. */
export function describeJob(job: JobRow): string {
  return `#${job.id} ${job.project} ${job.version} ${job.targetKey}: ${job.status}${job.reason ? ` (${job.reason})` : ""}, attempts ${job.attempts}${job.agent ? `, agent ${job.agent}` : ""}`;
}

/**
 * Polls until `ready` returns a value other than undefined, or fails after timeoutMs with
 * `describe()` of the last state: waiting is fine, hanging is not.
 */
export async function waitFor<T>(
  what: string,
  ready: () => Promise<T | undefined>,
  options: { timeoutMs?: number; intervalMs?: number; describe?: () => Promise<string> | string } = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 90_000);
  for (;;) {
    const value = await ready();
    if (value !== undefined) return value;
    if (Date.now() > deadline) {
      const state = options.describe ? `\n${await options.describe()}` : "";
      throw new Error(`gave up after ${options.timeoutMs ?? 90_000} ms waiting for ${what}${state}`);
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 250));
  }
}

/** The text of one member of a zip archive (a wheel or an egg); undefined when it has none. */
export function zipMember(archive: Buffer, member: string): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(archive, { lazyEntries: true }, (error, zip) => {
      if (error) return reject(error);
      zip.on("error", reject);
      zip.on("end", () => resolve(undefined));
      zip.on("entry", (entry: yauzl.Entry) => {
        if (entry.fileName !== member) return zip.readEntry();
        zip.openReadStream(entry, (streamError, stream) => {
          if (streamError) return reject(streamError);
          const chunks: Buffer[] = [];
          stream.on("data", (chunk: Buffer) => chunks.push(chunk));
          stream.on("error", reject);
          stream.on("end", () => {
            zip.close();
            resolve(Buffer.concat(chunks).toString("utf8"));
          });
        });
      });
      zip.readEntry();
    });
  });
}

// ---- uploads without twine (in-process tests) --------------------------------------------------

/** The legacy upload API as twine uses it; resolves with the answer whatever it is. */
export async function uploadFile(baseUrl: string, token: string, file: { filename: string; bytes: Buffer; name: string; version: string }): Promise<Reply> {
  const form = new FormData();
  const filetype = file.filename.endsWith(".whl") ? "bdist_wheel" : file.filename.endsWith(".egg") ? "bdist_egg" : "sdist";
  const sha256 = createHash("sha256").update(file.bytes).digest("hex");
  const fields = [[":action", "file_upload"], ["protocol_version", "1"], ["name", file.name], ["version", file.version], ["filetype", filetype], ["sha256_digest", sha256]];
  for (const [name, value] of fields) {
    form.append(name, value);
  }
  form.append("content", new Blob([new Uint8Array(file.bytes)]), file.filename);
  return request(baseUrl, "/legacy/", { auth: tokenAuth(token), body: form });
}

// ---- a scripted agent ---------------------------------------------------------------------------

/** What a real agent on this machine reports (src/python/probe.py), trimmed to the tags that matter. */
export const TARGETS = {
  egg27: {
    kind: "egg",
    implementation: "cpython",
    python_version: "2.7.18",
    os: "linux",
    arch: "x86_64",
    platform: "linux-x86_64",
    egg_platform: "linux-x86_64",
    wheel_tags: ["cp27-cp27mu-manylinux1_x86_64", "cp27-cp27mu-linux_x86_64", "cp27-none-any", "py2-none-any"],
  },
  wheel311: {
    kind: "wheel",
    implementation: "cpython",
    python_version: "3.11.7",
    os: "linux",
    arch: "x86_64",
    platform: "linux-x86_64",
    egg_platform: "linux-x86_64",
    wheel_tags: ["cp311-cp311-manylinux_2_17_x86_64", "cp311-cp311-linux_x86_64", "cp311-abi3-linux_x86_64", "cp311-none-any", "py3-none-any"],
  },
  wheel312: {
    kind: "wheel",
    implementation: "cpython",
    python_version: "3.12.1",
    os: "linux",
    arch: "x86_64",
    platform: "linux-x86_64",
    egg_platform: "linux-x86_64",
    wheel_tags: ["cp312-cp312-manylinux_2_17_x86_64", "cp312-cp312-linux_x86_64", "cp312-abi3-linux_x86_64", "cp312-none-any", "py3-none-any"],
  },
} satisfies Record<string, TargetMessage>;

/** The keys the server derives from TARGETS. */
export const TARGET_KEYS = { egg27: "egg-py2.7-linux-x86_64", wheel311: "wheel-cp311-linux_x86_64", wheel312: "wheel-cp312-linux_x86_64" } as const;

export interface BuiltFile {
  filename: string;
  bytes: Buffer;
}

/**
 * An agent played by the test: the same requests as src/agent/client.ts, answers kept whole. It
 * keeps each lease's secret and build credential as the real agent does, and sends the secret
 * with logs and results.
 */
export class FakeAgent {
  /** job id → what the lease answer gave for it. */
  readonly leases = new Map<number, { leaseSecret: string; buildToken: string }>();

  constructor(
    readonly baseUrl: string,
    readonly name: string,
    readonly token: string,
  ) {}

  /** Registers and starts a session with `slots` build slots (how many leases it may hold at once). */
  static async register(baseUrl: string, enrolmentSecret: string, name: string, targets: TargetMessage[], slots = 1): Promise<FakeAgent> {
    const answer = await requestJson<{ token: string }>(baseUrl, "/api/farm/register", {
      body: { name, version: VERSION, enrolment_secret: enrolmentSecret },
      headers: { [AGENT_VERSION_HEADER]: VERSION },
    });
    const agent = new FakeAgent(baseUrl, name, answer.token);
    const reply = await agent.startSession(targets, slots);
    if (reply.status !== 200) throw new Error(`target report of ${name} refused: ${reply.status} ${reply.statusText}`);
    return agent;
  }

  /** PUT /api/farm/targets, as an agent process does when it starts. */
  startSession(targets: TargetMessage[], slots?: number): Promise<Reply> {
    return this.send("PUT", "/api/farm/targets", { targets, slots });
  }

  send(method: string, path: string, body?: unknown, headers: Record<string, string> = {}, signal?: AbortSignal): Promise<Reply> {
    return request(this.baseUrl, path, { method, body, auth: bearer(this.token), headers: { [AGENT_VERSION_HEADER]: VERSION, ...headers }, signal });
  }

  /** The raw lease answer (200 with a job, 204 without); `signal` hangs up while it waits. */
  leaseReply(waitSeconds = 0, signal?: AbortSignal): Promise<Reply> {
    return this.send("POST", "/api/farm/lease", { wait_seconds: waitSeconds }, {}, signal);
  }

  async lease(waitSeconds = 0): Promise<LeasedJobMessage | null> {
    const reply = await this.leaseReply(waitSeconds);
    if (reply.status === 204) return null;
    if (reply.status !== 200) throw new Error(`lease by ${this.name}: ${reply.status} ${reply.statusText}`);
    const job = (JSON.parse(reply.body) as { job: LeasedJobMessage }).job;
    this.leases.set(job.id, { leaseSecret: job.leaseSecret, buildToken: job.buildToken });
    return job;
  }

  /** The lease secret header for the job: the one this agent was given, or `secret` to play a thief. */
  private leaseHeader(jobId: number, secret?: string | null): Record<string, string> {
    const value = secret === undefined ? this.leases.get(jobId)?.leaseSecret : secret;
    return value ? { [LEASE_SECRET_HEADER]: value } : {};
  }

  log(jobId: number, texts: string[], secret?: string | null): Promise<Reply> {
    const lines = texts.map((text) => ({ at: new Date().toISOString(), stream: "stdout", text }));
    return this.send("POST", `/api/farm/jobs/${jobId}/log`, { lines }, this.leaseHeader(jobId, secret));
  }

  /** A result as the agent uploads it: a `result` JSON field and `files` parts. */
  result(jobId: number, outcome: { status: string; reason?: string; linked?: Record<string, string[]> }, files: BuiltFile[] = [], secret?: string | null): Promise<Reply> {
    const form = new FormData();
    form.append("result", JSON.stringify({ status: outcome.status, reason: outcome.reason ?? "", linked_libraries: outcome.linked ?? {} }));
    for (const file of files) form.append("files", new Blob([new Uint8Array(file.bytes)]), file.filename);
    return this.send("POST", `/api/farm/jobs/${jobId}/result`, form, this.leaseHeader(jobId, secret));
  }
}
