// A build that prints more at once than one log request may carry, with a real server, a real
// agent and a real build: log-flood prints 30,000 lines in one write (the server takes at most
// 10,000 a request) and then a 20 MiB line (its body takes at most 4 MB). The agent sends them in
// batches the server takes, cuts the long line into lines of 16 KiB as it reads it, and keeps
// its lease all along: the build succeeds with every line in its log, and the agent builds on.
// One attempt per job: a lease that expired (heartbeats refused) fails the job at once.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { MAX_LOG_LINE_CHARS } from "../../src/core/farm.js";
import { Farm, FARM_TEST_TIMEOUT_MS } from "../support/farm.js";
import { buildSdist } from "../support/packages.js";
import { sharedPython } from "../support/unprivileged.js";

const LINES = 30_000;
const LONG_LINE_CHARS = 20 * 1024 * 1024;

describe("a build that floods its log", { timeout: FARM_TEST_TIMEOUT_MS }, () => {
  let farm: Farm;

  beforeAll(async () => {
    farm = await Farm.start({ max_attempts: 1 });
    await farm.startAgent("flooded", { pythons: [sharedPython("2.7")] });
  });

  afterAll(() => farm?.stop());

  test("30,000 lines at once and a 20 MiB line: all in the log, the long line cut at 16 KiB, the build succeeds and the agent builds on", async () => {
    await farm.upload(await buildSdist("log-flood"));
    const [job] = await farm.settled("log-flood", 1);
    const texts = (await farm.job(job.id)).log.map((line) => line.text);
    const agent = farm.agents.get("flooded")!;
    expect(job, agent.output()).toMatchObject({ status: "succeeded", reason: "built log_flood-1.0-py2.7.egg" });

    // Every short line once, in order.
    const numbered = texts.filter((text) => text.startsWith("log-flood: line "));
    expect(numbered.length).toBe(LINES);
    expect(numbered.every((text, index) => text === `log-flood: line ${index + 1} of ${LINES}`)).toBe(true);
    // The long line as whole lines of 16 KiB, nothing lost, and nothing cut by the server.
    const pieces = texts.filter((text) => text.startsWith("aaaa"));
    expect(pieces.length).toBe(LONG_LINE_CHARS / MAX_LOG_LINE_CHARS);
    expect(pieces.every((text) => text.length === MAX_LOG_LINE_CHARS && /^a+$/.test(text))).toBe(true);
    expect(texts).toContain("log-flood: long line done");
    expect(texts.filter((text) => text.includes("[line cut at") || text.includes("reached its limit"))).toEqual([]);
    expect(agent.output()).not.toContain("dropped");

    expect(agent.process.exitCode).toBeNull();
    await farm.upload(await buildSdist("demo-pkg", { version: "8.0" }));
    const [next] = await farm.settled("demo-pkg", 1);
    expect(next, await farm.describe("demo-pkg")).toMatchObject({ status: "succeeded", agent: "flooded" });
  });
});
