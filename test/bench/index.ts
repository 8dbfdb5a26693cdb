// The index scenarios: pages side by side with Debian's nginx (2,000 projects through ingest, and
// 100,000 files through the stores), start-up time, and one 200 MiB upload with the server's
// memory watched.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { ensureTools } from "./debian.js";
import { fmt, log } from "./machine.js";
import { comparePages, type PagesLoad } from "./pages.js";
import { createUploader, openServices, plan, populateByIngest, populateByStores, type Population } from "./populate.js";
import type { Row } from "./report.js";
import { startServer, type ServerProcess } from "./server.js";
import { measureUpload, upload } from "./upload.js";
import { wheelBytes, wheelFilename, writeBigWheel } from "./wheels.js";

export type Tools = ReturnType<typeof ensureTools>;

export interface IndexResult {
  notes: string[];
  rows: Row[];
}

const PROJECTS = 2000;
const FILES_PER_PAGE = 50;
const UPLOAD_PAYLOAD_BYTES = 200 * 1024 ** 2;

/** Issue 9's load: one wrk thread, 16 connections; several short rounds rather than one long run. */
const load: PagesLoad = {
  threads: Number(process.env.BENCH_THREADS ?? 1),
  connections: Number(process.env.BENCH_CONNECTIONS ?? 16),
  seconds: Number(process.env.BENCH_SECONDS ?? 5),
  rounds: Number(process.env.BENCH_ROUNDS ?? 5),
};

/** What the pages rows mean: the load, the tools, and who serves what. */
function pagesNotes(tools: Tools): string[] {
  const firstLine = (command: string, args: string[]) => {
    const result = spawnSync(command, args, { encoding: "utf8" });
    return `${result.stdout}${result.stderr}`.trim().split("\n")[0].replace(/ Copyright.*/, "");
  };
  return [
    `${firstLine(tools.nginx, ["-v"])}; ${firstLine(tools.wrk, ["-v"])}.`,
    `Load: \`wrk -t${load.threads} -c${load.connections} -d${load.seconds}s --latency\` on 127.0.0.1 (the one-connection row: -t1 -c1),` +
      ` ${load.rounds} rounds after a warm-up of each server; in each round every page is measured on every server in turn,` +
      " each round starting with the next server, so the shared machine's load falls on all alike. Figures are medians of" +
      " the rounds; the ratio is the median of each round's ratio, with the rounds' range. wrk, the servers and nginx share the machine's cores.",
    "\"nginx static\" (the reference): the very bytes pydepot served, as plain files from a location the bench adds to the" +
      " server block `pydepot nginx-config --full` renders (`location ^~ /_reference/ { root …; }`): the same nginx process," +
      " workers (worker_processes auto, access_log off) and server settings as the pages.",
    "\"pydepot\": `node dist/main.js serve` in its own process, no nginx. \"pydepot behind nginx\": that nginx config's" +
      " pages location serving pydepot's page files. A \"behind nginx, <setting>\" row is the config with one bench-only" +
      " edit (BENCH_PAGES_VARIANTS), run as its own nginx beside the others.",
  ];
}

/** 2,000 projects (one with 50 files) through the real ingest; pages vs nginx. */
export async function pagesScenario(tools: Tools, work: string): Promise<IndexResult> {
  const storage = path.join(work, "storage");
  const specs = plan(PROJECTS, 1, FILES_PER_PAGE);
  log(`pages: populating ${specs.length} files in ${PROJECTS} projects through ingest`);
  const services = openServices(storage);
  const population = await populateByIngest(services, specs).finally(() => services.close());
  const server = await startServer(storage);
  try {
    const rows = [
      populationRow(`populate ${fmt(population.files, 0)} files / ${fmt(population.projects, 0)} projects via ingest`, population),
      ...startupRows(`start-up, ${fmt(population.files, 0)} files`, [server]),
      ...(await comparePages(tools, server, { ...population, pageFiles: FILES_PER_PAGE }, storage, work, load, "")),
    ];
    return { notes: pagesNotes(tools), rows };
  } finally {
    await server.stop();
  }
}

/** 2,000 projects × 50 files: start-up time and pages again. */
export async function largeScenario(tools: Tools, work: string): Promise<IndexResult> {
  const storage = path.join(work, "storage");
  const specs = plan(PROJECTS, FILES_PER_PAGE);
  log(`100k: populating ${specs.length} files in ${PROJECTS} projects through the stores (bench-only shortcut)`);
  const services = openServices(storage);
  const population = await populateByStores(services, specs).finally(() => services.close());
  const starts: ServerProcess[] = [];
  for (let attempt = 1; attempt <= 3; attempt++) {
    const server = await startServer(storage);
    starts.push(server);
    log(`100k: start ${attempt}: listening after ${fmt(server.listeningMs)} ms, first /simple/ after ${fmt(server.firstPageMs)} ms`);
    if (attempt < 3) await server.stop();
  }
  const server = starts[starts.length - 1];
  try {
    const rows = [
      populationRow(`populate ${fmt(population.files, 0)} files / ${fmt(population.projects, 0)} projects via stores (shortcut)`, population),
      ...startupRows(`start-up, ${fmt(population.files, 0)} files (median of 3)`, starts),
      ...(await comparePages(tools, server, { ...population, pageFiles: FILES_PER_PAGE }, storage, work, load, "100k: ")),
    ];
    const shortcut =
      "The 100k rows are written through the stores in one transaction (a bench-only shortcut: ingest, one transaction" +
      " and several fsyncs per file, is far slower); the pages scenario uses the real ingest.";
    return { notes: [shortcut, ...pagesNotes(tools)], rows };
  } finally {
    await server.stop();
  }
}

