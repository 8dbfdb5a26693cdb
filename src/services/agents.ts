import { randomBytes } from "node:crypto";
import semver from "semver";
import { z } from "zod";
import { AppError, badRequest, conflict, forbidden, notFound, unauthorized } from "../core/errors.js";
import { targetKey } from "../core/farm.js";
import type { AgentListing, AgentStore, EnrolmentRow, TargetRow } from "../store/agents.js";
import { tx, type Db } from "../store/db.js";
import type { HistoryStore } from "../store/history.js";
import type { JobStore } from "../store/jobs.js";
import type { WakeUps } from "../store/wakeups.js";
import type { Access, Principal } from "./access.js";
import { hashSecret as hash } from "./secrets.js";

const AGENT_TOKEN_PREFIX = "pydepot-agent-";
const ENROLMENT_PREFIX = "pydepot-enrol-";
const AGENT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const SAFE = /^[A-Za-z0-9._+-]{1,100}$/;

/** What an agent reports for each interpreter and artifact kind it builds. */
const targetReport = z
  .object({
    kind: z.enum(["wheel", "egg"]),
    implementation: z.string().regex(/^[a-z]{1,20}$/),
    // Bounded as CPython's own are: the version makes the target's key, and each new key is a target to plan for.
    python_version: z.string().regex(/^\d{1,2}\.\d{1,3}\.\d{1,3}[a-z0-9]{0,8}$/),
    os: z.string().regex(SAFE),
    arch: z.string().regex(SAFE),
    platform: z.string().regex(SAFE),
    egg_platform: z.string().regex(SAFE),
    wheel_tags: z.array(z.string().max(200).regex(/^[a-z0-9_.]+-[a-z0-9_.]+-[a-z0-9_.]+$/i)).min(1).max(10_000),
  })
  .strict();
export type TargetReport = z.infer<typeof targetReport>;

/** More build slots than this on one host is a typo, not a plan. */
const MAX_SLOTS = 64;
/** Agents not heard from within this long are shown offline (an idle agent asks for work every long poll). */
export const ONLINE_WINDOW_MS = 90_000;
/** "Last seen" is written at most this often per agent: a lease or log line must not cost a disk write. */
const SEEN_WRITE_MS = 10_000;

export interface AgentView extends AgentListing {
  online: boolean;
}

/** How long a new enrolment secret works, unless the admin says otherwise. */
export const DEFAULT_ENROLMENT_HOURS = 24;

export interface EnrolmentLimits {
  /** Hours until the secret stops working (default DEFAULT_ENROLMENT_HOURS). */
  hours?: number;
  /** How many agents it may register (default: any number until it expires). */
  uses?: number;
}

export interface EnrolmentView extends EnrolmentRow {
  state: "active" | "expired" | "used up" | "revoked";
}

export function isAgentToken(secret: string): boolean {
  return secret.startsWith(AGENT_TOKEN_PREFIX);
}

/** Build agents: enrolment, registration, version compatibility, tokens and targets. */
export class Agents {
  constructor(
    private readonly db: Db,
    private readonly store: AgentStore,
    private readonly history: HistoryStore,
    private readonly jobs: JobStore,
    private readonly wakeUps: WakeUps,
    /** Rung when an agent's new session returns its old leases: live followers of those jobs see them queued. */
    private readonly jobChanges: WakeUps,
    private readonly serverVersion: string,
    /** farm.max_attempts: a job whose agent started again mid-build has used one, as when its lease expires. */
    private readonly maxAttempts: number,
    private readonly now: () => string,
    private readonly access: Access,
  ) {}

