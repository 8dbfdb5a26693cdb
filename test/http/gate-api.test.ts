// The gate's JSON API: a project's waivers and smoke check. Readers of the project see them,
// project admins change them (recorded with who did it), and a degraded waiver lets a held farm
// build onto /simple/. A real server over HTTP and a scripted agent whose wheel is platform-tagged
// with no compiled code inside (held as degraded).
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { sdist, wheel } from "../support/artifacts.js";
import { FakeAgent, TARGETS } from "../support/farm-api.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { anchors, api, expectRefused, get, publish, tokenAuth, type Reply } from "./requests.js";

const HELD = "gated_pkg-1.0-cp311-cp311-linux_x86_64.whl";
const HOLD_REASON = "degraded: the file is tagged for platform linux_x86_64 but holds no compiled module";

let server: TestServer;
const tokens: Record<string, string> = {};

beforeAll(async () => {
  server = await startTestServer();
  tokens.alice = await server.userToken("alice");
  tokens.bob = await server.userToken("bob");
  tokens.dave = await server.userToken("dave");
  await publish(server, tokens.alice, await sdist({ name: "gated-pkg", version: "1.0" }));
  server.services.accounts.grant("dave", "gated-pkg", "view", "test");
  const agent = await FakeAgent.register(server.url, server.services.agents.createEnrolment("test", "test"), "builder", [TARGETS.wheel311]);
  const job = await agent.lease(10); // its job is planned in the background, for a target new to the server
  if (job?.project !== "gated-pkg") throw new Error(`expected the job of gated-pkg, got ${JSON.stringify(job)}`);
  const built = await wheel({ name: "gated-pkg", version: "1.0", tags: "cp311-cp311-linux_x86_64" });
  const answer = await agent.result(job.id, { status: "succeeded" }, [built]);
  if (answer.status !== 200) throw new Error(`result refused: ${answer.status} ${answer.statusText}`);
  expect(server.services.stores.files.byFilename(HELD)?.holdReason).toBe(HOLD_REASON);
});

afterAll(() => server?.stop());

const as = (who: string | undefined) => (who ? tokenAuth(tokens[who]) : undefined);
const listedOnSimple = async () => anchors((await get(`${server.index}gated-pkg/`, { accept: "text/html" })).body).map((anchor) => anchor.text);
const history = () => server.services.stores.history.forProject("gated-pkg");
const json = (answer: Reply) => JSON.parse(answer.body);

