// farm-leases: 10,000 queued jobs and 20 simulated agents hammering POST /api/farm/lease on a
// server process (issue 3, "Speed": at least 500 leases/s, and the lease query plan). A lease is
// a 200 answer carrying a job: its claim transaction (job → leased, a "leased" event) has
// committed. Two phases: agents as real ones behave (lease, report the job failed at once, lease
// again: each holds one job at a time), then lease only (each leases again at once and keeps
// every job it got).
import path from "node:path";
import { TARGETS, type FakeAgent } from "../support/farm-api.js";
import { registerAgents } from "./farm.js";
import { claimCost, expireCost, jobCounts, jobsIndexes, leaseQueryPlans } from "./farm-queries.js";
import { fmt, fsyncMs, log, mainThreadTimes, median, percentile, processCpuSeconds } from "./machine.js";
import { openServices, plan, populateSdistsByStores } from "./populate.js";
import { verdict, type ScenarioResult } from "./report.js";
import { startServer, type ServerProcess } from "./server.js";

const JOBS = 10_000;
const PROJECTS = 1_000;
const AGENTS = 20;
/** Each phase stops after this long or this many leases, whichever comes first. */
const PHASE_SECONDS = 10;
const PHASE_LEASES = 4_000;
const WARM_UP_LEASES_PER_AGENT = 5;
const TARGET_PER_SECOND = 500;

/** What is measured in-process before the server starts. */
interface Prepared {
  populateSeconds: number;
  planSeconds: number;
  /** plan() again, nothing to add. */
  replanMs: number;
  plans: { claim: string[]; expire: string[] };
  /** The claim in SQL, for an agent whose target has queued jobs, and for one whose target has none. */
  claimMicroseconds: number;
  missMicroseconds: number;
  /** The expiry pass every lease runs first, with one job held per agent and with a lease-only phase's worth. */
  expireMicroseconds: { few: number; many: number };
}

interface Phase {
  label: string;
  leases: number;
  seconds: number;
  latencies: number[];
  /** Every thread of the server process, in user space and in the kernel. */
  serverCpuSeconds: { user: number; system: number };
  /** The server's event loop: on a CPU, and runnable but waiting for one. */
  loopCpuSeconds: number;
  loopWaitSeconds: number;
  benchCpuSeconds: number;
}

export async function farmLeasesScenario(work: string): Promise<ScenarioResult> {
  const storage = path.join(work, "storage");
  const { agentsFor, prepared } = await prepare(storage);
  const fsync = [fsyncMs(storage)];
  log(`farm-leases: plan() ${fmt(prepared.planSeconds, 2)} s; claim ${fmt(prepared.claimMicroseconds)} µs in SQL; append + fsync ${fmt(fsync[0].median, 2)} ms`);
  log(`farm-leases: EXPLAIN QUERY PLAN of the claim:\n${prepared.plans.claim.join("\n")}`);
  const server = await startServer(storage);
  const phases: Phase[] = [];
  try {
    const agents = agentsFor(server.url);
    await Promise.all(agents.map((agent) => leaseAndReport(agent, WARM_UP_LEASES_PER_AGENT)));
    phases.push(await drive(server, agents, true), await drive(server, agents, false));
  } finally {
    await server.stop();
  }
  // The disk's fsync drifts with the host: the same probe again after the phases.
  fsync.push(fsyncMs(storage));
  const services = openServices(storage);
  const stored = jobCounts(services);
  services.close();
  const answered = WARM_UP_LEASES_PER_AGENT * AGENTS + phases[0].leases + phases[1].leases;
  if (stored.leasedOnce !== answered || stored.leasedTwice > 0) throw new Error(`the database disagrees: ${JSON.stringify(stored)}, but ${answered} leases were answered`);
  return report(prepared, fsync, phases, stored.queued);
}

/**
 * Through the services, before the server starts: the agents (first, so every sdist is new
 * for their target and no backfill rule applies), 10,000 sdists (bench-only shortcut), the real
 * plan(), and the SQL-level measures.
 */
async function prepare(storage: string): Promise<{ agentsFor: (baseUrl: string) => FakeAgent[]; prepared: Prepared }> {
  const services = openServices(storage);
  try {
    const agentsFor = registerAgents(services, services.agents.createEnrolment("bench", "bench"), AGENTS, TARGETS.wheel311);
    log(`farm-leases: ${JOBS} sdists in ${PROJECTS} projects through the stores (bench-only shortcut)`);
    const population = await populateSdistsByStores(services, plan(PROJECTS, JOBS / PROJECTS));
    const planStarted = performance.now();
    const planned = services.planning.plan();
    const planSeconds = (performance.now() - planStarted) / 1000;
    if (planned !== JOBS) throw new Error(`plan() queued ${planned} jobs, expected ${JOBS}`);
    const replanStarted = performance.now();
    services.planning.plan();
    const replanMs = performance.now() - replanStarted;
    // An agent whose target has nothing queued; revoked afterwards, so the server plans no backfill for it.
    registerAgents(services, services.agents.createEnrolment("bench", "bench"), 1, TARGETS.egg27, "bench-idle-egg");
    const prepared = {
      populateSeconds: population.seconds,
      planSeconds,
      replanMs,
      plans: leaseQueryPlans(services),
      claimMicroseconds: claimCost(services, "bench-agent-01"),
      missMicroseconds: claimCost(services, "bench-idle-egg-01"),
      expireMicroseconds: { few: expireCost(services, "bench-agent-01", AGENTS), many: expireCost(services, "bench-agent-01", PHASE_LEASES) },
    };
    services.agents.revoke("bench-idle-egg-01", "bench");
    return { agentsFor, prepared };
  } finally {
    services.close();
  }
}

