import type { IncomingMessage, ServerResponse } from "node:http";
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { JobStream } from "../services/job-stream.js";
import type { Operations } from "../services/operations.js";

/** Seconds: index pages take well under a millisecond, uploads and long polls many seconds. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const BUILD_BUCKETS = [5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600];

/**
 * pydepot's Prometheus metrics, one registry per server. Requests are counted as they finish;
 * everything stored in SQLite (queues, agents, verdicts, bytes) is read once per scrape, so
 * changes made by the CLI or another process count too and no hot path writes anything.
 */
export class Metrics {
  readonly registry = new Registry();
  /** Its `_count` is the number of requests by route and status: one observation per request, not two. */
  private readonly requests = new Histogram({
    name: "pydepot_http_request_duration_seconds",
    help: "HTTP requests by route and status: time from the request to the last byte handed to the socket",
    labelNames: ["route", "status"],
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  private readonly acceptedBytes = new Counter({ name: "pydepot_accepted_file_bytes_total", help: "Bytes of files accepted, by origin (upload, import, build)", labelNames: ["origin"], registers: [this.registry] });
  private readonly pageCache = new Counter({ name: "pydepot_page_cache_requests_total", help: "Index pages asked for, by whether the rendered page was cached", labelNames: ["result"], registers: [this.registry] });
  private readonly jobs = new Gauge({ name: "pydepot_build_jobs", help: "Build jobs by status (queued is the queue length)", labelNames: ["status"], registers: [this.registry] });
  private readonly checks = new Gauge({ name: "pydepot_checks", help: "Import checks by status (pending is the queue length)", labelNames: ["status"], registers: [this.registry] });
  private readonly agents = new Gauge({ name: "pydepot_agents", help: "Registered build agents, by whether they were heard from in the last 90 s", labelNames: ["state"], registers: [this.registry] });
  private readonly builds = new Histogram({ name: "pydepot_build_duration_seconds", help: "From lease to result, for builds finished since this server started, by outcome", labelNames: ["status"], buckets: BUILD_BUCKETS, registers: [this.registry] });
  private readonly verdicts = new Counter({ name: "pydepot_check_verdicts_total", help: "Import check verdicts, by interpreter and verdict", labelNames: ["interpreter", "verdict"], registers: [this.registry] });
  private readonly nodes = new Gauge({ name: "pydepot_nodes", help: "Configured clean nodes, by whether their last contact went well", labelNames: ["state"], registers: [this.registry] });
  private readonly jobStreams = new Gauge({ name: "pydepot_job_streams", help: "Live job event streams open now (bounded: see the README)", registers: [this.registry] });
  private readonly freeBytes = new Gauge({ name: "pydepot_storage_free_bytes", help: "Free space for pydepot on the storage folder's filesystem", registers: [this.registry] });
  /** Label children by key: prom-client hashes a label object on each call, a Map lookup is cheaper. */
  private readonly children = new Map<string, Histogram.Internal<"route" | "status">>();
  private lastJobEvent: number;

  constructor(
    private readonly operations: Operations,
    private readonly jobStream: JobStream,
  ) {
    collectDefaultMetrics({ register: this.registry });
    this.lastJobEvent = operations.lastJobEvent();
  }

  /** Count a request once its answer is written; `fast` when a fast path answered it. */
  finished(request: IncomingMessage, response: ServerResponse, startedAt: bigint, fast: boolean): void {
    const route = fast ? fastRoute(request.url ?? "") : ((request as { route?: { path?: string } }).route?.path ?? "unmatched");
    const key = `${response.statusCode} ${route}`;
    let child = this.children.get(key);
    if (!child) {
      child = this.requests.labels(route, String(response.statusCode));
      this.children.set(key, child);
    }
    child.observe(Number(process.hrtime.bigint() - startedAt) / 1e9);
  }

  /** The text exposition, after reading everything the database knows. */
  async text(): Promise<string> {
    const stats = this.operations.stats();
    setCounter(this.acceptedBytes, stats.storedBytesByOrigin.map(({ key, count }) => [{ origin: key }, count]));
    setCounter(this.pageCache, [
      [{ result: "hit" }, stats.pageCache.hits],
      [{ result: "miss" }, stats.pageCache.misses],
    ]);
    setByStatus(this.jobs, stats.jobsByStatus);
    setByStatus(this.checks, stats.checksByStatus);
    this.agents.set({ state: "online" }, stats.agents.online);
    this.agents.set({ state: "offline" }, stats.agents.registered - stats.agents.online);
    setCounter(this.verdicts, stats.verdicts.map(({ interpreter, status, count }) => [{ interpreter, verdict: status }, count]));
    this.nodes.set({ state: "healthy" }, stats.nodes.healthy);
    this.nodes.set({ state: "unhealthy" }, stats.nodes.configured - stats.nodes.healthy);
    this.freeBytes.set(stats.freeBytes);
    this.jobStreams.set(this.jobStream.followers);
    for (const build of this.operations.finishedBuilds(this.lastJobEvent)) {
      this.builds.observe({ status: build.status }, build.seconds);
      this.lastJobEvent = build.id;
    }
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

/** The fast paths answer `[/staging]/simple/`, `[/staging]/simple/<project>/` and `/files/<project>/<filename>` only. */
function fastRoute(url: string): string {
  if (url.startsWith("/files/")) return "/files/:project/:filename";
  const query = url.indexOf("?");
  const root = (query < 0 ? url : url.slice(0, query)).endsWith("/simple/");
  if (url.startsWith("/staging/")) return root ? "/staging/simple/" : "/staging/simple/:project/";
  return root ? "/simple/" : "/simple/:project/";
}

/** Totals kept in SQLite become counters: set to the stored total at each scrape. */
function setCounter<T extends string>(counter: Counter<T>, totals: [Partial<Record<T, string>>, number][]): void {
  counter.reset();
  for (const [labels, total] of totals) counter.inc(labels, total);
}

/** Statuses with no rows left read 0 rather than keeping their last value. */
function setByStatus(gauge: Gauge<"status">, counts: { key: string; count: number }[]): void {
  gauge.reset();
  for (const { key, count } of counts) gauge.set({ status: key }, count);
}