/**
 * One 200 MiB wheel uploaded to two fresh servers (sha256_digest only, then with blake2_256_digest
 * too) while the server's RSS is watched; each server first takes a small warm-up upload.
 */
export async function uploadScenario(work: string): Promise<IndexResult> {
  mkdirSync(work, { recursive: true });
  const spec = { project: "bench-big", version: "1.0.0" };
  log(`upload: writing a ${UPLOAD_PAYLOAD_BYTES / 1024 ** 2} MiB wheel`);
  const wheel = await writeBigWheel(path.join(work, wheelFilename(spec)), spec, UPLOAD_PAYLOAD_BYTES, true);
  const rows: Row[] = [];
  for (const withBlake2 of [false, true]) {
    const label = `upload ${UPLOAD_PAYLOAD_BYTES / 1024 ** 2} MiB wheel, sha256_digest${withBlake2 ? " + blake2_256_digest" : ""}`;
    const storage = path.join(work, withBlake2 ? "storage-blake2" : "storage");
    const services = openServices(storage);
    const token = await createUploader(services).finally(() => services.close());
    const server = await startServer(storage);
    try {
      await warmUpUpload(server, token, work);
      const measure = await measureUpload(server, token, { ...wheel, ...spec, blake2b256: withBlake2 ? wheel.blake2b256 : null });
      server.assertAlive();
      log(`${label}: HTTP ${measure.status} in ${fmt(measure.seconds, 2)} s; RSS ${fmt(measure.baselineMiB)} → peak ${fmt(measure.peakMiB)} MiB (sampled max ${fmt(measure.sampledMaxMiB)})`);
      const failed = measure.status === 200 ? "" : ` (HTTP ${measure.status}: ${measure.body})`;
      const growth = measure.peakMiB - measure.baselineMiB;
      rows.push(
        {
          scenario: `${label}: server RSS growth (VmHWM − baseline)`,
          pydepot: `${fmt(growth)} MiB (${fmt(measure.baselineMiB)} → ${fmt(measure.peakMiB)})${failed}`,
          nginx: "—",
          ratio: "—",
          target: `< 64 MiB ${growth < 64 ? "(met)" : "(missed)"}`,
        },
        { scenario: `${label}: throughput`, pydepot: `${fmt(measure.mibPerSecond)} MiB/s (${fmt(measure.seconds, 2)} s)${failed}`, nginx: "—", ratio: "—", target: "—" },
      );
    } finally {
      await server.stop();
      rmSync(storage, { recursive: true, force: true });
    }
  }
  rmSync(wheel.path);
  const notes = [
    "pydepot runs as `node dist/main.js serve` in its own process; the wheel (one stored member of random bytes) is streamed" +
      " from disk as twine sends it, after a small warm-up upload; the server's RSS is read from /proc (VmHWM reset just before).",
  ];
  return { notes, rows };
}

/** A small upload first, so the baseline is a server that has loaded and run its upload code. */
async function warmUpUpload(server: ServerProcess, token: string, work: string): Promise<void> {
  const spec = { project: "bench-warm-up", version: "1.0.0" };
  const bytes = await wheelBytes(spec);
  const file = path.join(work, wheelFilename(spec));
  writeFileSync(file, bytes);
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  const answer = await upload(server.url, token, { path: file, filename: wheelFilename(spec), ...spec, sha256, blake2b256: null });
  if (answer.status !== 200) throw new Error(`warm-up upload failed: ${answer.status} ${answer.body}`);
}

function populationRow(scenario: string, population: Population): Row {
  const rate = population.files / population.seconds;
  return { scenario, pydepot: `${fmt(population.seconds)} s (${fmt(rate, 0)} files/s)`, nginx: "—", ratio: "—", target: "—" };
}

function startupRows(label: string, servers: ServerProcess[]): Row[] {
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
  return [
    { scenario: `${label}: spawn → listening`, pydepot: `${fmt(median(servers.map((server) => server.listeningMs)), 0)} ms`, nginx: "—", ratio: "—", target: "—" },
    { scenario: `${label}: spawn → first GET /simple/ 200`, pydepot: `${fmt(median(servers.map((server) => server.firstPageMs)), 0)} ms`, nginx: "—", ratio: "—", target: "—" },
  ];
}
