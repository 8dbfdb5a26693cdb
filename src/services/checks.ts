import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { degradedReason } from "../core/compiled.js";
import { AppError, badRequest, conflict, notFound, unauthorized } from "../core/errors.js";
import { normalize, requirementName } from "../core/names.js";
import { bootstrapCommand, bootstrapInput } from "../core/python-bootstrap.js";
import { fits, type TargetTags } from "../core/tags.js";
import type { NormalizedName } from "../core/types.js";
import { pythonSeries } from "../core/verdicts.js";
import { satisfiesRequiresPython } from "../core/versions.js";
import { NodeUnreachable, OutputTooLarge, runRemote, type NodeConnection } from "../remote/ssh.js";
import type { Settings } from "../settings.js";
import type { CheckPurpose, CheckRow, CheckStore, FailureCause, NodeHealth, Slot } from "../store/checks.js";
import { tx, type Db } from "../store/db.js";
import type { FileRow, FileStore } from "../store/files.js";
import type { HistoryStore } from "../store/history.js";
import type { ProjectStore } from "../store/projects.js";
import type { SmokeCheckStore } from "../store/smoke-checks.js";
import type { WakeUps } from "../store/wakeups.js";
import { ANONYMOUS, type Access, type Principal } from "./access.js";
import type { NodeTrust } from "./node-trust.js";
import { hashSecret, newSecret } from "./secrets.js";
import type { MatrixEntry, Verdicts } from "./verdicts.js";

type NodeSettings = Settings["nodes"][number];

const CHECK_TOKEN_PREFIX = "pydepot-check-";

export function isCheckToken(secret: string): boolean {
  return secret.startsWith(CHECK_TOKEN_PREFIX);
}

const SCRIPTS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../src/python");

/** What a node runs for probe.py or check.py: the start-up fingerprint first, see core/python-bootstrap. */
function scriptInput(name: "probe.py" | "check.py", request: object): string {
  return bootstrapInput([script("fingerprint.py"), script(name)], request);
}

/** What probe.py says about an interpreter on a node. */
export type InterpreterProbe = z.infer<typeof interpreterProbe>;

type CheckResult = z.infer<typeof checkResult>;

interface Placement {
  node: NodeSettings;
  interpreter: string;
  probe: InterpreterProbe;
}

/** A file's verification, its verdict on each interpreter it fits, and every check of it. */
export interface FileChecks {
  file: FileRow;
  matrix: MatrixEntry[];
  checks: CheckRow[];
}

/**
 * The import checker: a file's first check is spread over every distinct interpreter (Python
 * X.Y and platform) it fits across the configured nodes; each then goes to a node with that
 * interpreter and room, runs check.py there over SSH, and its verdict is recorded in one
 * transaction that also settles what the default index lists (Verdicts). Node trouble leaves
 * the check pending with the node's error; it never fails an artifact.
 */
