/** Facts of the farm API that the server and the agent must agree on. */

/** Carries the secret of the lease a log or result belongs to: the agent's token alone answers no job. */
export const LEASE_SECRET_HEADER = "X-Pydepot-Lease-Secret";

/** A line of build output as an agent sends it and the server stores it. */
export interface LogLine {
  at: string;
  stream: string;
  text: string;
}

/**
 * What a line costs the log's budget beyond its text: its row, time and stream. Counted, or a
 * build printing empty lines would store rows for free, millions of them, that every reader of
 * the job then loads.
 */
export const LINE_OVERHEAD = 64;

/** What a line of `text` costs a log's budget (the server's, and what an agent holds while the server cannot be reached). */
export function lineCost(text: string): number {
  return text.length + LINE_OVERHEAD;
}

/** The most lines one log request may carry: the server refuses a longer batch with 400. */
export const MAX_LOG_BATCH_LINES = 10_000;

/** The largest JSON body an agent may send (a log batch, a target report): the server refuses a larger one with 413. */
export const MAX_AGENT_JSON_BYTES = 4 * 1024 * 1024;

/** The longest log line kept whole: the server cuts a longer one, and the agent sends none longer. */
export const MAX_LOG_LINE_CHARS = 16 * 1024;

/** What names a build target: the server keeps one row per key, and an agent reports each key once. */
export interface TargetIdentity {
  kind: "wheel" | "egg";
  implementation: string;
  /** `X.Y.Z…` */
  python_version: string;
  platform: string;
  egg_platform: string;
}

/** `egg-py2.7-linux-x86_64`, `wheel-cp311-linux_x86_64`: an egg by Python X.Y and egg platform, a wheel by interpreter and platform. */
export function targetKey(target: TargetIdentity): string {
  const [major, minor] = target.python_version.split(".");
  if (target.kind === "egg") return `egg-py${major}.${minor}-${target.egg_platform}`;
  return `wheel-${target.implementation === "cpython" ? "cp" : target.implementation}${major}${minor}-${target.platform.replace(/[-.]/g, "_")}`;
}
