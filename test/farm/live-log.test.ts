// A running build followed live: a real agent builds slow-build (it sleeps a few seconds between
// two lines of output) and a client follows GET /api/farm/jobs/<id>/events as a browser's
// EventSource would. The first line must arrive while the build still sleeps; the stream ends
// with the job's final status after its last line; a client that reconnects with Last-Event-ID
// gets the rest of the log and no line twice. Eggs with Python 2.7 only: the quickest builds.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Farm, FARM_TEST_TIMEOUT_MS } from "../support/farm.js";
import { openEventStream, streamedLines, streamedStatuses, type EventStream } from "../support/event-stream.js";
import { buildSdist } from "../support/packages.js";
import { sharedPython } from "../support/unprivileged.js";

const SLEEPING = "slow-build: sleeping";
const AWAKE = "slow-build: awake, building";

describe("a build's log, live", { timeout: FARM_TEST_TIMEOUT_MS }, () => {
  let farm: Farm;

  beforeAll(async () => {
    farm = await Farm.start();
    await farm.startAgent("builder", { pythons: [sharedPython("2.7")] });
  });

  afterAll(() => farm?.stop());

  /** Uploads slow-build VERSION; returns its job as soon as it exists (queued or already leased). */
  async function slowBuild(version: string) {
    await farm.upload(await buildSdist("slow-build", { version }));
    return farm.waitForJob(`the job of slow-build ${version}`, "slow-build", (job) => job.version === version);
  }

  const events = (jobId: number, headers: Record<string, string> = {}, query = "") => openEventStream(`${farm.url}/api/farm/jobs/${jobId}/events${query}`, headers);
  const lineWith = (text: string) => (stream: EventStream) => streamedLines(stream).find((line) => line.text.includes(text));

  test("lines arrive while the build runs, and the stream ends with the final status after the last line", async () => {
    const job = await slowBuild("1.0");
    const stream = await events(job.id);
    expect(stream.status).toBe(200);
    expect(stream.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    expect(stream.headers.get("cache-control")).toBe("no-store");

    await stream.until(`"${SLEEPING}"`, lineWith(SLEEPING));
    // The build is asleep: running, and its next line not written yet.
    const during = await farm.job(job.id);
    expect(during.job.status).toBe("leased");
    expect(during.log.some((line) => line.text.includes(AWAKE))).toBe(false);
    expect(streamedStatuses(stream)).toEqual(["leased"]);

    await stream.ended;
    const done = await farm.job(job.id);
    expect(done.job).toMatchObject({ status: "succeeded", reason: "built slow_build-1.0-py2.7.egg" });
    // Every line once, in order, with the ids the JSON route gives, each one its event's id.
    expect(streamedLines(stream)).toEqual(done.log);
    for (const event of stream.events) expect(event.id).toBe(event.type === "log" ? String(event.line.id) : undefined);
    const last = stream.events.at(-1)!;
    expect(last).toMatchObject({ type: "status", state: { status: "succeeded", reason: "built slow_build-1.0-py2.7.egg", agent: "builder", attempts: 1 } });
  });

  test("a client that comes back with Last-Event-ID gets the rest of the log, no line twice", async () => {
    const job = await slowBuild("2.0");
    const first = await events(job.id);
    const seen = await first.until(`"${SLEEPING}"`, lineWith(SLEEPING));
    first.close();
    const before = streamedLines(first);

    const second = await events(job.id, { "Last-Event-ID": String(seen.id) });
    await second.ended;
    const done = await farm.job(job.id);
    expect(done.job.status).toBe("succeeded");
    const after = streamedLines(second);
    expect(after.every((line) => line.id > seen.id)).toBe(true);
    expect(after.some((line) => line.text.includes(AWAKE))).toBe(true);
    expect([...before.filter((line) => line.id <= seen.id), ...after]).toEqual(done.log);
    expect(second.events.at(-1)).toMatchObject({ type: "status", state: { status: "succeeded" } });
  });

  test("a finished job: log_after starts after a line, and the stream ends at once with the final status", async () => {
    const [job] = await farm.jobs({ project: "slow-build" }).then((jobs) => jobs.filter((row) => row.version === "1.0"));
    const { log } = await farm.job(job.id);
    const middle = log[Math.floor(log.length / 2)];
    const stream = await events(job.id, {}, `?log_after=${middle.id}`);
    await stream.ended;
    expect(streamedLines(stream)).toEqual(log.filter((line) => line.id > middle.id));
    expect(streamedStatuses(stream)).toEqual(["succeeded"]);
    // Last-Event-ID, as EventSource sends it on reconnecting, wins over the query.
    const resumed = await events(job.id, { "Last-Event-ID": String(log.at(-1)!.id) }, `?log_after=${middle.id}`);
    await resumed.ended;
    expect(resumed.events.map((event) => event.type)).toEqual(["status"]);
  });
});