  /**
   * A secret an admin hands to new build hosts. It registers any number of agents (or `uses`)
   * until it expires, so one secret can set up a farm; `agents list` shows how often it was used.
   */
  createEnrolment(label: string, actor: string, limits: EnrolmentLimits = {}): string {
    const hours = limits.hours ?? DEFAULT_ENROLMENT_HOURS;
    if (!(hours > 0 && hours <= 24 * 365)) throw badRequest(`An enrolment secret lasts from a moment to a year: ${hours} hours is out of range`);
    if (limits.uses !== undefined && !(Number.isSafeInteger(limits.uses) && limits.uses > 0)) throw badRequest(`The number of uses must be a whole number above 0, not ${limits.uses}`);
    const secret = ENROLMENT_PREFIX + randomBytes(24).toString("base64url");
    const expiresAt = new Date(Date.parse(this.now()) + hours * 3600_000).toISOString();
    const id = this.store.insertEnrolment(hash(secret), label, this.now(), expiresAt, limits.uses ?? null);
    this.history.record(this.now(), { actor, action: "agent.enrolment", subject: `#${id}`, detail: label });
    return secret;
  }

  /** What a secret is: its number, limits and use so far (for the admin who just made it). */
  enrolmentOf(secret: string): EnrolmentView {
    const row = this.store.enrolment(hash(secret));
    if (!row) throw notFound("No such enrolment secret");
    return this.viewOf(row);
  }

  /** Every enrolment secret with its state and use count: for site admins. */
  enrolments(principal: Principal): EnrolmentView[] {
    this.access.requireSiteAdmin(principal);
    return this.store.enrolments().map((row) => this.viewOf(row));
  }

  revokeEnrolment(id: number, actor: string): void {
    if (!this.store.revokeEnrolment(id, this.now())) throw notFound(`No active enrolment secret #${id}: \`pydepot agents list\` shows them`);
    this.history.record(this.now(), { actor, action: "agent.enrolment.revoke", subject: `#${id}` });
  }

  /**
   * Exchange an enrolment secret for a new agent's own token. A name is registered once: the
   * agent keeps its token in its state folder, and nobody holding a secret can take over a
   * registered agent (and the jobs it holds) by registering its name again.
   */
  register(name: string, version: string, enrolmentSecret: string): string {
    this.checkVersion(version);
    if (!AGENT_NAME.test(name)) throw badRequest(`Invalid agent name ${JSON.stringify(name)}: use up to 64 letters, digits, '.', '_' or '-'`);
    const token = AGENT_TOKEN_PREFIX + randomBytes(32).toString("base64url");
    tx(this.db, () => {
      const enrolment = this.store.enrolment(hash(enrolmentSecret));
      if (!enrolment || !this.store.useEnrolment(enrolment.id, this.now())) throw this.refusal(enrolment);
      const existing = this.store.byName(name);
      if (existing?.revokedAt) throw forbidden(`Agent ${name} was revoked at ${existing.revokedAt}: register under a new name`);
      if (existing) {
        throw conflict(
          `An agent named ${name} is registered already (since ${existing.registeredAt}): its token is in its --state-dir; ` +
            `if that is lost, revoke it (\`pydepot agents revoke ${name}\`) and register under a new name`,
        );
      }
      this.store.insertAgent(name, hash(token), version, this.now());
      this.history.record(this.now(), { actor: `agent:${name}`, action: "agent.register", subject: `enrolment #${enrolment.id}`, detail: version });
    });
    return token;
  }

  authenticate(token: string, version: string | undefined): Principal {
    const agent = this.store.byTokenHash(hash(token));
    if (!agent) throw unauthorized("Unknown or revoked agent token: re-register the agent with an enrolment secret");
    if (version !== undefined) this.checkVersion(version);
    const reported = version ?? agent.version;
    if (Date.now() - Date.parse(agent.lastSeenAt) > SEEN_WRITE_MS || reported !== agent.version) {
      this.store.seen(agent.id, reported, this.now());
    }
    return { kind: "agent", agentId: agent.id, name: agent.name };
  }