describe("refusals say why and change nothing", () => {
  const anonymous = "This action needs credentials: use __token__ and an API token";
  const notAdmin = "bob is not an admin of project gated-pkg";
  const readerNotAdmin = "dave is not an admin of project gated-pkg";
  test.each<[string, "POST" | "PUT" | "DELETE", string, string | undefined, unknown, number, string]>([
    ["anonymous waiver", "POST", "/api/projects/gated-pkg/waivers", undefined, { reason: "fine" }, 401, anonymous],
    ["anonymous revoke", "POST", "/api/projects/gated-pkg/waivers/1/revoke", undefined, undefined, 401, anonymous],
    ["anonymous smoke check", "PUT", "/api/projects/gated-pkg/smoke-check", undefined, { code: "import gated_pkg" }, 401, anonymous],
    ["anonymous smoke check removal", "DELETE", "/api/projects/gated-pkg/smoke-check", undefined, undefined, 401, anonymous],
    ["waiver by a user with no role", "POST", "/api/projects/gated-pkg/waivers", "bob", { reason: "fine" }, 403, notAdmin],
    ["waiver by a reader", "POST", "/api/projects/gated-pkg/waivers", "dave", { reason: "fine" }, 403, readerNotAdmin],
    ["revoke by a user with no role", "POST", "/api/projects/gated-pkg/waivers/1/revoke", "bob", undefined, 403, notAdmin],
    ["smoke check by a user with no role", "PUT", "/api/projects/gated-pkg/smoke-check", "bob", { code: "import gated_pkg" }, 403, notAdmin],
    ["smoke check removal by a reader", "DELETE", "/api/projects/gated-pkg/smoke-check", "dave", undefined, 403, readerNotAdmin],
    ["waiver in an unknown project", "POST", "/api/projects/nobody/waivers", "alice", { reason: "fine" }, 404, "No project named nobody"],
    ["revoke of an unknown waiver", "POST", "/api/projects/gated-pkg/waivers/99/revoke", "alice", undefined, 404, "No waiver #99 in project gated-pkg"],
    ["revoke of a waiver id that is no number", "POST", "/api/projects/gated-pkg/waivers/one/revoke", "alice", undefined, 400, 'Invalid waiver id "one": waiver ids are whole numbers'],
    ["removal of a smoke check there is none of", "DELETE", "/api/projects/gated-pkg/smoke-check", "alice", undefined, 404, "Project gated-pkg has no smoke check"],
    ["waiver without a reason", "POST", "/api/projects/gated-pkg/waivers", "alice", { degraded: true }, 400, "A waiver needs a reason: say why the failure is acceptable"],
    ["waiver with a blank reason", "POST", "/api/projects/gated-pkg/waivers", "alice", { reason: "  " }, 400, "A waiver needs a reason: say why the failure is acceptable"],
    ["waiver with a misspelt field", "POST", "/api/projects/gated-pkg/waivers", "alice", { reason: "fine", modul: "x" }, 400, 'Unknown field "modul": a waiver takes version, module, python, degraded, reason'],
    ["waiver whose degraded is a string", "POST", "/api/projects/gated-pkg/waivers", "alice", { reason: "fine", degraded: "yes" }, 400, "degraded must be true or false"],
    ["waiver whose python is a number", "POST", "/api/projects/gated-pkg/waivers", "alice", { reason: "fine", python: 3.11 }, 400, "python must be a string"],
    ["waiver for no Python version", "POST", "/api/projects/gated-pkg/waivers", "alice", { reason: "fine", python: "3" }, 400, 'Python "3" is not a Python version such as 2.7 or 3.11'],
    ["waiver for no module name", "POST", "/api/projects/gated-pkg/waivers", "alice", { reason: "fine", module: "a-b" }, 400, 'Module "a-b" is not a module name such as attrs or PIL._imaging'],
    ["waiver for no version", "POST", "/api/projects/gated-pkg/waivers", "alice", { reason: "fine", version: "banana" }, 400, 'Invalid version "banana"'],
    ["waiver that is a list", "POST", "/api/projects/gated-pkg/waivers", "alice", ["fine"], 400, 'Send JSON {"reason": "..."} with optional version, module, python and degraded'],
    ["smoke check without code", "PUT", "/api/projects/gated-pkg/smoke-check", "alice", { script: "import gated_pkg" }, 400, 'Send JSON {"code": "PYTHON"}: the smoke check to run after the imports'],
    ["empty smoke check", "PUT", "/api/projects/gated-pkg/smoke-check", "alice", { code: " " }, 400, "The smoke check is empty"],
  ])("%s → %s %s", async (_title, method, path, who, body, status, reason) => {
    await expectRefused(server, () => api(server, method, path, { auth: as(who), body }), status, reason);
  });
});

