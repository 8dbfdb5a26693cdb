import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { createHttpServer } from "./http/server.js";
import { Access } from "./services/access.js";
import { Accounts } from "./services/accounts.js";
import { Agents } from "./services/agents.js";
import { Backups } from "./services/backups.js";
import { Catalog } from "./services/catalog.js";
import { Checks } from "./services/checks.js";
import { NodeTrust } from "./services/node-trust.js";
import { JobStream } from "./services/job-stream.js";
import { Jobs } from "./services/jobs.js";
import { LoginThrottle } from "./services/login-throttle.js";
import { Downloads } from "./services/downloads.js";
import { Fsck } from "./services/fsck.js";
import { Imports } from "./services/imports.js";
import { Operations } from "./services/operations.js";
import { Holds } from "./services/holds.js";
import { Ingest } from "./services/ingest.js";
import { PageFiles } from "./services/page-files.js";
import { Pages } from "./services/pages.js";
import { Planner } from "./services/planner.js";
import { Planning } from "./services/planning.js";
import { Releases } from "./services/releases.js";
import { Sessions } from "./services/sessions.js";
import { Staging } from "./services/staging.js";
import { Uploads } from "./services/uploads.js";
import { SmokeChecks } from "./services/smoke-checks.js";
import { Verdicts } from "./services/verdicts.js";
import { Waivers } from "./services/waivers.js";
import type { Settings } from "./settings.js";
import { VERSION } from "./version.js";
import { startPlanningThread } from "./workers/planning-thread.js";
import { scheduleBackups, startScheduler } from "./workers/scheduler.js";
import { AccountStore } from "./store/accounts.js";
import { AgentStore } from "./store/agents.js";
import { CheckStore } from "./store/checks.js";
import { Blobs } from "./store/blobs.js";
import { startCheckpoints } from "./store/checkpoints.js";
import { afterCommit, openDb, type Db } from "./store/db.js";
import { FileStore } from "./store/files.js";
import { HistoryStore } from "./store/history.js";
import { JobStore } from "./store/jobs.js";
import { ProjectStore } from "./store/projects.js";
import { RenderedPages } from "./store/rendered-pages.js";
import { SessionStore } from "./store/sessions.js";
import { SmokeCheckStore } from "./store/smoke-checks.js";
import { WaiverStore } from "./store/waivers.js";
import { StatsStore } from "./store/stats.js";
import { WakeUps } from "./store/wakeups.js";
import { holdServerLock, type ServerLock } from "./store/server-lock.js";


/** Every service, wired to one database and one storage folder. */
export interface Services {
  db: Db;
  blobs: Blobs;
  stores: {
    projects: ProjectStore;
    files: FileStore;
    accounts: AccountStore;
    history: HistoryStore;
    agents: AgentStore;
    jobs: JobStore;
    checks: CheckStore;
    stats: StatsStore;
    waivers: WaiverStore;
    smokeChecks: SmokeCheckStore;
    sessions: SessionStore;
  };
  access: Access;
  accounts: Accounts;
  staging: Staging;
  ingest: Ingest;
  uploads: Uploads;
  releases: Releases;
  pages: Pages;
  downloads: Downloads;
  imports: Imports;
  agents: Agents;
  planning: Planning;
  jobs: Jobs;
  jobStream: JobStream;
  checks: Checks;
  nodeTrust: NodeTrust;
  waivers: Waivers;
  smokeChecks: SmokeChecks;
  operations: Operations;
  catalog: Catalog;
  sessions: Sessions;
  backups: Backups;
  fsck: Fsck;
  wakeUps: WakeUps;
  jobChanges: WakeUps;
  close(): void;
}

export interface App {
  url: string;
  services: Services;
  stop(): Promise<void>;
}

/**
 * The composition root: settings → db → stores → services. Used by `serve` and by every CLI command.
 * `serverUrl` is how clean nodes reach this server (the listening address is known only later).
 */
