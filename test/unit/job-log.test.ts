import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { FarmClient } from "../../src/agent/client.js";
import { JobLog } from "../../src/agent/job-log.js";
import type { LeasedJobMessage } from "../../src/agent/messages.js";
import type { LogLine } from "../../src/core/farm.js";

// The server here is a plain HTTP listener that records what arrives: the point is what the
// agent holds while no server answers at all, and what it sends once one does. The real server's
// own log budget (which also cuts a log) is tested in test/farm/log-flood.test.ts.

const job = { id: 7, leaseSecret: "lease-secret" } as LeasedJobMessage;
const servers: http.Server[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => new Promise((done) => server.close(done))));
});

/** A listener that hands each batch to `onLines` and answers with the status it returns. */
function listen(port = 0, onLines: (lines: LogLine[]) => number | void = () => {}): Promise<number> {
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const status = onLines((JSON.parse(Buffer.concat(chunks).toString()) as { lines: LogLine[] }).lines);
      response.writeHead(status ?? 204).end();
    });
  });
  servers.push(server);
  return new Promise((done) => server.listen(port, "127.0.0.1", () => done((server.address() as AddressInfo).port)));
}

async function closedPort(): Promise<number> {
  const port = await listen();
  await new Promise((done) => servers.pop()!.close(done));
  return port;
}

describe("an agent's job log", () => {
  it("drops a batch the server refuses (not a 409), says so in the agent's log, and sends the next one", async () => {
    const received: string[][] = [];
    const port = await listen(0, (lines) => {
      received.push(lines.map((line) => line.text));
      return received.length === 1 ? 400 : 204;
    });
    const agentLog: string[] = [];
    const jobLog = new JobLog(new FarmClient(`http://127.0.0.1:${port}`, "agent-token"), job, () => {}, (line) => agentLog.push(line));
    jobLog.add("stdout", "refused");
    await jobLog.send();
    jobLog.add("stdout", "taken");
    await jobLog.send();

    expect(received).toEqual([["refused"], ["taken"]]);
    expect(agentLog).toEqual(["job 7: dropped 1 log line(s) the server refused (POST /api/farm/jobs/7/log: 400 Bad Request)"]);
  });

  it("ends the build when the server took the job back (409)", async () => {
    const port = await listen(0, () => 409);
    let takenBack = false;
    const jobLog = new JobLog(new FarmClient(`http://127.0.0.1:${port}`, "agent-token"), job, () => (takenBack = true), () => {});
    jobLog.add("stdout", "line");
    await jobLog.send();
    expect(takenBack).toBe(true);
  });

  it("holds a bounded amount while the server cannot be reached, says where it dropped lines, and sends the rest once the server answers", async () => {
    const port = await closedPort();
    const agentLog: string[] = [];
    const jobLog = new JobLog(new FarmClient(`http://127.0.0.1:${port}`, "agent-token"), job, () => {}, (line) => agentLog.push(line));
    const printed = 100_000;
    const text = "x".repeat(1_000);
    for (let index = 0; index < printed; index++) jobLog.add("stdout", `${index} ${text}`);

    await expect(jobLog.send()).rejects.toThrow();

    const received: LogLine[] = [];
    await listen(port, (lines) => {
      received.push(...lines);
    });
    await jobLog.send();
    jobLog.add("stdout", "after the outage");
    await jobLog.send();

    const marker = received.findIndex((line) => line.stream === "agent");
    expect(marker).toBeGreaterThan(50_000);
    expect(received[marker].text).toMatch(/held 67108864 bytes of output for this job while the server could not be reached: lines are dropped here/);
    expect(received.slice(0, marker).map((line) => line.text.split(" ")[0])).toEqual(Array.from({ length: marker }, (_, index) => String(index)));
    expect(received.length).toBeLessThan(printed);
    expect(received.at(-1)!.text).toBe("after the outage");
    expect(received.filter((line) => line.stream === "agent")).toHaveLength(1);
    expect(agentLog).toEqual([]);
  });
});
