import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { badRequest, notFound } from "../core/errors.js";
import { normalize } from "../core/names.js";
import { fits, type TargetTags } from "../core/tags.js";
import type { NormalizedName } from "../core/types.js";
import { NodeUnreachable, runRemote, type NodeConnection } from "../remote/ssh.js";
import type { Settings } from "../settings.js";
import type { CheckPurpose, CheckRow, CheckStore, NodeHealth } from "../store/checks.js";
import { tx, type Db } from "../store/db.js";
import type { FileRow, FileStore } from "../store/files.js";
import type { HistoryStore } from "../store/history.js";
import type { ProjectStore } from "../store/projects.js";
import type { WakeUps } from "../store/wakeups.js";
import type { Access, Principal } from "./access.js";

type NodeSettings = Settings["nodes"][number];

const SCRIPTS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../src/python");

/**
 * The one fixed command run on a node: it reads `<script>\0<request JSON>` on stdin and runs the
 * script with the request as its stdin. Nothing from an upload is ever part of the command.
 */
const BOOTSTRAP = [
  "import sys",
  "script, _, request = sys.stdin.read().partition('\\0')",
  "try:\n    from StringIO import StringIO\nexcept ImportError:\n    from io import StringIO",
  "sys.stdin = StringIO(request)",
  "sys.argv = ['pydepot']",
  "exec(compile(script, 'pydepot', 'exec'), {'__name__': '__main__'})",
].join("\n");

/** What probe.py says about an interpreter on a node. */
export interface InterpreterProbe {
  version: string;
  egg_platform: string;
  wheel_tags: string[];
}

interface CheckResult {
  verdict: "verified" | "failed" | "error";
  reason: string;
  log: string;
  modules: CheckRow["modules"];
  missing_libraries: string[];
  degraded: boolean;
  duration: number;
}

/**
 * The import checker: pick an artifact, a node and an interpreter it fits, run check.py there over
 * SSH, record the verdict in one transaction that also changes what the default index lists.
 * Node trouble leaves the check pending with the node's error; it never fails an artifact.
 */
