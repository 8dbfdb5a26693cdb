import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Statement } from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDb, type Db } from "../../src/store/db.js";
import { AccountStore } from "../../src/store/accounts.js";
import { AgentStore } from "../../src/store/agents.js";
import { CheckStore } from "../../src/store/checks.js";
import { JobStore } from "../../src/store/jobs.js";
import { FileStore } from "../../src/store/files.js";
import { ProjectStore } from "../../src/store/projects.js";
import { SessionStore } from "../../src/store/sessions.js";

/** A plan step that reads a whole table instead of searching an index (`SCAN t USING INDEX` for an ORDER BY is not hot here). */
const FULL_SCAN = /^SCAN (files|projects|releases|tokens|roles|users|jobs|agents|agent_targets|checks|f|p|r|t|u|j|c)\b/;

let root: string;
let db: Db;
let projects: ProjectStore;
let files: FileStore;
let accounts: AccountStore;
let agents: AgentStore;
let jobs: JobStore;
let checks: CheckStore;
let sessions: SessionStore;

beforeAll(() => {
  root = mkdtempSync(path.join(tmpdir(), "pydepot-query-plans-"));
  db = openDb(path.join(root, "pydepot.sqlite"));
  projects = new ProjectStore(db);
  files = new FileStore(db);
  accounts = new AccountStore(db);
  agents = new AgentStore(db);
  jobs = new JobStore(db);
  checks = new CheckStore(db);
  sessions = new SessionStore(db);
});

afterAll(() => {
  db.close();
  rmSync(root, { recursive: true, force: true });
});

/** The SQL a store prepared: the statements are private, so this reads the named field. */
function sqlOf(store: object, field: string): string {
  const statement = (store as Record<string, Statement | undefined>)[field];
  if (!statement?.source) throw new Error(`${store.constructor.name} has no prepared statement ${field}`);
  return statement.source;
}

function planOf(sql: string): string[] {
  const named = [...new Set(sql.match(/@\w+/g) ?? [])].map((name) => [name.slice(1), 1]);
  const parameters = named.length > 0 ? [Object.fromEntries(named)] : (sql.match(/\?/g) ?? []).map(() => 1);
  return (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...parameters) as { detail: string }[]).map((row) => row.detail);
}

