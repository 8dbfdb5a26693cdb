import { randomBytes } from "node:crypto";
import { rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { Settings } from "../settings.js";
import type { CheckStore } from "../store/checks.js";
import { ownedName } from "../store/owners.js";
import type { Count, FinishedBuild, StatsStore, Verdicts } from "../store/stats.js";
import type { Access, Principal } from "./access.js";
import { ONLINE_WINDOW_MS } from "./agents.js";
import type { Pages } from "./pages.js";
import type { Staging } from "./staging.js";

export interface Health {
  ok: boolean;
  database: { writable: boolean; error?: string };
  storage: { writable: boolean; freeBytes: number; minFreeBytes: number; error?: string };
  agents: { registered: number; online: number };
  nodes: { configured: number; healthy: number };
  jobs: Record<string, number>;
}

/** What /metrics reads at each scrape, in numbers that carry no project names. */
export interface Stats {
  jobsByStatus: Count[];
  checksByStatus: Count[];
  verdicts: Verdicts[];
  storedBytesByOrigin: Count[];
  agents: { registered: number; online: number };
  nodes: { configured: number; healthy: number };
  freeBytes: number;
  pageCache: { hits: number; misses: number };
}

/** Load balancers ask every few seconds; a flood of asks costs one write of each kind this often. */
const PROBE_INTERVAL_MS = 1000;

type Probe = { writable: boolean; error?: string };

/** Health and numbers for the people who run pydepot: /healthz, /metrics. */
export class Operations {
  private lastProbes: { at: number; database: Probe; storage: Probe } | null = null;

  constructor(
    private readonly store: StatsStore,
    private readonly checks: CheckStore,
    private readonly pages: Pages,
    private readonly access: Access,
    private readonly staging: Staging,
    private readonly storagePath: string,
    private readonly nodes: Settings["nodes"],
  ) {}

  /**
   * Anyone may ask (a load balancer has no token): the answer holds counts only, no names. Each
   * check writes for real, since a database or disk that only reads is not serving uploads.
   */
  health(): Health {
    const { database, storage } = this.writeProbes();
    const { freeBytes, minFreeBytes, enough } = this.staging.room();
    const jobs = Object.fromEntries(this.store.jobsByStatus().map(({ key, count }) => [key, count]));
    return {
      ok: database.writable && storage.writable && enough,
      database,
      storage: { ...storage, freeBytes, minFreeBytes },
      agents: this.agents(),
      nodes: this.nodeSummary(),
      jobs,
    };
  }

  /**
   * The write probes, taken at most once per PROBE_INTERVAL_MS and shared by every ask meanwhile:
   * each waits for an fsync on the event loop, and anonymous asks without such a bound (184 a
   * second from 32 connections) held every other request, a small download's included, for
   * 300 ms to 900 ms.
   */
  private writeProbes(): { database: Probe; storage: Probe } {
    const now = Date.now();
    if (this.lastProbes && now - this.lastProbes.at < PROBE_INTERVAL_MS) return this.lastProbes;
    const database = attempt(() => this.store.probeWrite());
    const storage = attempt(() => {
      const probe = path.join(this.storagePath, "tmp", ownedName(`healthz-${randomBytes(4).toString("hex")}`));
      writeFileSync(probe, "ok", { flush: true });
      rmSync(probe);
    });
    this.lastProbes = { at: now, database, storage };
    return this.lastProbes;
  }

  /** Metrics are for those who may list the index: with anonymous reads off, a token is needed. */
  canSeeMetrics(principal: Principal): void {
    this.access.canReadIndex(principal);
  }

  stats(): Stats {
    return {
      jobsByStatus: this.store.jobsByStatus(),
      checksByStatus: this.store.checksByStatus(),
      verdicts: this.store.verdicts(),
      storedBytesByOrigin: this.store.storedBytesByOrigin(),
      agents: this.agents(),
      nodes: this.nodeSummary(),
      freeBytes: this.staging.room().freeBytes,
      pageCache: this.pages.cacheStats(),
    };
  }

  /** The id of the newest job event: builds finished after it are new to the caller. */
  lastJobEvent(): number {
    return this.store.lastJobEvent();
  }

  finishedBuilds(afterEventId: number): FinishedBuild[] {
    return this.store.finishedBuilds(afterEventId);
  }

  private agents(): { registered: number; online: number } {
    return this.store.agents(new Date(Date.now() - ONLINE_WINDOW_MS).toISOString());
  }

  /** Configured nodes whose last contact went well (a node never contacted yet is not counted healthy). */
  private nodeSummary(): { configured: number; healthy: number } {
    const configured = new Set(this.nodes.map((node) => node.name));
    const healthy = this.checks.health().filter((node) => configured.has(node.node) && node.healthy).length;
    return { configured: configured.size, healthy };
  }
}

/** The error's code (EACCES, ENOSPC, SQLITE_READONLY …) rather than its message: anyone may ask, and messages name paths. */
function attempt(probe: () => void): Probe {
  try {
    probe();
    return { writable: true };
  } catch (error) {
    return { writable: false, error: (error as NodeJS.ErrnoException).code ?? "unexpected error" };
  }
}
