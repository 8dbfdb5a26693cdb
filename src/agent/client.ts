import { openAsBlob } from "node:fs";
import path from "node:path";
import { VERSION } from "../version.js";
import { LEASE_SECRET_HEADER, type LogLine } from "../core/farm.js";
import type { LeasedJobMessage, TargetMessage } from "./messages.js";

/** An answer the server gave on purpose (a refusal), as opposed to not answering at all. */
export class ServerRefusal extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The agent's side of the farm API: JSON over HTTP with the agent's bearer token, which never
 * leaves this process (no child gets it in its arguments, environment or files).
 */
export class FarmClient {
  constructor(
    readonly serverUrl: string,
    private token: string | null = null,
  ) {}

  /**
   * The staging index, for pip and setuptools, with no credential in it (a build gets its own):
   * build requirements the import checker has not verified yet are fine for a build, never for production.
   */
  stagingIndexUrl(): string {
    return new URL("/staging/simple/", this.serverUrl).toString();
  }

  async register(name: string, enrolmentSecret: string): Promise<string> {
    const { token } = await this.call<{ token: string }>("POST", "/api/farm/register", { name, version: VERSION, enrolment_secret: enrolmentSecret });
    this.token = token;
    return token;
  }

  /** This process starts: its targets and slots; the server returns the previous process's leases to the queue (or fails those out of attempts). */
  async startSession(targets: TargetMessage[], slots: number): Promise<{ targets: string[]; returned: number[]; failed: number[] }> {
    return this.call("PUT", "/api/farm/targets", { targets, slots });
  }

  /** Long poll: the next job, or null when none came within the server's wait. */
  async lease(): Promise<LeasedJobMessage | null> {
    const answer = await this.call<{ job: LeasedJobMessage } | null>("POST", "/api/farm/lease", {});
    return answer?.job ?? null;
  }

  async log(job: LeasedJobMessage, lines: LogLine[]): Promise<void> {
    await this.call("POST", `/api/farm/jobs/${job.id}/log`, { lines }, { [LEASE_SECRET_HEADER]: job.leaseSecret });
  }

  async result(job: LeasedJobMessage, status: "succeeded" | "failed", reason: string, files: { path: string; linkedLibraries: string[] }[]): Promise<void> {
    const form = new FormData();
    const linked = Object.fromEntries(files.map((file) => [path.basename(file.path), file.linkedLibraries]));
    form.append("result", JSON.stringify({ status, reason, linked_libraries: linked }));
    for (const file of files) form.append("files", await openAsBlob(file.path), path.basename(file.path));
    await this.call("POST", `/api/farm/jobs/${job.id}/result`, form, { [LEASE_SECRET_HEADER]: job.leaseSecret });
  }

  async download(urlPath: string): Promise<Response> {
    const response = await fetch(new URL(urlPath, this.serverUrl), { headers: this.headers() });
    if (!response.ok || !response.body) throw new ServerRefusal(response.status, `download of ${urlPath} failed: ${response.status} ${response.statusText}`);
    return response;
  }

  private headers(): Record<string, string> {
    return { "X-Pydepot-Agent-Version": VERSION, ...(this.token ? { Authorization: `Bearer ${this.token}` } : {}) };
  }

  private async call<T>(method: string, urlPath: string, body: unknown, extraHeaders: Record<string, string> = {}): Promise<T> {
    const isForm = body instanceof FormData;
    const response = await fetch(new URL(urlPath, this.serverUrl), {
      method,
      headers: { ...this.headers(), ...extraHeaders, ...(isForm ? {} : { "Content-Type": "application/json" }) },
      body: isForm ? body : JSON.stringify(body),
    });
    if (response.status === 204) return null as T;
    if (!response.ok) throw new ServerRefusal(response.status, `${method} ${urlPath}: ${response.status} ${response.statusText}`);
    return (await response.json()) as T;
  }
}
