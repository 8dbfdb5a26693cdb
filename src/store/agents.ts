import type { Db } from "./db.js";

export interface AgentRow {
  id: number;
  name: string;
  version: string;
  registeredAt: string;
  lastSeenAt: string;
  revokedAt: string | null;
  /** How many builds the agent runs at once: it never holds more leases than this. */
  slots: number;
}

/** A platform builds can be made for: one interpreter and one artifact kind. */
export interface TargetRow {
  key: string;
  kind: "wheel" | "egg";
  implementation: string;
  pythonVersion: string;
  os: string;
  arch: string;
  eggPlatform: string;
  wheelTags: string[];
  firstSeenAt: string;
}

/** A secret that registers agents until it expires or reaches its use limit. */
export interface EnrolmentRow {
  id: number;
  label: string;
  createdAt: string;
  expiresAt: string;
  /** null: any number of agents until it expires. */
  maxUses: number | null;
  uses: number;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

export interface AgentListing extends AgentRow {
  targets: string[];
  /** The jobs it holds a lease on now. */
  currentJobs: number[];
}

/** Enrolment secrets, agents (tokens stored hashed) and the targets each agent builds for. */
export class AgentStore {
  private readonly enrolmentStatement;
  private readonly insertEnrolmentStatement;
  private readonly useEnrolmentStatement;
  private readonly enrolmentsStatement;
  private readonly revokeEnrolmentStatement;
  private readonly insertAgentStatement;
  private readonly byNameStatement;
  private readonly byTokenStatement;
  private readonly seenStatement;
  private readonly revokeStatement;
  private readonly listStatement;
  private readonly upsertTargetStatement;
  private readonly clearTargetsStatement;
  private readonly linkTargetStatement;
  private readonly targetsOfStatement;
  private readonly activeTargetsStatement;
  private readonly targetStatement;
  private readonly slotsStatement;

  constructor(db: Db) {
    const agentColumns = "id, name, version, registered_at AS registeredAt, last_seen_at AS lastSeenAt, revoked_at AS revokedAt, slots";
    const targetColumns = `key, kind, implementation, python_version AS pythonVersion, os, arch, egg_platform AS eggPlatform,
      wheel_tags AS wheelTags, first_seen_at AS firstSeenAt`;
    const enrolmentColumns = `id, label, created_at AS createdAt, expires_at AS expiresAt, max_uses AS maxUses, uses,
      last_used_at AS lastUsedAt, revoked_at AS revokedAt`;
    this.enrolmentStatement = db.prepare(`SELECT ${enrolmentColumns} FROM enrolments WHERE secret_hash = ?`);
    this.insertEnrolmentStatement = db.prepare(
      "INSERT INTO enrolments (secret_hash, label, created_at, expires_at, max_uses) VALUES (?, ?, ?, ?, ?) RETURNING id",
    ).pluck();
    this.useEnrolmentStatement = db.prepare(`UPDATE enrolments SET uses = uses + 1, last_used_at = @now
      WHERE id = @id AND revoked_at IS NULL AND expires_at > @now AND (max_uses IS NULL OR uses < max_uses)`);
    this.enrolmentsStatement = db.prepare(`SELECT ${enrolmentColumns} FROM enrolments ORDER BY id`);
    this.revokeEnrolmentStatement = db.prepare("UPDATE enrolments SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL");
    this.insertAgentStatement = db.prepare(
      "INSERT INTO agents (name, token_hash, version, registered_at, last_seen_at) VALUES (?, ?, ?, ?, ?) RETURNING id",
    ).pluck();
    this.byNameStatement = db.prepare(`SELECT ${agentColumns} FROM agents WHERE name = ?`);
    this.byTokenStatement = db.prepare(`SELECT ${agentColumns} FROM agents WHERE token_hash = ? AND revoked_at IS NULL`);
    this.seenStatement = db.prepare("UPDATE agents SET last_seen_at = ?, version = ? WHERE id = ?");
    this.revokeStatement = db.prepare("UPDATE agents SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL");
    this.listStatement = db.prepare(
      `SELECT ${agentColumns}, (SELECT json_group_array(target_key) FROM agent_targets WHERE agent_id = agents.id) AS targets,
        (SELECT json_group_array(id) FROM jobs WHERE agent_id = agents.id AND status = 'leased') AS currentJobs FROM agents ORDER BY name`,
    );
    this.upsertTargetStatement = db.prepare(`INSERT INTO targets (key, kind, implementation, python_version, os, arch, egg_platform,
      wheel_tags, first_seen_at) VALUES (@key, @kind, @implementation, @pythonVersion, @os, @arch, @eggPlatform, @wheelTags, @firstSeenAt)
      ON CONFLICT (key) DO UPDATE SET wheel_tags = excluded.wheel_tags, python_version = excluded.python_version`);
    this.clearTargetsStatement = db.prepare("DELETE FROM agent_targets WHERE agent_id = ?");
    this.linkTargetStatement = db.prepare("INSERT INTO agent_targets (agent_id, target_key) VALUES (?, ?)");
    this.targetsOfStatement = db.prepare("SELECT target_key FROM agent_targets WHERE agent_id = ? ORDER BY target_key").pluck();
    this.activeTargetsStatement = db.prepare(
      `SELECT ${targetColumns} FROM targets WHERE key IN (SELECT target_key FROM agent_targets JOIN agents a ON a.id = agent_id WHERE a.revoked_at IS NULL)`,
    );
    this.targetStatement = db.prepare(`SELECT ${targetColumns} FROM targets WHERE key = ?`);
    this.slotsStatement = db.prepare("UPDATE agents SET slots = ? WHERE id = ?");
  }