export class Checks {
  private readonly running = new Map<string, number>();
  /** Nodes running a check that must have the node to itself (CheckRow.alone): nothing else starts there meanwhile. */
  private readonly heldAlone = new Set<string>();
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
    private readonly trust: NodeTrust,
    private readonly nodes: readonly NodeSettings[],
    private readonly settings: Settings["checker"],
    /** How nodes reach this server; known once it listens. */
    private readonly serverUrl: () => string,
    private readonly now: () => string,
    private readonly access: Access,
    private readonly verdicts: Verdicts,
    private readonly smokeChecks: SmokeCheckStore,
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
    for (const fileId of this.store.unchecked()) {
      tx(this.db, () => {
        this.store.insert(fileId, "new", this.now());
        // Files whose dependency had no file here: this may be the one they lacked (the farm builds in no order).
        for (const waiting of this.store.awaitingProjectOf(fileId)) this.store.insertForSlot(waiting.fileId, "reverify", waiting, this.now());
      });
    }
    const started: Promise<void>[] = [];
    // Each node is asked what it runs at most once a pass, so a dead node costs one timeout, not one per check.
    const probed = new Map<string, Record<string, InterpreterProbe> | string>();
    const draining = new Set<string>();
    for (const check of this.store.due(Date.now())) {
      if (check.python === null) await this.spread(check, probed);
    }
    for (const check of this.store.due(Date.now())) {
      if (check.python === null || check.platform === null) continue;
      const file = this.files.byFilename(check.filename)!;
      const placement = await this.place(file, { python: check.python, platform: check.platform }, probed, draining, check.alone, onlyNode);
      if (!placement) continue;
      if ("problem" in placement) {
        // No node may run it now (unreachable, refused, quarantined): the check waits with that node's reason.
        this.postpone(check.id, placement.node, placement.problem, false);
        continue;
      }
      const startedAt = this.now();
      // The check's own read credential: valid while this run of it lasts (authenticateCheck).
      const credential = newSecret(CHECK_TOKEN_PREFIX);
      if (!this.store.start(check.id, placement.node.name, placement.interpreter, hashSecret(credential), startedAt)) continue;
      this.running.set(placement.node.name, (this.running.get(placement.node.name) ?? 0) + 1);
      if (check.alone) this.heldAlone.add(placement.node.name);
      const running = this.run(check.id, file, placement, startedAt, credential).finally(() => {
        this.running.set(placement.node.name, this.running.get(placement.node.name)! - 1);
        if (check.alone) this.heldAlone.delete(placement.node.name);
        this.inFlight.delete(running);
        this.wakeUps.notify();
      });
      this.inFlight.add(running);
      started.push(running);
    }
    return started;
  }

  /**
   * Queue checks of one file, or of every egg and wheel of a project, run them (only on `onlyNode`
   * when given) until nothing more can start, and answer each file's matrix.
   */
  async checkNow(principal: Principal, target: string, onlyNode?: string): Promise<FileChecks[]> {
    const filenames = [...new Set(this.request(principal, target).map((check) => check.filename))];
    const files = () => filenames.map((filename) => this.files.byFilename(filename)!);
    const finished = () => files().flatMap((file) => this.store.forFile(file.id)).filter((check) => check.status === "verified" || check.status === "failed").length;
    const due = () => this.store.due(Date.now()).filter((check) => filenames.includes(check.filename)).length;
    // One pass starts what the nodes have room for: pass again while that gave verdicts and more is due.
    for (;;) {
      const before = finished();
      await this.runDue(onlyNode);
      if (due() === 0 || finished() === before) break;
    }
    return files().map((file) => this.describe(file));
  }

  /** Queue a check of one file, or of every egg and wheel of a project, now: for site admins. */
  request(principal: Principal, target: string, purpose: CheckPurpose = "manual"): CheckRow[] {
    this.access.requireSiteAdmin(principal);
    if (this.nodes.length === 0) throw conflict("No clean nodes are configured ([[nodes]] in the config file), so no check would run: the index lists every file unchecked");
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

  /** A file's verification, its matrix and every check of it, with logs: only for those who may read its project. */
  checksOf(principal: Principal, filename: string): FileChecks {
    const file = this.files.byFilename(filename);
    this.access.canRead(principal, file && this.projects.byName(file.project), () => notFound(`No file ${filename}`));
    return this.describe(file!);
  }

  private describe(file: FileRow): FileChecks {
    const checks = this.store.forFile(file.id);
    return { file, matrix: this.verdicts.matrix(file, checks), checks };
  }

  health(principal: Principal): NodeHealth[] {
    this.access.canReadIndex(principal);
    return this.store.health();
  }

  /**
   * Ask each interpreter of a node what it is and record what it runs at start-up (first contact,
   * and on demand: after cleaning a quarantined node, this is what lets it run checks again).
   * A root login is refused unless the node allows it.
   */
  async probe(nodeName: string): Promise<Record<string, InterpreterProbe>> {
    const node = this.node(nodeName);
    const probes: Record<string, InterpreterProbe> = {};
    for (const interpreter of node.interpreters) {
      const result = await runRemote(this.connection(node), bootstrapCommand(interpreter), scriptInput("probe.py", {}), { timeoutMs: 60_000 });
      if (result.code !== 0) throw new NodeUnreachable("disconnected", `probe of ${interpreter} on ${node.name} failed: ${result.stderr.trim().split("\n").at(-1)}`);
      probes[interpreter] = parseProbe(result.stdout, interpreter);
    }
    const refusal = Object.values(probes).map((probe) => this.trust.loginRefusal(node, probe.uid)).find((found) => found !== null);
    if (refusal) {
      this.store.saveHealth(node.name, false, `node ${node.name}: ${refusal}`, this.now());
      throw conflict(refusal);
    }
    tx(this.db, () => {
      for (const [interpreter, probe] of Object.entries(probes)) this.store.saveProbe(node.name, interpreter, JSON.stringify(probe), this.now());
      this.store.saveHealth(node.name, true, "", this.now());
      this.trust.release(node);
    });
    return probes;
  }

  /**
   * Give a check not yet assigned an interpreter to every distinct interpreter the file fits
   * across the configured nodes (by Python X.Y and platform, within its Requires-Python). When no
   * node could say what it runs, or nothing known fits, the check waits with the reason.
   */
  private async spread(check: CheckRow, probed: Map<string, Record<string, InterpreterProbe> | string>): Promise<void> {
    const file = this.files.byFilename(check.filename)!;
    const slots = new Map<string, Slot>();
    let unusable: { node: NodeSettings; problem: string } | null = null;
    for (const node of this.nodes) {
      if (!probed.has(node.name)) probed.set(node.name, await this.probesOf(node));
      const probes = probed.get(node.name)!;
      if (typeof probes === "string") {
        unusable ??= { node, problem: probes };
        continue;
      }
      for (const probe of Object.values(probes)) {
        if (!fitsInterpreter(file, probe)) continue;
        const slot = slotOf(probe);
        slots.set(`${slot.python} ${slot.platform}`, slot);
      }
    }
    if (slots.size > 0) {
      // A node that never said what it runs may have more: then nothing is taken for retired.
      tx(this.db, () => this.store.spread(check.id, [...slots.values()], unusable === null, this.now()));
      return;
    }
    if (unusable) return this.postpone(check.id, unusable.node, unusable.problem, false);
    this.store.postpone(check.id, `no configured interpreter fits ${file.filename}${file.requiresPython ? ` (Requires-Python ${file.requiresPython})` : ""}`, null, Date.now() + this.settings.retry_seconds * 1000);
  }

  /**
   * A node with room and the slot's interpreter, which the file fits; else the first node that
   * could not be probed, if any. A check that must run `alone` needs a node running nothing: a
   * busy node that fits it is `draining` for the rest of the pass (nothing new starts there), or a
   * steady stream of newer checks would keep it busy for ever.
   */
  private async place(
    file: FileRow,
    slot: Slot,
    probed: Map<string, Record<string, InterpreterProbe> | string>,
    draining: Set<string>,
    alone: boolean,
    onlyNode?: string,
  ): Promise<Placement | { node: NodeSettings; problem: string } | null> {
    let unusable: { node: NodeSettings; problem: string } | null = null;
    for (const node of this.nodes) {
      if ((onlyNode && node.name !== onlyNode) || draining.has(node.name) || this.heldAlone.has(node.name)) continue;
      const running = this.running.get(node.name) ?? 0;
      if (!alone && running >= node.parallel) continue;
      if (!probed.has(node.name)) probed.set(node.name, await this.probesOf(node));
      const probes = probed.get(node.name)!;
      if (typeof probes === "string") {
        unusable ??= { node, problem: probes };
        continue;
      }
      const found = Object.entries(probes).find(([, probe]) => sameSlot(slotOf(probe), slot) && fitsInterpreter(file, probe));
      if (found && alone && running > 0) draining.add(node.name);
      else if (found) return { node, interpreter: found[0], probe: found[1] };
    }
    return unusable;
  }

  /** The node's probes, or why no check may run there (unreachable, refused, or quarantined), naming the node. */
  private async probesOf(node: NodeSettings): Promise<Record<string, InterpreterProbe> | string> {
    const quarantine = this.trust.quarantineOf(node);
    if (quarantine) return quarantine;
    const stored = new Map(this.store.probes(node.name).map((row) => [row.path, JSON.parse(row.probe) as InterpreterProbe]));
    // Only the configured interpreters, in the configured order (the order of preference); probes
    // from before start-up fingerprints covered the login's files are taken again, or a login's
    // ~/.profile would quarantine its node as added.
    if (node.interpreters.every((interpreter) => stored.get(interpreter)?.login_homes !== undefined)) {
      return Object.fromEntries(node.interpreters.map((interpreter) => [interpreter, stored.get(interpreter)!]));
    }
    try {
      return await this.probe(node.name);
    } catch (error) {
      // A probe runs none of an upload's code: output past the limit is the node's trouble.
      if (!(error instanceof NodeUnreachable || error instanceof AppError || error instanceof OutputTooLarge)) throw error;
      const problem = `node ${node.name}: ${error.message}`;
      this.store.saveHealth(node.name, false, problem, this.now());
      return problem;
    }
  }

  /**
   * The principal a check credential stands for: read access while its check runs, and only what
   * the file's owner may read (`ownerOf`): code from the file checked reaches no further than that.
   */
  authenticateCheck(token: string): Principal {
    const checkId = this.store.runningWithCredential(hashSecret(token));
    if (checkId === undefined) throw unauthorized("Unknown or expired check credential: it is valid only while its check runs");
    const file = this.files.byFilename(this.store.byId(checkId)!.filename)!;
    return { kind: "check", checkId, name: `check:${checkId}`, readsAs: this.ownerOf(file) };
  }

  /** Who is answerable for a file's code: its uploader, or for a farm build the uploader of the release's sdist. */
  private ownerOf(file: FileRow): Principal {
    if (file.origin !== "build") return this.access.uploaderOf(file.uploader);
    const projectId = this.projects.byName(file.project)!.id;
    const sdist = this.files.liveByRelease(projectId, file.version).find((each) => each.kind === "sdist");
    return sdist ? this.access.uploaderOf(sdist.uploader) : ANONYMOUS;
  }

  private async run(checkId: number, file: FileRow, placement: Placement, startedAt: string, credential: string): Promise<void> {
    const { node, interpreter, probe } = placement;
    const project = this.projects.byName(file.project)!;
    const request = {
      artifact_url: `${this.serverUrl()}/files/${file.project}/${file.filename}`,
      credential,
      sha256: file.sha256,
      filename: file.filename,
      kind: file.kind,
      index_url: `${this.serverUrl()}/staging/simple/`,
      degraded_reason: file.degraded ? (degradedReason(file, file.nativeModules, []) ?? file.holdReason) : "",
      timeout: this.settings.check_timeout_seconds,
      startup: probe.startup,
      allow_root: node.allow_root_login,
      exclusive_login: node.exclusive_login,
      smoke: this.smokeChecks.of(project.id)?.code ?? null,
    };
    let result: CheckResult;
    const began = Date.now();
    try {
      const timeoutMs = (this.settings.check_timeout_seconds + 30) * 1000;
      const output = await runRemote(this.connection(node), bootstrapCommand(interpreter), scriptInput("check.py", request), { timeoutMs });
      result = parseResult(output.stdout, output.stderr, output.code, output.signal);
    } catch (error) {
      if (error instanceof OutputTooLarge) return this.flooded(checkId, file, node, error, (Date.now() - began) / 1000);
      if (!(error instanceof NodeUnreachable)) throw error;
      return this.postpone(checkId, node, `node ${node.name}: ${error.message}`, false);
    }
    this.conclude(checkId, file, placement, startedAt, result);
  }

  /** What the result means: a verdict only from a check as the right login on the interpreter as probed. */
  private conclude(checkId: number, file: FileRow, { node, interpreter }: Placement, startedAt: string, result: CheckResult): void {
    const refusal = this.trust.loginRefusal(node, result.login_uid);
    if (refusal) return this.postpone(checkId, node, `node ${node.name}: ${refusal}`, false);
    const changes = result.startup_changes;
    if (changes && changes.before.length > 0) {
      const what = `the start-up files of ${interpreter} changed since the probe: ${changes.before.join("; ")}`;
      return tx(this.db, () => this.postpone(checkId, node, this.trust.quarantine(node, interpreter, what), false));
    }
    if (changes && changes.after.length > 0) return this.changedDuringCheck(checkId, file, node, interpreter, result, changes.after);
    if (changes) this.trust.comparedGood(node, interpreter, startedAt);
    if (result.verdict === "error") return this.postpone(checkId, node, `check could not run on ${node.name}: ${result.reason}`, true, result.log);
    // A verdict is taken only from a check that compared the interpreter with its probe.
    if (!changes) return this.postpone(checkId, node, `check on ${node.name} did not compare the interpreter's start-up files`, true, result.log);
    this.record(checkId, file, node, result);
  }

  /**
   * The interpreter was as probed when the check started and is not any more. With one check at a
   * time on the node, this check did it: failed, whatever its import said. With several, which one
   * did it is unknown, so this one waits like the rest.
   */
  private changedDuringCheck(checkId: number, file: FileRow, node: NodeSettings, interpreter: string, result: CheckResult, changes: string[]): void {
    // The check by number, not its file: this reason reaches every reader of the node's health and of the files it requeues.
    const what = `the start-up files of ${interpreter} changed during check #${checkId} (\`pydepot checks\` names its file): ${changes.join("; ")}`;
    tx(this.db, () => {
      const reason = this.trust.quarantine(node, interpreter, what);
      if (node.parallel > 1) return this.postpone(checkId, node, reason, false);
      this.record(checkId, file, node, { ...result, verdict: "failed", reason: `the check changed the node: ${changes.join("; ")}` });
    });
  }

  /**
   * The check wrote more than runRemote keeps, and was cut off. check.py keeps what each child
   * prints in a bounded file and its answer within 8 MiB, so something else wrote to the check's
   * own stdout or stderr: on a node where check.py cannot shut its children out (not Linux), code
   * from an upload (an import, a smoke check). With one check at a time on the node that is this file's code:
   * it fails (no start-up files were compared, which only a pass needs; a change to them is found
   * by the next check, which compares them before it starts). With several, another check on the
   * same login may have done it: this one runs again with the node to itself, where a flood is
   * its own (a file cannot get another failed by flooding beside it, nor wait for ever itself).
   */
  private flooded(checkId: number, file: FileRow, node: NodeSettings, error: OutputTooLarge, duration: number): void {
    const reason = `the check's output passed ${error.limitBytes / (1024 * 1024)} MiB, where it was cut off: something on the node other than check.py wrote to it (code from the file, where the node lets it)`;
    if (node.parallel > 1 && !this.store.byId(checkId)!.alone) {
      return tx(this.db, () => {
        this.postpone(checkId, node, `${reason} (or another check's code did: ${node.name} runs ${node.parallel} at once; it runs again with the node to itself)`, true);
        this.store.runAlone(checkId);
      });
    }
    this.record(checkId, file, node, { verdict: "failed", reason, log: reason, modules: [], missing_libraries: [], degraded: false, duration });
  }

  private record(checkId: number, file: FileRow, node: NodeSettings, result: CheckResult): void {
    const verdict = result.verdict === "verified" ? "verified" : "failed";
    const cause: FailureCause = verdict === "verified" ? "" : result.verdict === "unresolvable" ? "unresolvable" : "broken";
    tx(this.db, () => {
      this.store.finish(checkId, {
        status: verdict,
        cause,
        missingRequirement: cause === "unresolvable" ? (requirementName(result.missing_requirement ?? "") ?? "") : "",
        smoke: result.smoke ?? null,
        reason: result.reason,
        log: result.log,
        modules: result.modules,
        missingLibraries: result.missing_libraries,
        degraded: file.degraded,
        durationMs: Math.round(result.duration * 1000),
      }, this.now());
      this.verdicts.settle(this.files.byFilename(file.filename)!, file.degraded);
      this.store.saveHealth(node.name, true, "", this.now());
      const check = this.store.byId(checkId)!;
      // The missing project's file may have arrived while this check ran, after the pass that looks for waiting verdicts.
      if (check.missingRequirement && this.arrivedSince(check.missingRequirement, check.startedAt!)) {
        this.store.insertForSlot(file.id, "reverify", { python: check.python!, platform: check.platform! }, this.now());
      }
      const action = cause === "unresolvable" ? "check.unresolvable" : `check.${verdict}`;
      this.history.record(this.now(), { actor: `checker:${node.name}`, action, project: file.project, subject: file.filename, detail: `Python ${check.python}: ${result.reason}` });
    });
  }

  /** Whether an egg or wheel of the project was stored at or after `since`. */
  private arrivedSince(project: string, since: string): boolean {
    const row = this.projects.byName(project as NormalizedName);
    return row !== undefined && this.files.liveByProject(row.id).some((other) => other.kind !== "sdist" && other.uploadedAt >= since);
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

/** The matrix slot an interpreter stands for: its Python X.Y and its platform. */
function slotOf(probe: InterpreterProbe): Slot {
  return { python: pythonSeries(probe.version), platform: probe.egg_platform };
}

function sameSlot(a: Slot, b: Slot): boolean {
  return a.python === b.python && a.platform === b.platform;
}

/** Whether the interpreter would install the file: its tags, and its Requires-Python for wheels (pip honours it, easy_install does not). */
function fitsInterpreter(file: FileRow, probe: InterpreterProbe): boolean {
  return fits(file, asTarget(file, probe)) && (file.kind !== "wheel" || satisfiesRequiresPython(probe.version, file.requiresPython));
}

function asTarget(file: FileRow, probe: InterpreterProbe): TargetTags {
  return { kind: file.kind === "egg" ? "egg" : "wheel", pythonVersion: probe.version, eggPlatform: probe.egg_platform, wheelTags: probe.wheel_tags };
}

function script(name: string): string {
  return readFileSync(path.join(SCRIPTS, name), "utf8");
}

/** What probe.py prints as its last line (what the checker reads of it; the rest is kept as it came). */
const interpreterProbe = z.looseObject({
  version: z.string().regex(/^\d+\.\d+/),
  egg_platform: z.string(),
  wheel_tags: z.array(z.string()),
  /** The node login's uid: 0 is refused unless the node allows a root login. */
  uid: z.number(),
  /** fingerprint.py's {path: digest} of what runs at start-up: the interpreter's files and the login's. */
  startup: z.record(z.string(), z.string()),
  /** The login's home folders, whose files `startup` covers. */
  login_homes: z.array(z.string()),
});

/**
 * A probe's answer, held to probe.py's shape before it is stored: an interpreter path that names
 * another program (or a node that answers anything else) would crash every pass of the checker,
 * or be stored as an interpreter that fits nothing.
 */
function parseProbe(stdout: string, interpreter: string): InterpreterProbe {
  const last = stdout.trim().split("\n").at(-1) ?? "";
  let problem: string;
  try {
    const probe = interpreterProbe.safeParse(JSON.parse(last));
    if (probe.success) return probe.data;
    problem = z.prettifyError(probe.error).replace(/\n/g, "; ");
  } catch {
    problem = last === "" ? "nothing" : `not JSON: ${JSON.stringify(last.slice(0, 200))}`;
  }
  throw conflict(`the probe of ${interpreter} answered no probe (${problem}): is it a Python interpreter?`);
}

/**
 * What check.py prints as its last line. The node runs untrusted code, so its answer is data:
 * held to this shape before a field of it is read or stored.
 */
const checkResult = z.object({
  /** unresolvable: a dependency has no file on the index that this Python installs. */
  verdict: z.enum(["verified", "failed", "unresolvable", "error"]),
  reason: z.string(),
  /** For unresolvable: the requirement as the installer printed it (`py3-dep>=1.0`). */
  missing_requirement: z.string().optional(),
  log: z.string(),
  modules: z.array(
    z.looseObject({ name: z.string(), ok: z.boolean(), counted: z.boolean().optional(), returncode: z.number().nullable(), signal: z.union([z.number(), z.string()]).nullable(), output: z.string() }),
  ),
  missing_libraries: z.array(z.string()),
  degraded: z.boolean(),
  /** The project's smoke check, when it has one and the file installed. */
  smoke: z.object({ ok: z.boolean(), output: z.string() }).nullable().optional(),
  duration: z.number(),
  /** How the interpreter's start-up files differ from the probe's, before and after the check. */
  startup_changes: z.object({ before: z.array(z.string()), after: z.array(z.string()) }).optional(),
  login_uid: z.number().optional(),
});

/**
 * The last stdout line is the verdict, and only when check.py itself ended well after writing it:
 * a last line from a check.py that was killed (or failed) may be anyone's, such as an import's
 * that wrote into check.py's output and then killed it. Without one the check did not really run.
 */
function parseResult(stdout: string, stderr: string, code: number | null, signal: string | null): CheckResult {
  const last = stdout.trim().split("\n").at(-1) ?? "";
  const noVerdict = (reason: string): CheckResult => {
    const detail = stderr.trim().split("\n").slice(-5).join("\n");
    return { verdict: "error", reason, log: `${stdout}\n${detail}`, modules: [], missing_libraries: [], degraded: false, duration: 0 };
  };
  const noAnswer = noVerdict(`no verdict from the check script (${code === null && signal ? `killed by ${signal}` : `exit ${code}`})`);
  if (code !== 0 || signal !== null) return noAnswer;
  let json: unknown;
  try {
    json = JSON.parse(last);
  } catch {
    return noAnswer;
  }
  const result = checkResult.safeParse(json);
  if (!result.success) return noVerdict(`the node's answer is no verdict: ${z.prettifyError(result.error).replace(/\n/g, "; ")}`);
  return result.data;
}
