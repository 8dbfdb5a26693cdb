// What the farm scenarios share: a storage folder prepared before its server starts (an
// uploader's token, an enrolment secret, the build tools a real build needs), agents registered
// through the services, and a real `pydepot agent` process.
import { spawn, type ChildProcess } from "node:child_process";
import { copyFileSync, mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Services } from "../../src/app.js";
import { VERSION } from "../../src/version.js";
import { cleanEnv } from "../support/commands.js";
import { FakeAgent, type TargetMessage } from "../support/farm-api.js";
import { buildToolWheels } from "../support/packages.js";
import { createUploader, openServices } from "./populate.js";
import { stopChild, track } from "./server.js";

const MAIN = fileURLToPath(new URL("../../dist/main.js", import.meta.url));

export interface FarmSecrets {
  uploaderToken: string;
  enrolmentSecret: string;
}

/**
 * An uploader's token and an enrolment secret, written through the services before the server
 * starts; with `buildTools`, setuptools and wheel imported too, so a real agent's isolated
 * `pip wheel` finds them on the index (as test/support/farm.ts seeds its farm).
 */
export async function prepareFarm(storage: string, options: { buildTools: boolean }): Promise<FarmSecrets> {
  const services = openServices(storage);
  try {
    const uploaderToken = await createUploader(services);
    const enrolmentSecret = services.agents.createEnrolment("bench", "bench");
    if (options.buildTools) {
      const seed = path.join(path.dirname(storage), "seed");
      mkdirSync(seed, { recursive: true });
      for (const wheel of buildToolWheels()) copyFileSync(wheel, path.join(seed, path.basename(wheel)));
      const report = await services.imports.importDirectory({ kind: "system", name: "bench" }, seed);
      if (report.added.length !== 2) throw new Error(`seeding the build tools failed: ${JSON.stringify(report)}`);
    }
    return { uploaderToken, enrolmentSecret };
  } finally {
    services.close();
  }
}

/**
 * `count` agents registered and given `target` through the services (what POST
 * /api/farm/register and PUT /api/farm/targets do), as FakeAgents for `baseUrl` once it listens.
 */
export function registerAgents(services: Services, enrolmentSecret: string, count: number, target: TargetMessage, prefix = "bench-agent"): (baseUrl: string) => FakeAgent[] {
  const agents: { name: string; token: string }[] = [];
  for (let index = 0; index < count; index++) {
    const name = `${prefix}-${String(index + 1).padStart(2, "0")}`;
    const token = services.agents.register(name, VERSION, enrolmentSecret);
    // As many slots as the bench may lease at once: the bench measures the queue, not the slot limit.
    services.agents.startSession({ agentId: services.stores.agents.byName(name)!.id, name }, [target], 64);
    agents.push({ name, token });
  }
  return (baseUrl) => agents.map(({ name, token }) => new FakeAgent(baseUrl, name, token));
}

export interface AgentProcess {
  output(): string;
  /** performance.now() when the agent printed its first line matching `pattern` (bench clock), or undefined. */
  printedAt(pattern: RegExp): number | undefined;
  stop(): Promise<void>;
}

/**
 * `node dist/main.js agent` building with one interpreter, with its own state folder and TMPDIR
 * under `work`; resolves once it has reported its targets (it is then idle, long polling).
 */
export async function startAgent(options: { server: string; name: string; python: string; enrolmentSecret: string; work: string }): Promise<AgentProcess> {
  const tmp = path.join(options.work, options.name, "tmp");
  mkdirSync(tmp, { recursive: true });
  const args = [MAIN, "agent", "--server", options.server, "--name", options.name, "--python", options.python];
  // The bench measures latency on a machine of its own: builds as the agent's user are fine there.
  args.push("--build-as-agent-user", "--work-dir", tmp, "--state-dir", path.join(options.work, options.name, "state"));
  const env = cleanEnv({ TMPDIR: tmp, PYDEPOT_ENROLMENT_SECRET: options.enrolmentSecret });
  const child: ChildProcess = track(spawn(process.execPath, args, { env, cwd: options.work, stdio: ["ignore", "pipe", "pipe"] }));
  let output = "";
  const lines: { at: number; text: string }[] = [];
  // Each line with the moment it arrived, on the bench's clock.
  const collector = () => {
    let partial = "";
    return (chunk: Buffer) => {
      const at = performance.now();
      output += chunk.toString();
      const complete = (partial + chunk.toString()).split("\n");
      partial = complete.pop()!;
      lines.push(...complete.map((text) => ({ at, text })));
    };
  };
  child.stdout!.on("data", collector());
  child.stderr!.on("data", collector());
  const deadline = performance.now() + 60_000;
  while (!output.includes("building for ")) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`agent ${options.name} exited (${child.exitCode ?? child.signalCode}):\n${output}`);
    if (performance.now() > deadline) throw new Error(`agent ${options.name} did not report its targets within 60 s:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const printedAt = (pattern: RegExp) => lines.find((line) => pattern.test(line.text))?.at;
  return { output: () => output, printedAt, stop: () => stopChild(child) };
}
