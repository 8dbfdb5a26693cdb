import { closeSync, fsyncSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import os from "node:os";
import path from "node:path";

/** Linux's USER_HZ: /proc reports CPU time in these ticks. */
const TICKS_PER_SECOND = 100;

export const fmt = (value: number, digits = 1) =>
  value.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });

export const log = (message: string) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}`);

export function describeMachine(): string {
  return `${os.cpus().length} × ${os.cpus()[0]?.model ?? "CPU"}, ${fmt(os.totalmem() / 1024 ** 3, 0)} GiB`;
}

/** The value below which `share` of the values lie (nearest rank); `share` 0.5 is the median. */
export function percentile(values: number[], share: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(share * sorted.length) - 1))];
}

export const median = (values: number[]) => percentile(values, 0.5);

/**
 * How busy the whole machine and the 1-minute load average were while a scenario ran: anything
 * else running on these cores skews its figures, so every section says so.
 */
export interface LoadWatch {
  /** "load 1.20 → 2.35, CPU 87 % busy (2 cores)" */
  stop(): string;
}

export function watchLoad(): LoadWatch {
  const loadBefore = os.loadavg()[0];
  const before = cpuTicks();
  return {
    stop() {
      const after = cpuTicks();
      const busy = (after.busy - before.busy) / Math.max(1, after.total - before.total);
      return `load average ${fmt(loadBefore, 2)} → ${fmt(os.loadavg()[0], 2)}, CPU ${fmt(busy * 100, 0)} % busy (all ${os.cpus().length} cores, every process)`;
    },
  };
}

function cpuTicks(): { busy: number; total: number } {
  const fields = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
  const total = fields.reduce((sum, value) => sum + value, 0);
  const idle = fields[3] + fields[4]; // idle + iowait
  return { busy: total - idle, total };
}

/**
 * A process's main thread (for Node: the event loop) so far, from /proc/PID/schedstat: seconds on
 * a CPU, and seconds runnable but waiting for one (another process held the cores).
 */
export function mainThreadTimes(pid: number): { cpuSeconds: number; waitSeconds: number } {
  const [onCpu, waiting] = readFileSync(`/proc/${pid}/schedstat`, "utf8").trim().split(/\s+/).map(Number);
  return { cpuSeconds: onCpu / 1e9, waitSeconds: waiting / 1e9 };
}

/** User and system (kernel: syscalls such as pwrite and fsync) CPU seconds a process has used so far, every thread. */
export function processCpuSeconds(pid: number): { user: number; system: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { user: Number(fields[11]) / TICKS_PER_SECOND, system: Number(fields[12]) / TICKS_PER_SECOND };
}

/** CPU seconds (user + system) of a process and its children so far: nginx's master and workers. */
export function processTreeCpuSeconds(pid: number): number {
  const children = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  return [pid, ...children].reduce((sum, each) => {
    const { user, system } = processCpuSeconds(each);
    return sum + user + system;
  }, 0);
}

/**
 * One 4 KiB append + fsync in `folder`, `count` times: the floor of a durable SQLite commit
 * there (a WAL commit appends its frames, then syncs). The mean shows the slow ones a median hides.
 */
export function fsyncMs(folder: string, count = 100): { median: number; mean: number } {
  const file = path.join(folder, `fsync-probe-${process.pid}`);
  const fd = openSync(file, "w");
  const block = Buffer.alloc(4096, 1);
  const times: number[] = [];
  try {
    for (let index = 0; index < count; index++) {
      const started = performance.now();
      writeSync(fd, block, 0, block.length, index * block.length);
      fsyncSync(fd);
      times.push(performance.now() - started);
    }
  } finally {
    closeSync(fd);
    rmSync(file, { force: true });
  }
  return { median: median(times), mean: times.reduce((sum, time) => sum + time, 0) / times.length };
}