  /**
   * An agent process starts: it reports its targets and build slots. Whatever it leased before
   * was lost with its previous process, so those jobs go back to the queue now, not when their
   * leases expire; a job out of attempts fails instead (its build may be what ended the agent).
   * New targets and returned jobs wake the job planner.
   */
  startSession(agent: { agentId: number; name: string }, reports: unknown, slots: unknown = 1): { targets: string[]; returned: number[]; failed: number[] } {
    const parsed = z.array(targetReport).min(1).max(100).safeParse(reports);
    if (!parsed.success) throw badRequest(`Malformed target report: ${z.prettifyError(parsed.error).replace(/\n/g, "; ")}`);
    if (!Number.isSafeInteger(slots) || (slots as number) < 1 || (slots as number) > MAX_SLOTS) {
      throw badRequest(`Invalid slots ${JSON.stringify(slots)}: send how many builds the agent runs at once, 1 to ${MAX_SLOTS}`);
    }
    const targets = parsed.data.map((report) => toTarget(report, this.now()));
    refuseTwice(targets);
    const released = tx(this.db, () => {
      this.store.setTargets(agent.agentId, targets);
      this.store.setSlots(agent.agentId, slots as number);
      const rows = this.jobs.releaseAgent(agent.agentId, this.maxAttempts, this.now());
      for (const row of rows) {
        const detail = row.status === "failed" ? row.reason : "agent started again: its lease returned to the queue";
        this.jobs.recordEvent(row.id, this.now(), row.status, agent.name, detail);
      }
      return rows;
    });
    this.wakeUps.notify();
    if (released.length > 0) this.jobChanges.notify();
    const ids = (status: string) => released.filter((row) => row.status === status).map((row) => row.id);
    return { targets: targets.map((target) => target.key), returned: ids("queued"), failed: ids("failed") };
  }

  revoke(name: string, actor: string): void {
    if (!this.store.revoke(name, this.now())) throw notFound(`No active agent named ${name}`);
    this.history.record(this.now(), { actor, action: "agent.revoke", subject: name });
  }

  /** Every agent, online or not, with its targets and jobs: for site admins. */
  list(principal: Principal): AgentView[] {
    this.access.requireSiteAdmin(principal);
    const now = Date.parse(this.now());
    return this.store.list().map((agent) => ({ ...agent, online: !agent.revokedAt && now - Date.parse(agent.lastSeenAt) < ONLINE_WINDOW_MS }));
  }

  private viewOf(row: EnrolmentRow): EnrolmentView {
    const state = row.revokedAt ? "revoked" : row.expiresAt <= this.now() ? "expired" : row.maxUses !== null && row.uses >= row.maxUses ? "used up" : "active";
    return { ...row, state };
  }

  /** Why a secret registers no more agents; the same answer for unknown and revoked ones. */
  private refusal(enrolment: EnrolmentRow | undefined): AppError {
    const again = "ask an admin for `pydepot agents enrol`";
    const state = enrolment && this.viewOf(enrolment).state;
    if (state === "expired") return unauthorized(`This enrolment secret expired at ${enrolment!.expiresAt}: ${again}`);
    if (state === "used up") return unauthorized(`This enrolment secret has registered its ${enrolment!.maxUses} agent(s) already: ${again}`);
    return unauthorized(`Unknown or revoked enrolment secret: ${again}`);
  }

  /** Same major version as the server (same minor while 0.x), as semver's caret means. */
  private checkVersion(version: string): void {
    const major = semver.major(this.serverVersion);
    const range = major === 0 ? `^0.${semver.minor(this.serverVersion)}.0` : `^${major}.0.0`;
    if (!semver.valid(version) || !semver.satisfies(version, range)) {
      throw new AppError(400, `Agent version ${version} is not compatible with server ${this.serverVersion} (needs ${range}): upgrade the agent`);
    }
  }
}

/**
 * One interpreter per target key: two (a pyenv and a system 3.11) would be the same row twice,
 * and the server could not say which of them a job of that target is for.
 */
function refuseTwice(targets: TargetRow[]): void {
  const first = new Map<string, TargetRow>();
  for (const target of targets) {
    const earlier = first.get(target.key);
    if (earlier) {
      throw badRequest(`Two reported targets are both ${target.key} (Python ${earlier.pythonVersion} and ${target.pythonVersion}): report one interpreter for each target (--python)`);
    }
    first.set(target.key, target);
  }
}

function toTarget(report: TargetReport, now: string): TargetRow {
  return {
    key: targetKey(report),
    kind: report.kind,
    implementation: report.implementation,
    pythonVersion: report.python_version,
    os: report.os,
    arch: report.arch,
    eggPlatform: report.egg_platform,
    wheelTags: report.wheel_tags,
    firstSeenAt: now,
  };
}
