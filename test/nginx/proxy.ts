// Debian's real nginx in front of a test server, configured by the output of
// `pydepot nginx-config --full` (the real CLI, run from source), in a temporary prefix on a
// free loopback port. Nothing here writes nginx configuration by hand.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { freePort } from "../support/ports.js";
import type { TestServer } from "../support/server.js";

export const NGINX = "/usr/sbin/nginx";
const MAIN = fileURLToPath(new URL("../../src/main.ts", import.meta.url));
const TSX = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;

export interface Nginx {
  url: string;
  /** The configuration nginx runs, exactly as the CLI printed it. */
  config: string;
  stop(): Promise<void>;
}

/** The settings the pydepot under test runs with, as the PYDEPOT_* variables the CLI reads. */
export type SettingsEnv = Record<`PYDEPOT_${string}`, string>;

/** Run the `pydepot` CLI from source with only the given PYDEPOT_* settings; resolves stdout, rejects on a non-zero exit. */
export function runCli(args: string[], settings: SettingsEnv, cwd: string): Promise<{ stdout: string; stderr: string }> {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("PYDEPOT_")));
  const child = spawn(process.execPath, ["--import", TSX, MAIN, ...args], { cwd, env: { ...inherited, ...settings }, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code, signal) => {
      if (code === 0) resolve({ stdout, stderr });
      else reject(Object.assign(new Error(`pydepot ${args.join(" ")} exited with ${code ?? signal}:\n${stderr}`), { stdout, stderr, code }));
    });
  });
}

/** nginx in front of a test server whose index anyone may read. */
export function startNginxFor(server: TestServer): Promise<Nginx> {
  return startNginx({
    PYDEPOT_SERVER_HOST: "127.0.0.1",
    PYDEPOT_SERVER_PORT: new URL(server.url).port,
    PYDEPOT_STORAGE_PATH: server.storage,
    PYDEPOT_ACCESS_ANONYMOUS_READ: "true",
  });
}

/** Render the config with the CLI and start nginx on it; stops and cleans up if it does not come up. */
export async function startNginx(settings: SettingsEnv): Promise<Nginx> {
  if (!existsSync(NGINX)) throw new Error(`${NGINX} is missing: the global setup installs nginx-light`);
  const prefix = mkdtempSync(path.join(os.tmpdir(), "pydepot-nginx-"));
  const port = await freePort();
  const { stdout: config } = await runCli(["nginx-config", "--full", "--listen", `127.0.0.1:${port}`, "--prefix", prefix], settings, prefix);
  const file = path.join(prefix, "nginx.conf");
  writeFileSync(file, config);
  const child = spawn(NGINX, ["-p", prefix, "-c", file, "-e", path.join(prefix, "error.log"), "-g", "daemon off;"], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    await stopNginx(child);
    rmSync(prefix, { recursive: true, force: true });
  };
  try {
    await waitUntilListening(url, child, () => `${output}${readErrorLog(prefix)}`);
  } catch (error) {
    await stop();
    throw error;
  }
  return { url, config, stop };
}

async function waitUntilListening(url: string, child: ChildProcess, diagnostics: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`nginx exited (${child.exitCode ?? child.signalCode}):\n${diagnostics()}`);
    try {
      const answer = await fetch(`${url}/`, { method: "HEAD" });
      await answer.arrayBuffer();
      return; // any answer: nginx is accepting connections
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`nginx did not listen on ${url} within 15 s:\n${diagnostics()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** SIGQUIT (graceful), then SIGTERM, then SIGKILL: the master and its workers are gone when this resolves. */
async function stopNginx(child: ChildProcess): Promise<void> {
  for (const [signal, waitMs] of [["SIGQUIT", 10_000], ["SIGTERM", 5_000], ["SIGKILL", 5_000]] as const) {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), waitMs);
      child.once("exit", () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    child.kill(signal);
    if (await exited) return;
  }
}

function readErrorLog(prefix: string): string {
  const file = path.join(prefix, "error.log");
  return existsSync(file) ? readFileSync(file, "utf8") : "";
}