export class Checks {
  private readonly running = new Map<string, number>();
  private readonly inFlight = new Set<Promise<void>>();
  /** Placement passes run one after another: two at once would both see the same free slots. */
  private passes: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly db: Db,
    private readonly store: CheckStore,
    private readonly files: FileStore,
    private readonly projects: ProjectStore,
    private readonly history: HistoryStore,
    private readonly wakeUps: WakeUps,
    private readonly nodes: readonly NodeSettings[],
    private readonly settings: Settings["checker"],
    /** How nodes reach this server; known once it listens. */
    private readonly serverUrl: () => string,
    private readonly now: () => string,
    private readonly access: Access,
  ) {}

  /** Start every due check a node has room for; resolves when those have finished. */
  async runDue(onlyNode?: string): Promise<void> {
    const pass = this.passes.then(() => this.startDue(onlyNode));
    this.passes = pass.catch(() => undefined);
    await Promise.all(await pass);
  }

  /** Wait for the checks under way (before the database closes). */
  async drain(): Promise<void> {
    await this.passes;
    await Promise.all(this.inFlight);
  }

  private async startDue(onlyNode?: string): Promise<Promise<void>[]> {
    for (const fileId of this.store.unchecked()) this.store.insert(fileId, "new", this.now());
    const started: Promise<void>[] = [];
    // Each node is asked what it runs at most once a pass, so a dead node costs one timeout, not one per check.
    const probed = new Map<string, Record<string, InterpreterProbe> | NodeUnreachable>();
    for (const check of this.store.due(Date.now())) {
      const file = this.files.byFilename(check.filename)!;
      const placement = await this.place(file, probed, onlyNode);
      if (!placement) continue;
      if ("problem" in placement) {
        // No node could even be asked what it runs: the check waits with that node's error.
        this.postpone(check.id, placement.node, `node ${placement.node.name}: ${placement.problem}`, false);
        continue;
      }
      if (!this.store.start(check.id, placement.node.name, placement.interpreter, this.now())) continue;
      this.running.set(placement.node.name, (this.running.get(placement.node.name) ?? 0) + 1);
      const running = this.run(check.id, file, placement.node, placement.interpreter).finally(() => {
        this.running.set(placement.node.name, this.running.get(placement.node.name)! - 1);
        this.inFlight.delete(running);
        this.wakeUps.notify();
      });
      this.inFlight.add(running);
      started.push(running);
    }
    return started;
  }

  /** Queue a check of one file, or of every egg and wheel of a project, now. */
  request(target: string, purpose: CheckPurpose = "manual"): CheckRow[] {
    const byName = this.files.byFilename(target);
    const files = byName ? [byName] : this.projectFiles(target);
    const ids = tx(this.db, () => files.map((file) => this.store.insert(file.id, purpose, this.now())));
    this.wakeUps.notify();
    return ids.map((id) => this.store.byId(id)!);
  }

  /** The nightly re-verification: every verified artifact is checked again, and history is kept. */
  reverifyAll(): number {
    const ids = this.store.verifiedFiles();
    tx(this.db, () => ids.forEach((fileId) => this.store.insert(fileId, "reverify", this.now())));
    this.wakeUps.notify();
    return ids.length;
  }

  /** A file's verification and every check of it, with logs: only for those who may read its project. */
  checksOf(principal: Principal, filename: string): { file: FileRow; checks: CheckRow[] } {
    const file = this.files.byFilename(filename);
    this.access.canRead(principal, file && this.projects.byName(file.project), () => notFound(`No file ${filename}`));
    return { file: file!, checks: this.store.forFile(file!.id) };
  }

  health(principal: Principal): NodeHealth[] {
    this.access.canReadIndex(principal);
    return this.store.health();
  }

  /** Ask each interpreter of a node what it is (first contact, and on demand). */
  async probe(nodeName: string): Promise<Record<string, InterpreterProbe>> {
    const node = this.node(nodeName);
    const probes: Record<string, InterpreterProbe> = {};
    for (const interpreter of node.interpreters) {
      const result = await runRemote(this.connection(node), [interpreter, "-c", BOOTSTRAP], `${script("probe.py")}\0{}`, { timeoutMs: 60_000 });
      if (result.code !== 0) throw new NodeUnreachable("disconnected", `probe of ${interpreter} on ${node.name} failed: ${result.stderr.trim().split("\n").at(-1)}`);
      const probe = JSON.parse(result.stdout.trim().split("\n").at(-1)!) as InterpreterProbe;
      this.store.saveProbe(node.name, interpreter, JSON.stringify(probe), this.now());
      probes[interpreter] = probe;
    }
    this.store.saveHealth(node.name, true, "", this.now());
    return probes;
  }

  /** A node with room and an interpreter the file fits; else the first node that could not be probed, if any. */
  private async place(
    file: FileRow,
    probed: Map<string, Record<string, InterpreterProbe> | NodeUnreachable>,
    onlyNode?: string,
  ): Promise<{ node: NodeSettings; interpreter: string } | { node: NodeSettings; problem: string } | null> {
    let unreachable: { node: NodeSettings; problem: string } | null = null;
    for (const node of this.nodes) {
      if ((onlyNode && node.name !== onlyNode) || (this.running.get(node.name) ?? 0) >= node.parallel) continue;
      if (!probed.has(node.name)) probed.set(node.name, await this.probesOf(node));
      const probes = probed.get(node.name)!;
      if (probes instanceof NodeUnreachable) {
        unreachable ??= { node, problem: probes.message };
        continue;
      }
      const interpreter = Object.entries(probes).find(([, probe]) => fits(file, asTarget(file, probe)))?.[0];
      if (interpreter) return { node, interpreter };
    }
    return unreachable;
  }

  private async probesOf(node: NodeSettings): Promise<Record<string, InterpreterProbe> | NodeUnreachable> {
    const stored = new Map(this.store.probes(node.name).map((row) => [row.path, JSON.parse(row.probe) as InterpreterProbe]));
    // Only the configured interpreters, in the configured order (the order of preference).
    if (node.interpreters.every((interpreter) => stored.has(interpreter))) {
      return Object.fromEntries(node.interpreters.map((interpreter) => [interpreter, stored.get(interpreter)!]));
    }
    try {
      return await this.probe(node.name);
    } catch (error) {
      if (!(error instanceof NodeUnreachable)) throw error;
      this.store.saveHealth(node.name, false, error.message, this.now());
      return error;
    }
  }

  private async run(checkId: number, file: FileRow, node: NodeSettings, interpreter: string): Promise<void> {
    const request = {
      artifact_url: `${this.serverUrl()}/files/${file.project}/${file.filename}`,
      sha256: file.sha256,
      filename: file.filename,
      kind: file.kind,
      index_url: `${this.serverUrl()}/staging/simple/`,
      modules: file.topLevel,
      timeout: this.settings.check_timeout_seconds,
    };
    let result: CheckResult;
    try {
      const timeoutMs = (this.settings.check_timeout_seconds + 30) * 1000;
      const output = await runRemote(this.connection(node), [interpreter, "-c", BOOTSTRAP], `${script("check.py")}\0${JSON.stringify(request)}`, { timeoutMs });
      result = parseResult(output.stdout, output.stderr, output.code, output.signal);
    } catch (error) {
      if (!(error instanceof NodeUnreachable)) throw error;
      return this.postpone(checkId, node, `node ${node.name}: ${error.message}`, false);
    }
    if (result.verdict === "error") return this.postpone(checkId, node, `check could not run on ${node.name}: ${result.reason}`, true, result.log);
    this.record(checkId, file, node, result);
  }

  private record(checkId: number, file: FileRow, node: NodeSettings, result: CheckResult): void {
    const verdict = result.verdict === "verified" ? "verified" : "failed";
    tx(this.db, () => {
      this.store.finish(checkId, {
        status: verdict,
        reason: result.reason,
        log: result.log,
        modules: result.modules,
        missingLibraries: result.missing_libraries,
        degraded: result.degraded,
        durationMs: Math.round(result.duration * 1000),
      }, this.now());
      this.store.setVerification(file.id, verdict, result.degraded);
      this.projects.touch(this.projects.byName(file.project)!.id);
      this.store.saveHealth(node.name, true, "", this.now());
      this.history.record(this.now(), { actor: `checker:${node.name}`, action: `check.${verdict}`, project: file.project, subject: file.filename, detail: result.reason });
    });
  }

  /** Leave the check pending, to be retried after `retry_seconds`; the node is unhealthy unless it answered. */
  private postpone(checkId: number, node: NodeSettings, reason: string, nodeAnswered: boolean, log = ""): void {
    tx(this.db, () => {
      this.store.postpone(checkId, log ? `${reason}\n${log}` : reason, node.name, Date.now() + this.settings.retry_seconds * 1000);
      if (!nodeAnswered) this.store.saveHealth(node.name, false, reason, this.now());
    });
  }

  private projectFiles(name: string): FileRow[] {
    const project = this.projects.byName(normalize(name) as NormalizedName);
    if (!project) throw notFound(`No file or project named ${name}`);
    const files = this.files.liveByProject(project.id).filter((file) => file.kind !== "sdist");
    if (files.length === 0) throw badRequest(`Project ${project.name} has no eggs or wheels to check`);
    return files;
  }

  private node(name: string): NodeSettings {
    const node = this.nodes.find((candidate) => candidate.name === name);
    if (!node) throw notFound(`No node named ${name} in the configuration`);
    return node;
  }

  private connection(node: NodeSettings): NodeConnection {
    let privateKey: Buffer;
    try {
      privateKey = readFileSync(node.private_key_file);
    } catch (error) {
      throw new NodeUnreachable("auth", `cannot read private key ${node.private_key_file}: ${(error as Error).message}`);
    }
    return { host: node.host, port: node.port, username: node.user, privateKey, hostKeySha256: node.host_key };
  }
}

function asTarget(file: FileRow, probe: InterpreterProbe): TargetTags {
  return { kind: file.kind === "egg" ? "egg" : "wheel", pythonVersion: probe.version, eggPlatform: probe.egg_platform, wheelTags: probe.wheel_tags };
}

function script(name: string): string {
  return readFileSync(path.join(SCRIPTS, name), "utf8");
}

/** The last stdout line is the verdict; without one the check did not really run. */
function parseResult(stdout: string, stderr: string, code: number | null, signal: string | null): CheckResult {
  try {
    return JSON.parse(stdout.trim().split("\n").at(-1) ?? "") as CheckResult;
  } catch {
    const detail = stderr.trim().split("\n").slice(-5).join("\n");
    return { verdict: "error", reason: `no verdict from the check script (${code === null && signal ? `killed by ${signal}` : `exit ${code}`})`, log: `${stdout}\n${detail}`, modules: [], missing_libraries: [], degraded: false, duration: 0 };
  }
}
