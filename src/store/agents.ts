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

export interface AgentListing extends AgentRow {
  targets: string[];
  /** The jobs it holds a lease on now. */
  currentJobs: number[];
}

/** Enrolment secrets, agents (tokens stored hashed) and the targets each agent builds for. */
export class AgentStore {
  private readonly enrolmentStatement;
  private readonly insertEnrolmentStatement;
  private readonly insertAgentStatement;
  private readonly replaceAgentTokenStatement;
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
    this.enrolmentStatement = db.prepare("SELECT id FROM enrolments WHERE secret_hash = ? AND revoked_at IS NULL").pluck();
    this.insertEnrolmentStatement = db.prepare("INSERT INTO enrolments (secret_hash, label, created_at) VALUES (?, ?, ?) RETURNING id").pluck();
    this.insertAgentStatement = db.prepare(
      "INSERT INTO agents (name, token_hash, version, registered_at, last_seen_at) VALUES (?, ?, ?, ?, ?) RETURNING id",
    ).pluck();
    this.replaceAgentTokenStatement = db.prepare(
      "UPDATE agents SET token_hash = ?, version = ?, last_seen_at = ? WHERE id = ? AND revoked_at IS NULL",
    );
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

  enrolmentExists(secretHash: string): boolean {
    return this.enrolmentStatement.get(secretHash) !== undefined;
  }

  insertEnrolment(secretHash: string, label: string, now: string): number {
    return this.insertEnrolmentStatement.get(secretHash, label, now) as number;
  }

  insertAgent(name: string, tokenHash: string, version: string, now: string): number {
    return this.insertAgentStatement.get(name, tokenHash, version, now, now) as number;
  }

  replaceToken(agentId: number, tokenHash: string, version: string, now: string): boolean {
    return this.replaceAgentTokenStatement.run(tokenHash, version, now, agentId).changes === 1;
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