describe("waivers", () => {
  test("a reader lists them (none yet); the held build is on staging only", async () => {
    const answer = await get(`${server.url}/api/projects/gated-pkg/waivers`, { auth: as("dave") });
    expect([answer.status, json(answer)]).toEqual([200, { project: "gated-pkg", waivers: [] }]);
    expect(await listedOnSimple()).toEqual(["gated_pkg-1.0.tar.gz"]);
  });

  test("the project admin's degraded waiver for Python 3.11 lists the held file on /simple/, recorded as theirs", async () => {
    const answer = await api(server, "POST", "/api/projects/Gated_Pkg/waivers", {
      auth: as("alice"),
      body: { version: "1.0", python: "3.11", degraded: true, reason: "the pure-Python fallback is fast enough" },
    });
    expect(answer.status, answer.statusText).toBe(200);
    expect(json(answer).waiver).toMatchObject({ id: 1, project: "gated-pkg", version: "1.0", module: null, python: "3.11", degraded: true, createdBy: "alice", revokedAt: null });
    expect(await listedOnSimple()).toEqual([HELD, "gated_pkg-1.0.tar.gz"]);
    expect(server.services.stores.files.byFilename(HELD)?.holdReason).toBe("");
    expect(history().map((event) => [event.actor, event.action, event.subject])).toEqual(
      expect.arrayContaining([
        ["alice", "waiver.add", "waiver #1"],
        ["alice", "file.hold-released", HELD],
      ]),
    );
  });

  test("a reader sees the waiver with who gave it", async () => {
    const answer = await get(`${server.url}/api/projects/gated-pkg/waivers`, { auth: as("dave") });
    expect(json(answer).waivers.map((waiver: { id: number; createdBy: string; reason: string }) => [waiver.id, waiver.createdBy, waiver.reason])).toEqual([
      [1, "alice", "the pure-Python fallback is fast enough"],
    ]);
  });

  test("the admin revokes it, recorded as theirs; revoking it again is a conflict", async () => {
    const answer = await api(server, "POST", "/api/projects/gated-pkg/waivers/%231/revoke", { auth: as("alice") });
    expect(answer.status, answer.statusText).toBe(200);
    expect(json(answer).waiver).toMatchObject({ id: 1, revokedBy: "alice" });
    expect(history().at(-1)).toMatchObject({ actor: "alice", action: "waiver.revoke", subject: "waiver #1" });
    await expectRefused(server, () => api(server, "POST", "/api/projects/gated-pkg/waivers/1/revoke", { auth: as("alice") }), 409, "Waiver #1 was revoked already, by alice at");
  });

  test("a waiver is revoked only through its own project", async () => {
    await publish(server, tokens.bob, await sdist({ name: "bobs-pkg", version: "1.0" }));
    await expectRefused(server, () => api(server, "POST", "/api/projects/bobs-pkg/waivers/1/revoke", { auth: as("bob") }), 404, "No waiver #1 in project bobs-pkg");
  });
});

describe("the smoke check", () => {
  const smokeCheck = async (who: string) => json(await get(`${server.url}/api/projects/gated-pkg/smoke-check`, { auth: as(who) }));

  test("none at first; the admin sets it, recorded as theirs; a reader sees it", async () => {
    expect(await smokeCheck("dave")).toEqual({ project: "gated-pkg", smokeCheck: null });
    const answer = await api(server, "PUT", "/api/projects/gated-pkg/smoke-check", { auth: as("alice"), body: { code: "import gated_pkg" } });
    expect(answer.status, answer.statusText).toBe(200);
    expect(json(answer).smokeCheck).toMatchObject({ project: "gated-pkg", code: "import gated_pkg", setBy: "alice" });
    expect((await smokeCheck("dave")).smokeCheck).toMatchObject({ code: "import gated_pkg", setBy: "alice" });
    expect(history().at(-1)).toMatchObject({ actor: "alice", action: "smoke.set", detail: "import gated_pkg" });
  });

  test("the admin removes it, recorded as theirs", async () => {
    const answer = await api(server, "DELETE", "/api/projects/gated-pkg/smoke-check", { auth: as("alice") });
    expect([answer.status, json(answer)]).toEqual([200, { project: "gated-pkg", smokeCheck: null }]);
    expect(await smokeCheck("dave")).toEqual({ project: "gated-pkg", smokeCheck: null });
    expect(history().at(-1)).toMatchObject({ actor: "alice", action: "smoke.clear" });
  });
});
