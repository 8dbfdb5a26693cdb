// logins: what password guessing costs and reveals (issue 7). A wrong password for a known name
// against one for an unknown name (equal timing: both cost one scrypt), and the latency of a file
// download and of an index page while 64 clients guess passwords as fast as they can (the hashes
// run off the event loop, at most two at a time, so the thread pool stays free for file reads).
// The throttle is set out of the way here: this measures the hashing path, not the lockouts.
import { mkdirSync } from "node:fs";
import path from "node:path";
import { wheel } from "../support/artifacts.js";
import { uploadFile } from "../support/farm-api.js";
import { basicAuth } from "../support/server.js";
import { fmt, median, percentile } from "./machine.js";
import { createUploader, openServices } from "./populate.js";
import { verdict, type ScenarioResult } from "./report.js";
import { startServer } from "./server.js";

const SAMPLES = 40;
const FLOOD_CLIENTS = 64;
const FLOOD_MS = 5000;

export async function loginsScenario(work: string): Promise<ScenarioResult> {
  const storage = path.join(work, "storage");
  mkdirSync(storage, { recursive: true });
  const services = openServices(storage);
  const token = await createUploader(services);
  await services.accounts.createUser("alice", "correct horse battery", false, "bench");
  services.close();
  const server = await startServer(storage, { PYDEPOT_LOGINS_MAX_FAILURES_PER_USER: "100000000", PYDEPOT_LOGINS_MAX_FAILURES_PER_ADDRESS: "100000000" });
  try {
    const artifact = await wheel({ name: "download-me", version: "1.0" });
    const uploaded = await uploadFile(server.url, token, artifact);
    if (uploaded.status !== 200) throw new Error(`upload failed: ${uploaded.status} ${uploaded.statusText}`);
    const signIn = async (name: string) => timed(() => fetch(`${server.url}/simple/`, { headers: { Authorization: basicAuth(name, "wrong password") } }));
    const known: number[] = [];
    const unknown: number[] = [];
    for (let index = 0; index < SAMPLES; index++) {
      known.push(await signIn("alice"));
      unknown.push(await signIn(`nobody-${index}`));
    }
    const download = () => timed(() => fetch(`${server.url}/files/download-me/${artifact.filename}`));
    const page = () => timed(() => fetch(`${server.url}/simple/download-me/`));
    const quiet = { download: await series(download), page: await series(page) };
    let flooding = true;
    let guesses = 0;
    const flood = Array.from({ length: FLOOD_CLIENTS }, async (_, client) => {
      while (flooding) {
        await signIn(client % 2 ? "alice" : `guess-${client}`);
        guesses++;
      }
    });
    const started = performance.now();
    const busy = { download: await series(download, FLOOD_MS), page: await series(page) };
    flooding = false;
    await Promise.all(flood);
    const rate = guesses / ((performance.now() - started) / 1000);
    const spread = (values: number[]) => `median ${fmt(median(values), 1)} ms, p90 ${fmt(percentile(values, 0.9), 1)} ms`;
    const gap = Math.abs(median(known) - median(unknown));
    return {
      notes: [
        `Wrong passwords over HTTP (GET /simple/ with Basic auth), ${SAMPLES} each, alternating a known name and a new unknown one.`,
        `Flood: ${FLOOD_CLIENTS} clients sending wrong passwords back to back (half for a known name), throttle disabled; meanwhile downloads of a small wheel (GET /files/…) and index pages, one after another.`,
      ],
      rows: [
        { scenario: "wrong password, known name", result: spread(known), target: "" },
        { scenario: "wrong password, unknown name", result: spread(unknown), target: verdict("within 10% of the known name", gap <= 0.1 * median(known)) },
        { scenario: "download, quiet", result: spread(quiet.download), target: "" },
        { scenario: `download during the flood (${fmt(rate, 0)} guesses/s)`, result: spread(busy.download), target: verdict("median under 100 ms", median(busy.download) < 100) },
        { scenario: "index page, quiet", result: spread(quiet.page), target: "" },
        { scenario: "index page during the flood", result: spread(busy.page), target: verdict("median under 100 ms", median(busy.page) < 100) },
      ],
    };
  } finally {
    await server.stop();
  }
}

async function timed(request: () => Promise<Response>): Promise<number> {
  const started = performance.now();
  const response = await request();
  await response.arrayBuffer();
  return performance.now() - started;
}

/** Requests one after another: `SAMPLES` of them, or for `durationMs`. */
async function series(measure: () => Promise<number>, durationMs?: number): Promise<number[]> {
  const values: number[] = [];
  const until = durationMs === undefined ? Infinity : performance.now() + durationMs;
  while (durationMs === undefined ? values.length < SAMPLES : performance.now() < until) values.push(await measure());
  return values;
}
