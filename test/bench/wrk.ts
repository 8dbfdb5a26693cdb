import { execFile } from "node:child_process";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface LoadOptions {
  threads: number;
  connections: number;
  seconds: number;
  /** Request headers, `Name: value` each (wrk -H). */
  headers?: string[];
}

export interface LoadResult {
  requests: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** Socket errors and non-2xx/3xx answers, when wrk reported any. */
  errors: string | null;
}

/** `wrk -t… -c… -d…s --latency URL`, parsed. */
export async function runWrk(binary: string, url: string, options: LoadOptions): Promise<LoadResult> {
  const headers = (options.headers ?? []).flatMap((header) => ["-H", header]);
  const args = [`-t${options.threads}`, `-c${options.connections}`, `-d${options.seconds}s`, "--latency", ...headers, url];
  const { stdout } = await run(binary, args, { timeout: (options.seconds + 30) * 1000 });
  return parseWrk(stdout);
}

export function parseWrk(output: string): LoadResult {
  const requests = /^\s+(\d+) requests in /m.exec(output);
  const rate = /^Requests\/sec:\s+([\d.]+)/m.exec(output);
  const p50 = /^\s+50%\s+([\d.]+)(us|ms|s|m)\s*$/m.exec(output);
  const p99 = /^\s+99%\s+([\d.]+)(us|ms|s|m)\s*$/m.exec(output);
  if (!requests || !rate || !p50 || !p99) throw new Error(`Cannot parse wrk output:\n${output}`);
  const errors = [/^\s+Socket errors:.*$/m.exec(output)?.[0].trim(), /^\s+Non-2xx or 3xx responses:.*$/m.exec(output)?.[0].trim()].filter(Boolean);
  return {
    requests: Number(requests[1]),
    requestsPerSecond: Number(rate[1]),
    p50Ms: toMs(p50[1], p50[2]),
    p99Ms: toMs(p99[1], p99[2]),
    errors: errors.length > 0 ? errors.join("; ") : null,
  };
}

function toMs(value: string, unit: string): number {
  const factor: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };
  return Number(value) * factor[unit];
}