export function buildServices(settings: Settings, serverUrl: () => string = () => configuredUrl(settings)): Services {
  const now = () => new Date().toISOString();
  const blobs = new Blobs(settings.storage.path);
  const db = openDb(path.join(settings.storage.path, "pydepot.sqlite3"));
  const stores = {
    projects: new ProjectStore(db),
    files: new FileStore(db),
    accounts: new AccountStore(db),
    history: new HistoryStore(db),
    agents: new AgentStore(db),
    jobs: new JobStore(db),
    checks: new CheckStore(db),
    stats: new StatsStore(db),
    waivers: new WaiverStore(db),
    smokeChecks: new SmokeCheckStore(db),
    sessions: new SessionStore(db),
  };
  const wakeUps = new WakeUps();
  // Job state and log lines ring their own wake-ups: the ones above would plan jobs and wake every waiting agent at each log line.
  const jobChanges = new WakeUps();
  const access = new Access(stores.accounts, stores.projects, settings.access.anonymous_read);
  const staging = new Staging(blobs, settings.storage.min_free_bytes);
  const gated = settings.nodes.length > 0;
  const holds = new Holds(stores.files, stores.projects, stores.jobs, stores.agents, stores.waivers, stores.history, gated, now);
  const verdicts = new Verdicts(stores.checks, stores.projects, stores.waivers, holds);
  const waivers = new Waivers(db, stores.waivers, stores.files, stores.history, verdicts, access, holds, now);
  const ingest = new Ingest(db, stores.projects, stores.files, stores.accounts, stores.history, blobs, staging, access, wakeUps, holds, now);
  const nodeTrust = new NodeTrust(db, stores.checks, stores.projects, stores.history, wakeUps, settings.nodes, now);
  const planning = new Planning(new Planner(db, stores.jobs, stores.agents, stores.files, now), stores.jobs, wakeUps);
  const jobs = new Jobs(db, stores.jobs, stores.agents, stores.files, stores.projects, ingest, planning, wakeUps, jobChanges, settings.farm, now, access);
  const pages = new Pages(stores.projects, stores.files, access, settings.server.public_url, gated);
  const accounts = new Accounts(db, stores.accounts, stores.projects, stores.history, stores.sessions, new LoginThrottle(settings.logins), now);
  const agents = new Agents(db, stores.agents, stores.history, stores.jobs, wakeUps, jobChanges, VERSION, settings.farm.max_attempts, now, access);
  const checks = new Checks(db, stores.checks, stores.files, stores.projects, stores.history, wakeUps, nodeTrust, settings.nodes, settings.checker, serverUrl, now, access, verdicts, stores.smokeChecks);
  const smokeChecks = new SmokeChecks(db, stores.smokeChecks, stores.history, access, now);
  return {
    db,
    blobs,
    stores,
    access,
    accounts,
    staging,
    ingest,
    uploads: new Uploads(ingest),
    releases: new Releases(db, stores.projects, stores.files, stores.history, blobs, access, holds, now),
    pages,
    downloads: new Downloads(stores.projects, stores.files, blobs, access),
    imports: new Imports(ingest, staging, settings.uploads.max_bytes),
    agents,
    planning,
    jobs,
    jobStream: new JobStream(jobs, stores.jobs, jobChanges, { ...JOB_FOLLOWER_LIMITS, idleMs: heartbeatMs(settings) }),
    checks,
    nodeTrust,
    waivers,
    smokeChecks,
    operations: new Operations(stores.stats, stores.checks, pages, access, staging, settings.storage.path, settings.nodes),
    catalog: new Catalog(access, stores.projects, stores.files, stores.checks, stores.agents, stores.jobs, jobs, checks, agents, verdicts, waivers, smokeChecks, settings.nodes),
    sessions: new Sessions(stores.sessions, accounts, now),
    backups: new Backups(db, stores.files, settings.storage.path, () => new Date()),
    fsck: new Fsck(db, blobs),
    wakeUps,
    jobChanges,
    close: () => db.close(),
  };
}

/** Hold the storage folder (one server each), repair it, then serve HTTP (port 0 picks a free port, as the tests do). */
export async function startApp(settings: Settings, log: (message: string) => void = console.error): Promise<App> {
  const lock = holdServerLock(settings.storage.path);
  try {
    return await serve(settings, lock, log);
  } catch (error) {
    lock.release();
    throw error;
  }
}

