import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "../support/ports.js";

const MAIN = fileURLToPath(new URL("../../dist/main.js", import.meta.url));

/** Every child still running is killed when the bench exits, however it exits. */
const children = new Set<ChildProcess>();
process.once("exit", () => children.forEach((child) => child.kill("SIGKILL")));
for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => process.exit(130));

export function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once("exit", () => children.delete(child));
  return child;
}

export interface ServerProcess {
  url: string;
  pid: number;
  /** Spawn → the "pydepot serving" line (the socket is listening). */
  listeningMs: number;
  /** Spawn → the first 200 answer to GET /simple/ (includes rendering the root page once). */
  firstPageMs: number;
  /** Throws, with the server's output, if it is no longer running. */
  assertAlive(): void;
  stop(): Promise<void>;
}

/**
 * `node dist/main.js serve` in its own process (so the load generator never shares its event
 * loop), on a free loopback port, configured by environment only (`settings`, e.g.
 * PYDEPOT_FARM_LONG_POLL_SECONDS, are added to it); cwd is the storage's parent so no stray
 * pydepot.toml is read.
 */
export async function startServer(storage: string, settings: Record<string, string> = {}): Promise<ServerProcess> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("PYDEPOT_")));
  const started = performance.now();
  const child = track(spawn(process.execPath, [MAIN, "serve"], {
    cwd: path.dirname(storage),
    env: { ...env, ...settings, PYDEPOT_STORAGE_PATH: storage, PYDEPOT_SERVER_PORT: String(port), PYDEPOT_SERVER_HOST: "127.0.0.1" },
    stdio: ["ignore", "pipe", "pipe"],
  }));
  let output = "";
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  let exit: string | null = null;
  const exited = new Promise<never>((_resolve, reject) =>
    child.once("exit", (code, signal) => {
      exit = `pydepot serve exited (${code ?? signal}):\n${output}`;
      reject(new Error(exit));
    }),
  );
  const listening = new Promise<number>((resolve) => {
    child.stdout!.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes("pydepot serving")) resolve(performance.now() - started);
    });
  });
  const firstPage = (async () => {
    await pollUntilOk(`${url}/simple/`, 30_000);
    return performance.now() - started;
  })();
  const [listeningMs, firstPageMs] = await Promise.race([Promise.all([listening, firstPage]), exited]);
  exited.catch(() => {});
  const assertAlive = () => {
    if (exit) throw new Error(exit);
  };
  return { url, pid: child.pid!, listeningMs, firstPageMs, assertAlive, stop: () => stopChild(child) };
}

export async function pollUntilOk(url: string, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    try {
      const response = await fetch(url);
      await response.arrayBuffer();
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    if (performance.now() > deadline) throw new Error(`${url} did not answer 200 within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** SIGTERM, then SIGKILL after 5 s. */
export function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

export interface Memory {
  /** Resident set size now, MiB. */
  rssMiB: number;
  /** Peak resident set size (since start or the last resetPeak), MiB. */
  hwmMiB: number;
}

export function memoryOf(pid: number): Memory {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)![1]);
  return { rssMiB: kib("VmRSS") / 1024, hwmMiB: kib("VmHWM") / 1024 };
}

/** Reset VmHWM to the current RSS (Linux ≥ 4.0: "5" to clear_refs), so the next peak is this run's. */
export function resetPeak(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, "5");
}