  enrolment(secretHash: string): EnrolmentRow | undefined {
    return this.enrolmentStatement.get(secretHash) as EnrolmentRow | undefined;
  }

  insertEnrolment(secretHash: string, label: string, now: string, expiresAt: string, maxUses: number | null): number {
    return this.insertEnrolmentStatement.get(secretHash, label, now, expiresAt, maxUses) as number;
  }

  /** Count one registration; false when the secret is revoked, expired or used up (checked in the same statement). */
  useEnrolment(id: number, now: string): boolean {
    return this.useEnrolmentStatement.run({ id, now }).changes === 1;
  }

  enrolments(): EnrolmentRow[] {
    return this.enrolmentsStatement.all() as EnrolmentRow[];
  }

  revokeEnrolment(id: number, now: string): boolean {
    return this.revokeEnrolmentStatement.run(now, id).changes === 1;
  }

  insertAgent(name: string, tokenHash: string, version: string, now: string): number {
    return this.insertAgentStatement.get(name, tokenHash, version, now, now) as number;
  }

  byName(name: string): AgentRow | undefined {
    return this.byNameStatement.get(name) as AgentRow | undefined;
  }

  byTokenHash(tokenHash: string): AgentRow | undefined {
    return this.byTokenStatement.get(tokenHash) as AgentRow | undefined;
  }

  seen(agentId: number, version: string, now: string): void {
    this.seenStatement.run(now, version, agentId);
  }

  revoke(name: string, now: string): boolean {
    return this.revokeStatement.run(now, name).changes === 1;
  }

  list(): AgentListing[] {
    return (this.listStatement.all() as (AgentRow & { targets: string; currentJobs: string })[]).map((row) => ({
      ...row,
      targets: JSON.parse(row.targets),
      currentJobs: JSON.parse(row.currentJobs),
    }));
  }

  /** Replace the agent's targets with these (created when new). */
  setTargets(agentId: number, targets: TargetRow[]): void {
    this.clearTargetsStatement.run(agentId);
    for (const target of targets) {
      this.upsertTargetStatement.run({ ...target, wheelTags: JSON.stringify(target.wheelTags) });
      this.linkTargetStatement.run(agentId, target.key);
    }
  }

  setSlots(agentId: number, slots: number): void {
    this.slotsStatement.run(slots, agentId);
  }

  targetsOf(agentId: number): string[] {
    return this.targetsOfStatement.all(agentId) as string[];
  }

  /** Targets at least one non-revoked agent builds for. */
  activeTargets(): TargetRow[] {
    return (this.activeTargetsStatement.all() as (Omit<TargetRow, "wheelTags"> & { wheelTags: string })[]).map(toTarget);
  }

  target(key: string): TargetRow | undefined {
    const row = this.targetStatement.get(key) as (Omit<TargetRow, "wheelTags"> & { wheelTags: string }) | undefined;
    return row && toTarget(row);
  }
}

function toTarget(row: Omit<TargetRow, "wheelTags"> & { wheelTags: string }): TargetRow {
  return { ...row, wheelTags: JSON.parse(row.wheelTags) };
}