/** Lease and report failed, `count` times (the warm-up). */
async function leaseAndReport(agent: FakeAgent, count: number): Promise<void> {
  for (let index = 0; index < count; index++) {
    const job = await agent.lease(0);
    if (!job) throw new Error("the queue ran dry during the warm-up");
    await settle(agent, job.id);
  }
}

async function settle(agent: FakeAgent, jobId: number): Promise<void> {
  const reply = await agent.result(jobId, { status: "failed", reason: "bench: not built" });
  if (reply.status !== 200) throw new Error(`result of job ${jobId}: ${reply.status} ${reply.statusText}`);
}

/** Every agent leases (and, with `report`, settles each job) in a loop until the phase's time or count is up. */
async function drive(server: ServerProcess, agents: FakeAgent[], report: boolean): Promise<Phase> {
  const label = report ? "lease, report the job failed, lease again (one job held per agent)" : "lease only (every job kept)";
  const latencies: number[] = [];
  let leases = 0;
  const serverCpu = processCpuSeconds(server.pid);
  const loop = mainThreadTimes(server.pid);
  const benchCpu = process.cpuUsage();
  const started = performance.now();
  const deadline = started + PHASE_SECONDS * 1000;
  await Promise.all(
    agents.map(async (agent) => {
      while (performance.now() < deadline && leases < PHASE_LEASES) {
        const asked = performance.now();
        const job = await agent.lease(0);
        latencies.push(performance.now() - asked);
        if (!job) throw new Error(`the queue ran dry (${label})`);
        leases++;
        if (report) await settle(agent, job.id);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(benchCpu);
  server.assertAlive();
  const loopAfter = mainThreadTimes(server.pid);
  const serverCpuAfter = processCpuSeconds(server.pid);
  log(`farm-leases: ${label}: ${leases} leases in ${fmt(seconds, 2)} s = ${fmt(leases / seconds, 0)}/s`);
  return {
    label,
    leases,
    seconds,
    latencies,
    serverCpuSeconds: { user: serverCpuAfter.user - serverCpu.user, system: serverCpuAfter.system - serverCpu.system },
    loopCpuSeconds: loopAfter.cpuSeconds - loop.cpuSeconds,
    loopWaitSeconds: loopAfter.waitSeconds - loop.waitSeconds,
    benchCpuSeconds: (used.user + used.system) / 1e6,
  };
}

function report(prepared: Prepared, fsync: { median: number; mean: number }[], phases: Phase[], queued: number): ScenarioResult {
  const rate = (phase: Phase) => phase.leases / phase.seconds;
  const perMs = (seconds: number, phase: Phase) => fmt((seconds * 1000) / phase.leases, 2);
  const claim = jobsIndexes(prepared.plans.claim);
  const expire = jobsIndexes(prepared.plans.expire);
  const codeBlock = (lines: string[]) => `\n\n  \`\`\`\n${lines.map((line) => `  ${line}`).join("\n")}\n  \`\`\``;
  const phaseRows = phases.flatMap((phase) => [
    {
      scenario: `${AGENTS} agents: ${phase.label}`,
      result: `${fmt(rate(phase), 0)} leases/s (${fmt(phase.leases, 0)} in ${fmt(phase.seconds, 1)} s); lease answer p50 ${fmt(median(phase.latencies), 1)} ms, p99 ${fmt(percentile(phase.latencies, 0.99), 1)} ms`,
      target: verdict(`≥ ${TARGET_PER_SECOND} leases/s`, rate(phase) >= TARGET_PER_SECOND),
    },
    {
      scenario: "… where the time goes, per lease",
      result:
        `${perMs(phase.seconds, phase)} ms wall = event loop on a CPU ${perMs(phase.loopCpuSeconds, phase)} + waiting for a CPU ${perMs(phase.loopWaitSeconds, phase)}` +
        ` + neither (fsync, or no request) ${perMs(phase.seconds - phase.loopCpuSeconds - phase.loopWaitSeconds, phase)}; server, all threads: ${perMs(phase.serverCpuSeconds.user, phase)} ms user + ${perMs(phase.serverCpuSeconds.system, phase)} ms kernel CPU; bench client: ${perMs(phase.benchCpuSeconds, phase)} ms CPU`,
      target: "—",
    },
  ]);
  return {
    notes: [
      `${fmt(JOBS, 0)} sdists (${fmt(PROJECTS, 0)} projects × ${JOBS / PROJECTS} versions) written through the stores in one transaction (bench-only shortcut, ${fmt(prepared.populateSeconds, 1)} s), then the real \`planning.plan()\` in-process (as a command plans: every new sdist at once, no background pass) queued one job per sdist for the one target of ${AGENTS} agents (registered through the services).`,
      `${AGENTS} FakeAgents (test/support/farm-api.ts, one keep-alive connection each) run concurrently in the bench process against \`node dist/main.js serve\`; each phase stops after ${PHASE_SECONDS} s or ~${fmt(PHASE_LEASES, 0)} leases; ${WARM_UP_LEASES_PER_AGENT * AGENTS} warm-up leases are not counted; ${fmt(queued, 0)} jobs were still queued at the end. Afterwards the database agrees: every job answered was leased exactly once, none twice.`,
      "A lease = POST /api/farm/lease (wait_seconds 0) answered 200 with a job. Each lease first runs the expiry pass (its own IMMEDIATE transaction), then the claim transaction (UPDATE … RETURNING + the 'leased' event) committed with synchronous = FULL: one WAL fsync per lease. A result is a second transaction, and so a second fsync.",
      "The server answers on one thread and better-sqlite3 commits synchronously: a lease costs the event loop its CPU plus its fsync, whatever the number of agents. \"Where the time goes\" splits the wall time per lease with the event loop's /proc/PID/schedstat: on a CPU, runnable but waiting for a CPU (the bench client, and anything else running, held the 2 cores), and neither (blocked in fsync, or idle between requests).",
      "The claim walks jobs_by_status (status = 'queued') in id order, looking each job's target up in agent_targets: O(1) while the oldest queued job is the agent's, but an agent whose targets have nothing queued walks every queued job of the other targets (the \"another target\" row: an egg agent and 10,000 queued wheel jobs), and an idle agent repeats that claim at every wake-up.",
      "The expiry pass searches jobs_by_status (status = 'leased') and reads every leased job, not the partial index jobs_leases (lease_expires_at): its cost grows with the number of jobs held, which stays at one per agent with real agents but grows through the lease-only phase.",
      `Claim query plan (\`EXPLAIN QUERY PLAN\` of JobStore's prepared claim statement, on this 10,000-job database):${codeBlock(prepared.plans.claim)}`,
      `Expiry query plan:${codeBlock(prepared.plans.expire)}`,
    ],
    rows: [
      { scenario: `plan() of ${fmt(JOBS, 0)} sdists × 1 target (in-process, one transaction)`, result: `${fmt(prepared.planSeconds, 2)} s`, target: "—" },
      { scenario: "plan() again, nothing to add (every wake-up runs it, and a lease every 10 s)", result: `${fmt(prepared.replanMs, 1)} ms`, target: "—" },
      { scenario: "claim statement alone (SQL, no commit), 10,000 queued jobs of the agent's target", result: `${fmt(prepared.claimMicroseconds, 0)} µs per claim`, target: "—" },
      { scenario: "claim statement alone, agent of another target (nothing to claim)", result: `${fmt(prepared.missMicroseconds, 0)} µs per claim`, target: "—" },
      {
        scenario: "expiry pass alone (nothing due), jobs held",
        result: `${fmt(prepared.expireMicroseconds.few, 0)} µs with ${AGENTS} held; ${fmt(prepared.expireMicroseconds.many, 0)} µs with ${fmt(PHASE_LEASES, 0)} held`,
        target: "—",
      },
      {
        scenario: "4 KiB append + fsync in the storage folder (the floor of one durable commit)",
        result: fsync.map((probe, index) => `${index === 0 ? "before" : "after"} the phases: median ${fmt(probe.median, 2)} ms, mean ${fmt(probe.mean, 2)} ms`).join("; "),
        target: "—",
      },
      ...phaseRows,
      {
        scenario: "claim query plan: jobs only searched through an index, never scanned",
        result: claim.indexed ? `yes: ${claim.indexes.join(", ")}${claim.indexes.includes("jobs_queue") ? "" : " (not the partial index jobs_queue)"}` : "NO: see the plan in the notes",
        target: verdict("indexed", claim.indexed),
      },
      {
        scenario: "expiry query plan: jobs only searched through an index, never scanned",
        result: expire.indexed ? `yes: ${expire.indexes.join(", ")}${expire.indexes.includes("jobs_leases") ? "" : " (not the partial index jobs_leases)"}` : "NO: see the plan in the notes",
        target: verdict("indexed", expire.indexed),
      },
    ],
  };
}
