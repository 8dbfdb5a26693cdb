// Enrolment secrets: reusable until they expire or reach their use limit, counted and shown in
// `agents list`, revocable; a registered agent name cannot be taken over by registering it again.
import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { expectOk } from "../support/commands.js";
import { pydepot } from "../support/farm.js";
import { AGENT_VERSION_HEADER, FakeAgent, request, TARGETS, type Reply } from "../support/farm-api.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { snapshot } from "../support/snapshot.js";
import { VERSION } from "../../src/version.js";

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});

afterAll(() => server?.stop());

const cli = (...args: string[]) => pydepot(args, server.storage);
const register = (name: string, secret: string): Promise<Reply> =>
  request(server.url, "/api/farm/register", { body: { name, version: VERSION, enrolment_secret: secret }, headers: { [AGENT_VERSION_HEADER]: VERSION } });

/** Every row and file, except when agents were last seen (each of their requests sets it). */
function state() {
  const current = snapshot(server.services.db, server.storage);
  for (const row of current.rows.agents as { last_seen_at: string }[]) row.last_seen_at = "(any)";
  return current;
}

async function expectRefused(send: () => Promise<Reply>, status: number, message: string): Promise<void> {
  const before = state();
  const reply = await send();
  expect({ status: reply.status, statusText: reply.statusText, body: reply.body }).toEqual({ status, statusText: message, body: `${message}\n` });
  expect(state()).toEqual(before);
}

/** `agents list` lines after the blank line: the enrolment secrets. */
async function enrolmentLines(): Promise<string[]> {
  return expectOk(await cli("agents", "list")).stdout.split("\n\n")[1].trimEnd().split("\n");
}

describe("enrolment secrets", () => {
  test("with nothing yet, `agents list` says so for both lists", async () => {
    expect(expectOk(await cli("agents", "list")).stdout).toBe("no agents registered\n\nno enrolment secrets\n");
  });

  test("`agents enrol` prints the secret alone on stdout; by default it registers any number of agents for 24 hours", async () => {
    const before = Date.now();
    const enrolled = expectOk(await cli("agents", "enrol", "--label", "rack 1"));
    const secret = enrolled.stdout.trim();
    expect(secret).toMatch(/^pydepot-enrol-[A-Za-z0-9_-]+$/);
    const [, id, state, uses, expires, label] = /^enrolment #(\d+)\t(\S+)\t(.+)\texpires (\S+)\t(.*)\n$/.exec(enrolled.stderr) ?? [];
    expect([id, state, uses, label]).toEqual([String(server.services.agents.enrolmentOf(secret).id), "active", "used 0 time(s)", "rack 1"]);
    const hoursLeft = (Date.parse(expires) - before) / 3600_000;
    expect(hoursLeft > 23.9 && hoursLeft <= 24.01, expires).toBe(true);

    for (const name of ["rack1-a", "rack1-b", "rack1-c"]) await FakeAgent.register(server.url, secret, name, [TARGETS.wheel311]);
    expect((await enrolmentLines()).find((line) => line.startsWith(`enrolment #${id}\t`))).toMatch(/\tactive\tused 3 time\(s\)\texpires \S+\track 1$/);
  });

  test("--uses N: the N+1st registration is refused with the reason, and nothing changes", async () => {
    const secret = expectOk(await cli("agents", "enrol", "--label", "two hosts", "--uses", "2")).stdout.trim();
    await FakeAgent.register(server.url, secret, "pair-a", [TARGETS.wheel311]);
    await FakeAgent.register(server.url, secret, "pair-b", [TARGETS.wheel311]);
    await expectRefused(() => register("pair-c", secret), 401, "This enrolment secret has registered its 2 agent(s) already: ask an admin for `pydepot agents enrol`");
    const { id } = server.services.agents.enrolmentOf(secret);
    expect((await enrolmentLines()).find((line) => line.startsWith(`enrolment #${id}\t`))).toMatch(/\tused up\tused 2 of 2\texpires \S+\ttwo hosts$/);
  });

  test("registering a name that is taken is refused: the agent keeps its token, the secret is not used up", async () => {
    const secret = server.services.agents.createEnrolment("takeover", "test");
    const owner = await FakeAgent.register(server.url, secret, "owned", [TARGETS.wheel311]);
    const registeredAt = server.services.stores.agents.byName("owned")!.registeredAt;
    await expectRefused(
      () => register("owned", secret),
      409,
      `An agent named owned is registered already (since ${registeredAt}): its token is in its --state-dir; if that is lost, revoke it (\`pydepot agents revoke owned\`) and register under a new name`,
    );
    expect((await owner.leaseReply()).status).toBe(204);
    expect(server.services.agents.enrolmentOf(secret)).toMatchObject({ uses: 1, state: "active" });
  });

  test("an expired secret is refused, saying when it expired", async () => {
    const secret = "pydepot-enrol-made-long-ago";
    const hash = createHash("sha256").update(secret).digest("hex");
    server.services.stores.agents.insertEnrolment(hash, "old", "2020-01-01T00:00:00.000Z", "2020-01-02T00:00:00.000Z", null);
    await expectRefused(() => register("late", secret), 401, "This enrolment secret expired at 2020-01-02T00:00:00.000Z: ask an admin for `pydepot agents enrol`");
    expect(server.services.agents.enrolmentOf(secret).state).toBe("expired");
  });

  test("`agents unenrol #N` revokes a secret: refused from then on; agents it registered keep working", async () => {
    const secret = expectOk(await cli("agents", "enrol", "--label", "leaked")).stdout.trim();
    const early = await FakeAgent.register(server.url, secret, "before-leak", [TARGETS.wheel311]);
    const { id } = server.services.agents.enrolmentOf(secret);
    expect(expectOk(await cli("agents", "unenrol", `#${id}`)).stdout).toBe(`enrolment secret #${id} revoked; agents it registered keep working\n`);
    await expectRefused(() => register("after-leak", secret), 401, "Unknown or revoked enrolment secret: ask an admin for `pydepot agents enrol`");
    expect((await early.leaseReply()).status).toBe(204);
    expect((await enrolmentLines()).find((line) => line.startsWith(`enrolment #${id}\t`))).toMatch(/\trevoked\tused 1 time\(s\)\trevoked \S+\tleaked$/);
  });

  test("bad limits are refused in one line", async () => {
    const zero = await cli("agents", "enrol", "--uses", "0");
    expect([zero.code, zero.stderr]).toEqual([1, "pydepot: option '--uses <count>' argument '0' is invalid. \"0\" is not a number above 0 (see --help)\n"]);
    const fraction = await cli("agents", "enrol", "--uses", "1.5");
    expect([fraction.code, fraction.stderr]).toEqual([1, "pydepot: The number of uses must be a whole number above 0, not 1.5\n"]);
  });
});
