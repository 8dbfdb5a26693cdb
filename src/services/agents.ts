import { randomBytes } from "node:crypto";
import semver from "semver";
import { z } from "zod";
import { AppError, badRequest, forbidden, notFound, unauthorized } from "../core/errors.js";
import type { AgentListing, AgentStore, TargetRow } from "../store/agents.js";
import { tx, type Db } from "../store/db.js";
import type { HistoryStore } from "../store/history.js";
import type { JobStore } from "../store/jobs.js";
import type { WakeUps } from "../store/wakeups.js";
import type { Principal } from "./access.js";
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
    python_version: z.string().regex(/^\d+\.\d+\.\d+[a-z0-9]*$/),
    os: z.string().regex(SAFE),
    arch: z.string().regex(SAFE),
    platform: z.string().regex(SAFE),
    egg_platform: z.string().regex(SAFE),
    wheel_tags: z.array(z.string().regex(/^[a-z0-9_.]+-[a-z0-9_.]+-[a-z0-9_.]+$/i)).min(1).max(10_000),
  })
  .strict();
export type TargetReport = z.infer<typeof targetReport>;

/** More build slots than this on one host is a typo, not a plan. */
const MAX_SLOTS = 64;
/** Agents not heard from within this long are shown offline (an idle agent asks for work every long poll). */
const ONLINE_WINDOW_MS = 90_000;
/** "Last seen" is written at most this often per agent: a lease or log line must not cost a disk write. */
const SEEN_WRITE_MS = 10_000;

export interface AgentView extends AgentListing {
  online: boolean;
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
    private readonly serverVersion: string,
    private readonly now: () => string,
  ) {}

  /** A one-time secret an admin hands to a new build host. */
  createEnrolment(label: string, actor: string): string {
    const secret = ENROLMENT_PREFIX + randomBytes(24).toString("base64url");
    this.store.insertEnrolment(hash(secret), label, this.now());
    this.history.record(this.now(), { actor, action: "agent.enrolment", detail: label });
    return secret;
  }

  /** Exchange an enrolment secret for the agent's own token. Re-registering a known name replaces its token. */
  register(name: string, version: string, enrolmentSecret: string): string {
    this.checkVersion(version);
    if (!AGENT_NAME.test(name)) throw badRequest(`Invalid agent name ${JSON.stringify(name)}: use up to 64 letters, digits, '.', '_' or '-'`);
    if (!this.store.enrolmentExists(hash(enrolmentSecret))) throw unauthorized("Unknown or revoked enrolment secret: ask an admin for `pydepot agents enrol`");
    const token = AGENT_TOKEN_PREFIX + randomBytes(32).toString("base64url");
    tx(this.db, () => {
      const existing = this.store.byName(name);
      if (existing?.revokedAt) throw forbidden(`Agent ${name} was revoked at ${existing.revokedAt}: register under a new name`);
      if (existing) this.store.replaceToken(existing.id, hash(token), version, this.now());
      else this.store.insertAgent(name, hash(token), version, this.now());
      this.history.record(this.now(), { actor: `agent:${name}`, action: "agent.register", detail: version });
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
   * leases expire. New targets and returned jobs wake the job planner.
   */
  startSession(agent: { agentId: number; name: string }, reports: unknown, slots: unknown = 1): { targets: string[]; returned: number[] } {
    const parsed = z.array(targetReport).min(1).max(100).safeParse(reports);
    if (!parsed.success) throw badRequest(`Malformed target report: ${z.prettifyError(parsed.error).replace(/\n/g, "; ")}`);
    if (!Number.isSafeInteger(slots) || (slots as number) < 1 || (slots as number) > MAX_SLOTS) {
      throw badRequest(`Invalid slots ${JSON.stringify(slots)}: send how many builds the agent runs at once, 1 to ${MAX_SLOTS}`);
    }
    const targets = parsed.data.map((report) => toTarget(report, this.now()));
    const returned = tx(this.db, () => {
      this.store.setTargets(agent.agentId, targets);
      this.store.setSlots(agent.agentId, slots as number);
      const released = this.jobs.releaseAgent(agent.agentId, this.now());
      for (const jobId of released) this.jobs.recordEvent(jobId, this.now(), "queued", agent.name, "agent started again: its lease returned to the queue");
      return released;
    });
    this.wakeUps.notify();
    return { targets: targets.map((target) => target.key), returned };
  }

  revoke(name: string, actor: string): void {
    if (!this.store.revoke(name, this.now())) throw notFound(`No active agent named ${name}`);
    this.history.record(this.now(), { actor, action: "agent.revoke", subject: name });
  }

  list(): AgentView[] {
    const now = Date.parse(this.now());
    return this.store.list().map((agent) => ({ ...agent, online: !agent.revokedAt && now - Date.parse(agent.lastSeenAt) < ONLINE_WINDOW_MS }));
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

function toTarget(report: TargetReport, now: string): TargetRow {
  const [major, minor] = report.python_version.split(".");
  const interpreter = `${report.implementation === "cpython" ? "cp" : report.implementation}${major}${minor}`;
  const key =
    report.kind === "egg"
      ? `egg-py${major}.${minor}-${report.egg_platform}`
      : `wheel-${interpreter}-${report.platform.replace(/[-.]/g, "_")}`;
  return {
    key,
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
