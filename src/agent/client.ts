import { openAsBlob } from "node:fs";
import path from "node:path";
import { VERSION } from "../version.js";
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

/** The agent's side of the farm API: JSON over HTTP with the agent's bearer token. */
export class FarmClient {
  constructor(
    readonly serverUrl: string,
    private token: string | null = null,
  ) {}

  /**
   * The staging index with the agent token as Basic password, for pip and setuptools: build
   * requirements the import checker has not verified yet are fine for a build, never for production.
   */
  indexUrl(): string {
    const url = new URL("/staging/simple/", this.serverUrl);
    if (this.token) {
      url.username = "__token__";
      url.password = this.token;
    }
    return url.toString();
  }

  async register(name: string, enrolmentSecret: string): Promise<string> {
    const { token } = await this.call<{ token: string }>("POST", "/api/farm/register", { name, version: VERSION, enrolment_secret: enrolmentSecret });
    this.token = token;
    return token;
  }

  async setTargets(targets: TargetMessage[]): Promise<string[]> {
    return (await this.call<{ targets: string[] }>("PUT", "/api/farm/targets", { targets })).targets;
  }

  /** Long poll: the next job, or null when none came within the server's wait. */
  async lease(): Promise<LeasedJobMessage | null> {
    const answer = await this.call<{ job: LeasedJobMessage } | null>("POST", "/api/farm/lease", {});
    return answer?.job ?? null;
  }

  async log(jobId: number, lines: { at: string; stream: string; text: string }[]): Promise<void> {
    await this.call("POST", `/api/farm/jobs/${jobId}/log`, { lines });
  }

  async result(jobId: number, status: "succeeded" | "failed", reason: string, files: { path: string; linkedLibraries: string[] }[]): Promise<void> {
    const form = new FormData();
    const linked = Object.fromEntries(files.map((file) => [path.basename(file.path), file.linkedLibraries]));
    form.append("result", JSON.stringify({ status, reason, linked_libraries: linked }));
    for (const file of files) form.append("files", await openAsBlob(file.path), path.basename(file.path));
    await this.call("POST", `/api/farm/jobs/${jobId}/result`, form);
  }

  async download(urlPath: string): Promise<Response> {
    const response = await fetch(new URL(urlPath, this.serverUrl), { headers: this.headers() });
    if (!response.ok || !response.body) throw new ServerRefusal(response.status, `download of ${urlPath} failed: ${response.status} ${response.statusText}`);
    return response;
  }

  private headers(): Record<string, string> {
    return { "X-Pydepot-Agent-Version": VERSION, ...(this.token ? { Authorization: `Bearer ${this.token}` } : {}) };
  }

  private async call<T>(method: string, urlPath: string, body: unknown): Promise<T> {
    const isForm = body instanceof FormData;
    const response = await fetch(new URL(urlPath, this.serverUrl), {
      method,
      headers: { ...this.headers(), ...(isForm ? {} : { "Content-Type": "application/json" }) },
      body: isForm ? body : JSON.stringify(body),
    });
    if (response.status === 204) return null as T;
    if (!response.ok) throw new ServerRefusal(response.status, `${method} ${urlPath}: ${response.status} ${response.statusText}`);
    return (await response.json()) as T;
  }
}
