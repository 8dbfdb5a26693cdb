// Downloads side by side with nginx serving the very same files: a small wheel under wrk (16
// connections, as in issue 9's measurement) and one large wheel fetched whole by curl.
import { execFile } from "node:child_process";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import type { IndexResult, Tools } from "./index.js";
import { fmt, log } from "./machine.js";
import { startNginx } from "./nginx.js";
import { createUploader, openServices, plan, populateByIngest } from "./populate.js";
import type { Row } from "./report.js";
import { startServer } from "./server.js";
import { upload } from "./upload.js";
import { wheelFilename, writeBigWheel } from "./wheels.js";
import { runWrk, type LoadOptions } from "./wrk.js";

const run = promisify(execFile);

const LARGE_BYTES = 512 * 1024 ** 2;
const LARGE_FETCHES = 3;
const load: LoadOptions = { threads: 1, connections: 16, seconds: Number(process.env.BENCH_SECONDS ?? 10) };

export async function downloadsScenario(tools: Tools, work: string): Promise<IndexResult> {
  mkdirSync(work, { recursive: true });
  const storage = path.join(work, "storage");
  const [small] = plan(1, 1);
  const services = openServices(storage);
  const token = await (async () => {
    try {
      await populateByIngest(services, [small]);
      return await createUploader(services);
    } finally {
      services.close();
    }
  })();
  const big = { project: "bench-large", version: "1.0.0" };
  log(`downloads: writing a ${LARGE_BYTES / 1024 ** 2} MiB wheel`);
  const wheel = await writeBigWheel(path.join(work, wheelFilename(big)), big, LARGE_BYTES, false);
  const server = await startServer(storage);
  try {
    const uploaded = await upload(server.url, token, { ...wheel, ...big, blake2b256: null });
    if (uploaded.status !== 200) throw new Error(`upload of the large wheel: ${uploaded.status} ${uploaded.body}`);
    const smallPath = `/files/${small.project}/${wheelFilename(small)}`;
    const largePath = `/files/${big.project}/${wheel.filename}`;
    const smallBody = Buffer.from(await (await fetch(`${server.url}${smallPath}`)).arrayBuffer());
    const nginx = await startNginx(
      tools.nginx,
      [
        { urlPath: smallPath, body: smallBody },
        { urlPath: largePath, body: { file: path.join(storage, "files", big.project, wheel.filename) } },
      ],
      work,
    );
    try {
      const rows: Row[] = [];
      log(`downloads: ${smallBody.length} B wheel, wrk -t${load.threads} -c${load.connections} -d${load.seconds}s`);
      await runWrk(tools.wrk, `${server.url}${smallPath}`, { ...load, seconds: 2 });
      const ours = await runWrk(tools.wrk, `${server.url}${smallPath}`, load).finally(() => server.assertAlive());
      const theirs = await runWrk(tools.wrk, `${nginx.url}${smallPath}`, load);
      const ratio = ours.requestsPerSecond / theirs.requestsPerSecond;
      rows.push(
        {
          scenario: `download of a ${fmt(smallBody.length / 1024)} KiB wheel, 16 connections: requests/s`,
          pydepot: fmt(ours.requestsPerSecond, 0) + (ours.errors ? ` (${ours.errors})` : ""),
          nginx: fmt(theirs.requestsPerSecond, 0) + (theirs.errors ? ` (${theirs.errors})` : ""),
          ratio: fmt(ratio, 2),
          target: `≥ 0.25 ${ratio >= 0.25 ? "(met)" : "(missed)"}`,
        },
        {
          scenario: `download of a ${fmt(smallBody.length / 1024)} KiB wheel: p99 latency (p50)`,
          pydepot: `${fmt(ours.p99Ms, 2)} ms (${fmt(ours.p50Ms, 2)})`,
          nginx: `${fmt(theirs.p99Ms, 2)} ms (${fmt(theirs.p50Ms, 2)})`,
          ratio: fmt(ours.p99Ms / theirs.p99Ms, 2),
          target: "—",
        },
      );
      const oursLarge = await bestThroughput(`${server.url}${largePath}`);
      const theirsLarge = await bestThroughput(`${nginx.url}${largePath}`);
      const gbps = oursLarge / 1e9;
      rows.push({
        scenario: `one ${LARGE_BYTES / 1024 ** 2} MiB wheel, one connection (best of ${LARGE_FETCHES}): throughput`,
        pydepot: `${fmt(gbps, 2)} GB/s`,
        nginx: `${fmt(theirsLarge / 1e9, 2)} GB/s`,
        ratio: fmt(oursLarge / theirsLarge, 2),
        target: `≥ 1 GB/s ${gbps >= 1 ? "(met)" : "(missed)"}`,
      });
      const notes = [
        `Small: \`wrk -t${load.threads} -c${load.connections} -d${load.seconds}s --latency\` on 127.0.0.1 after a 2 s warm-up; large: \`curl -o /dev/null\`, the best of ${LARGE_FETCHES}.`,
        "pydepot runs as `node dist/main.js serve` (no nginx: the `npm start` default); nginx serves the same files (hard links) as static files.",
      ];
      return { notes, rows };
    } finally {
      await nginx.stop();
    }
  } finally {
    await server.stop();
  }
}

/** Bytes per second of the best of a few whole-file fetches by curl into /dev/null. */
async function bestThroughput(url: string): Promise<number> {
  let best = 0;
  for (let attempt = 0; attempt < LARGE_FETCHES; attempt++) {
    const { stdout } = await run("curl", ["-sS", "-o", "/dev/null", "-w", "%{http_code} %{speed_download}", url]);
    const [status, speed] = stdout.trim().split(" ");
    if (status !== "200") throw new Error(`curl ${url}: HTTP ${status}`);
    best = Math.max(best, Number(speed));
  }
  return best;
}