async function serve(settings: Settings, lock: ServerLock, log: (message: string) => void): Promise<App> {
  let url = configuredUrl(settings);
  const services = buildServices(settings, () => settings.checker.server_url ?? url);
  const removed = sweepStorage(services);
  if (removed > 0) log(`start-up sweep removed ${removed} unrecorded file(s)`);
  services.stores.checks.requeueRunning();
  services.jobs.resumeLeases();
  for (const warning of services.nodeTrust.rootWarnings()) log(warning);
  const stopPageFiles = keepPageFiles(services, settings, log);
  const server = createHttpServer({
    ...services,
    uploadLimits: { maxBytes: settings.uploads.max_bytes, maxFields: settings.uploads.max_fields, maxFieldBytes: settings.uploads.max_field_bytes },
    longPollMs: settings.farm.long_poll_seconds * 1000,
    trustedProxy: settings.server.trusted_proxy,
    publicUrl: settings.server.public_url,
    timeouts: {
      headersMs: settings.server.headers_timeout_seconds * 1000,
      requestMs: settings.server.request_timeout_seconds * 1000,
      idleMs: settings.server.idle_timeout_seconds * 1000,
    },
    log,
  });
  await listen(server, settings.server.port, settings.server.host);
  const checkpoints = startCheckpoints(services.db, log);
  services.planning.start(log, (reports) => startPlanningThread(services.db, reports));
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  url = `http://${host}:${address.port}`;
  const scheduler =
    settings.nodes.length > 0
      ? startScheduler(services.checks, services.wakeUps, { sweepSeconds: settings.checker.sweep_seconds, reverifySchedule: settings.checker.reverify_schedule }, log)
      : null;
  const { destination, schedule, keep } = settings.backup;
  const backups = destination ? scheduleBackups(services.backups, { destination, schedule, keep }, log) : null;
  // Stopping twice must not touch the closed database (a wake-up at stop plans jobs).
  let stopped: Promise<void> | null = null;
  const stop = async () => {
    const planningStopped = services.planning.stop();
    stopPageFiles();
    await scheduler?.stop();
    await backups?.stop();
    await services.checks.drain();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
    await planningStopped;
    await checkpoints.stop();
    services.close();
    lock.release();
  };
  return { url, services, stop: () => (stopped ??= stop()) };
}

/** How soon a change made by another process (the CLI) reaches the page files nginx serves. */
const PAGE_FILES_POLL_MS = 250;
/** Pages compared per turn of the event loop at start-up: requests are answered in between. */
const PAGE_FILES_STEP = 100;

/**
 * The page files (storage/pages) brought up to date after every commit of this process (so a page
 * is current when an upload's answer is sent) and every 250 ms (the CLI's changes); at start-up
 * every page is compared in steps while the server already answers.
 * Always on while serving, nginx or not: two small files per project (a page lists files each
 * far larger than its line), and a refresh costs one indexed SELECT when nothing changed.
 */
function keepPageFiles(services: Services, settings: Settings, log: (message: string) => void): () => void {
  const pageFiles = new PageFiles(services.stores.projects, services.pages, new RenderedPages(settings.storage.path), settings.access.anonymous_read, log);
  pageFiles.start();
  if (!settings.access.anonymous_read) return () => {};
  let stopped = false;
  const catchUp = () => {
    if (!stopped && pageFiles.catchUp(PAGE_FILES_STEP)) setImmediate(catchUp);
  };
  setImmediate(catchUp);
  const detach = afterCommit(services.db, () => pageFiles.refresh());
  const timer = setInterval(() => pageFiles.refresh(), PAGE_FILES_POLL_MS);
  return () => {
    stopped = true;
    clearInterval(timer);
    detach();
  };
}

/**
 * Live job streams open at once: each one re-reads its job at every job change, so their number
 * is what a change costs. A browser opens at most 6 connections to a server over HTTP/1.1.
 */
const JOB_FOLLOWER_LIMITS = { maxFollowers: 200, maxPerClient: 20 };

/** A quiet job stream sends a comment this often: well inside the server's idle timeout, and 15 s at most for proxies. */
function heartbeatMs(settings: Settings): number {
  return Math.min(15_000, (settings.server.idle_timeout_seconds * 1000) / 2);
}

function configuredUrl(settings: Settings): string {
  return settings.checker.server_url ?? settings.server.public_url ?? `http://${settings.server.host}:${settings.server.port}`;
}

/**
 * The start-up repair: what dead processes left in tmp/, and the files they linked whose rows never
 * committed. Safe while others run (it leaves the entries of live processes alone), so a command
 * that records files (an import run again after a kill) runs it first too.
 */
export function sweepStorage(services: Services): number {
  return services.blobs.sweep((project, filename) => isRecorded(services, project, filename));
}

function isRecorded(services: Services, project: string, filename: string): boolean {
  const file = services.stores.files.byFilename(filename.replace(/\.metadata$/, ""));
  return file !== undefined && file.project === project && !file.deletedAt;
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
}