describe("hot queries search indexes instead of scanning tables", () => {
  it.each([
    ["project by name", () => sqlOf(projects, "byNameStatement"), /SEARCH projects USING INDEX \S+ \(name=\?\)/],
    ["project serial by name (every page view)", () => sqlOf(projects, "serialStatement"), /SEARCH projects USING INDEX \S+ \(name=\?\)/],
    ["projects changed since a serial (page files, after every commit)", () => sqlOf(projects, "changedSinceStatement"), /SEARCH projects USING (?:COVERING )?INDEX projects_by_serial \(serial>\?\)/],
    ["file by filename (uploads, downloads)", () => sqlOf(files, "byFilenameStatement"), /SEARCH f USING INDEX \S+ \(filename=\?\)/],
    ["live files of a project (project pages)", () => sqlOf(files, "liveByProjectStatement"), /SEARCH f USING INDEX files_by_release \(release_id=\?\)/],
    ["release of a project by version (uploads)", () => sqlOf(files, "releaseStatement"), /SEARCH releases USING COVERING INDEX \S+ \(project_id=\? AND version=\?\)/],
    ["live release exists (yank, delete)", () => sqlOf(files, "releaseExistsStatement"), /SEARCH r USING COVERING INDEX \S+ \(project_id=\? AND version=\?\)/],
    ["user by token hash (every authenticated request)", () => sqlOf(accounts, "userByTokenStatement"), /SEARCH t USING INDEX \S+ \(token_hash=\?\)/],
    ["user by name (Basic auth)", () => sqlOf(accounts, "userByNameStatement"), /SEARCH u USING INDEX \S+ \(name=\?\)/],
    ["role of a user on a project (every access check)", () => sqlOf(accounts, "roleStatement"), /SEARCH roles USING INDEX \S+ \(project_id=\? AND user_id=\?\)/],
    ["agent by token hash (every agent request)", () => sqlOf(agents, "byTokenStatement"), /SEARCH agents USING INDEX \S+ \(token_hash=\?\)/],
    ["lease claim: the first queued job of each of the agent's targets", () => sqlOf(jobs, "claimStatement"), /SEARCH j USING COVERING INDEX jobs_queue \(target_key=\?\)/],
    ["leases an agent holds (every claim, every agent start)", () => sqlOf(jobs, "releaseAgentStatement"), /SEARCH jobs USING (COVERING )?INDEX jobs_by_agent \(agent_id=\?\)/],
    ["job of a build credential (every request of a build)", () => sqlOf(jobs, "buildTokenJobStatement"), /SEARCH jobs USING (COVERING )?INDEX jobs_by_build_token \(build_token_hash=\?\)/],
    ["lease expiry (before every lease)", () => sqlOf(jobs, "expireStatement"), /SEARCH jobs USING (COVERING )?INDEX jobs_leases \(lease_expires_at<\?\)/],
    ["sdists in a range of file ids (every wake-up, every chunk of a background pass)", () => sqlOf(jobs, "sdistsBetweenStatement"), /SEARCH f USING INTEGER PRIMARY KEY \(rowid>\? AND rowid<\?\)/],
    ["targets an sdist has jobs for (every sdist planned)", () => sqlOf(jobs, "plannedTargetsStatement"), /SEARCH jobs USING COVERING INDEX \S+ \(sdist_id=\?\)/],
    ["sdist versions of a project (the backfill rule, once per project and chunk)", () => sqlOf(jobs, "sdistVersionsStatement"), /SEARCH r USING (COVERING )?INDEX \S+ \(project_id=\?\)/],
    ["sdists of a release (an admin's requeue)", () => sqlOf(jobs, "releaseSdistsStatement"), /SEARCH r USING (COVERING )?INDEX \S+ \(project_id=\? AND version=\?\)/],
    ["newest file id (every planning pass: max of the primary key, one step)", () => sqlOf(jobs, "lastFileIdStatement"), /^SEARCH files$/],
    ["due checks (every checker pass)", () => sqlOf(checks, "dueStatement"), /SEARCH c USING INDEX checks_pending \(retry_after<\?\)/],
    ["verdicts waiting for a new file's project (every new file)", () => sqlOf(checks, "awaitingStatement"), /SEARCH c USING INDEX checks_unresolvable \(missing_requirement=\?\)/],
    ["a release's live files (release pages, project pages)", () => sqlOf(files, "liveByReleaseStatement"), /SEARCH f USING INDEX files_by_release \(release_id=\?\)/],
    ["a project's releases (project pages)", () => sqlOf(files, "releasesStatement"), /SEARCH r USING (COVERING )?INDEX \S+ \(project_id=\?\)/],
    ["files a job built (job pages)", () => sqlOf(files, "byJobStatement"), /SEARCH f USING INDEX files_by_job \(job_id=\?\)/],
    ["a release's jobs (release pages, rebuilds)", () => sqlOf(jobs, "forReleaseStatement"), /SEARCH f2 USING INDEX files_by_release \(release_id=\?\)/],
    ["web UI session by its hash (every signed-in page)", () => sqlOf(sessions, "byHashStatement"), /SEARCH s USING INDEX \S+ \(secret_hash=\?\)/],
  ])("%s", (_, sql, search) => {
    const plan = planOf(sql());
    expect(plan.filter((detail) => FULL_SCAN.test(detail))).toEqual([]);
    expect(plan.some((detail) => search.test(detail)), plan.join("\n")).toBe(true);
  });

  // A partial index holds only the rows such a list shows (failed, held, running): reading it whole is the point.
  it.each([
    ["newest failed files (home page)", () => sqlOf(files, "failedStatement"), "files_failed"],
    ["newest held files (home page)", () => sqlOf(files, "heldStatement"), "files_held"],
    ["checks running now (nodes page)", () => sqlOf(checks, "runningNowStatement"), "checks_running"],
  ])("%s reads its partial index only", (_, sql, index) => {
    const plan = planOf(sql());
    expect(plan.filter((detail) => FULL_SCAN.test(detail) && !new RegExp(`USING (COVERING )?INDEX ${index}$`).test(detail))).toEqual([]);
    expect(plan.some((detail) => detail.includes(`INDEX ${index}`)), plan.join("\n")).toBe(true);
  });

  it.each(["SELECT id FROM files WHERE sha256 = ?", "SELECT t.id FROM tokens t WHERE t.user_id = ?"])(
    "would notice the full scan in %s",
    (sql) => {
      expect(planOf(sql).some((detail) => FULL_SCAN.test(detail))).toBe(true);
    },
  );
});
