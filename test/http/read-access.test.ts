// Read access has one owner, the services: every GET route of the HTTP API, walked from one table
// as anonymous, as a signed-in user without a role, as a reader and as a site admin, with
// anonymous reads off. Whoever may not read a project gets the very answer an unknown name gets.
// The table must name every GET route the app has, so a new route cannot be left out.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createHttpApp } from "../../src/http/server.js";
import { sdist, wheel } from "../support/artifacts.js";
import { FakeAgent, TARGETS } from "../support/farm-api.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { get, publish, tokenAuth } from "./requests.js";

type Who = "anonymous" | "stranger" | "reader" | "admin";
const EVERYONE: readonly Who[] = ["anonymous", "stranger", "reader", "admin"];
const BUILD_LOG = "SECRET-BUILD-LOG-LINE";
const WAIVER_REASON = "SECRET-WAIVER-REASON";
const SMOKE_CHECK = "import secret_pkg  # SECRET-SMOKE-CHECK";
const WHEEL = "secret_pkg-1.0-py3-none-any.whl";
/** The first job of a fresh server: the build of the sdist of secret-pkg 2.0 (1.0 has a wheel already). */
const SECRET_JOB = 1;
/** The first check of a fresh server: one of the secret wheel, queued through the check store. */
const SECRET_CHECK = 1;

interface Row {
  /** The Express route the request reaches. */
  route: string;
  path: string;
  /** Status per caller. */
  expect: Record<Who, number>;
  /** The reason phrase of a 404 (the same words as for a name that does not exist). */
  missing?: string;
  /** Text a 200 must hold for those who may read secret-pkg, and must never hold for the others. */
  secret?: string;
  /** An event stream that stays open while the job runs: read up to its first status event. */
  stream?: true;
}

let server: TestServer;
const auth: Partial<Record<Who, string>> = {};

beforeAll(async () => {
  server = await startTestServer({ access: { anonymous_read: false } });
  const alice = await server.userToken("alice");
  auth.stranger = tokenAuth(await server.userToken("carol"));
  auth.reader = tokenAuth(await server.userToken("dave"));
  auth.admin = tokenAuth(await server.userToken("root", { admin: true }));
  const secretWheel = await wheel({ name: "secret-pkg", version: "1.0" });
  expect(secretWheel.filename).toBe(WHEEL);
  await publish(server, alice, secretWheel, await sdist({ name: "secret-pkg", version: "2.0" }));
  server.services.accounts.grant("dave", "secret-pkg", "view", "test");
  const operator = { kind: "system", name: "test" } as const;
  server.services.waivers.add(operator, { project: "secret-pkg", module: "secret_pkg", reason: WAIVER_REASON });
  server.services.smokeChecks.set(operator, "secret-pkg", SMOKE_CHECK);
  const agent = await FakeAgent.register(server.url, server.services.agents.createEnrolment("test", "test"), "builder", [TARGETS.wheel311]);
  await server.services.planning.idle(); // the new target's jobs for the sdists stored before it
  const job = await agent.lease();
  if (job?.id !== SECRET_JOB || job.project !== "secret-pkg") throw new Error(`expected job ${SECRET_JOB} of secret-pkg, got ${JSON.stringify(job)}`);
  expect((await agent.log(job.id, [BUILD_LOG])).status).toBe(200);
  // No clean node runs here, so the check is queued directly: it waits, but its page exists.
  const check = server.services.stores.checks.insert(server.services.stores.files.byFilename(WHEEL)!.id, "manual", new Date().toISOString());
  if (check !== SECRET_CHECK) throw new Error(`expected check ${SECRET_CHECK}, got ${check}`);
});

afterAll(() => server?.stop());

const open = (status = 200): Record<Who, number> => ({ anonymous: 401, stranger: status, reader: status, admin: status });
const projectData = (): Record<Who, number> => ({ anonymous: 401, stranger: 404, reader: 200, admin: 200 });
const unknown = (): Record<Who, number> => ({ anonymous: 401, stranger: 404, reader: 404, admin: 404 });
/** The web UI sends anonymous visitors of a closed index to the sign-in form instead of a 401. */
const page = (statuses: Record<Who, number>): Record<Who, number> => ({ ...statuses, anonymous: statuses.anonymous === 401 ? 303 : statuses.anonymous });

const TABLE: Row[] = [
  { route: "/simple", path: `/simple`, expect: { anonymous: 301, stranger: 301, reader: 301, admin: 301 } },
  { route: "/simple/", path: `/simple/`, expect: open(), secret: "secret-pkg" },
  { route: "/simple/:project", path: `/simple/Secret_Pkg`, expect: { anonymous: 301, stranger: 301, reader: 301, admin: 301 } },
  { route: "/simple/:project/", path: `/simple/secret-pkg/`, expect: projectData(), missing: "No project named secret-pkg", secret: WHEEL },
  { route: "/simple/:project/", path: `/simple/no-such-pkg/`, expect: unknown(), missing: "No project named no-such-pkg" },
  { route: "/staging/simple", path: `/staging/simple`, expect: { anonymous: 301, stranger: 301, reader: 301, admin: 301 } },
  { route: "/staging/simple/", path: `/staging/simple/`, expect: open(), secret: "secret-pkg" },
  { route: "/staging/simple/:project", path: `/staging/simple/secret-pkg`, expect: { anonymous: 301, stranger: 301, reader: 301, admin: 301 } },
  { route: "/staging/simple/:project/", path: `/staging/simple/secret-pkg/`, expect: projectData(), missing: "No project named secret-pkg", secret: WHEEL },
  {
    route: "/files/:project/:filename",
    path: `/files/secret-pkg/${WHEEL}`,
    expect: projectData(),
    missing: `No file ${WHEEL} in project secret-pkg`,
  },
  {
    route: "/files/:project/:filename",
    path: `/files/secret-pkg/${WHEEL}.metadata`,
    expect: projectData(),
    missing: `No file ${WHEEL}.metadata in project secret-pkg`,
  },
  { route: "/files/:project/:filename", path: `/files/secret-pkg/secret_pkg-9.9.tar.gz`, expect: unknown(), missing: "No file secret_pkg-9.9.tar.gz in project secret-pkg" },
  { route: "/api/farm/agents", path: `/api/farm/agents`, expect: { anonymous: 401, stranger: 403, reader: 403, admin: 200 } },
  { route: "/api/farm/jobs", path: `/api/farm/jobs`, expect: open(), secret: "secret-pkg" },
  { route: "/api/farm/jobs", path: `/api/farm/jobs?project=secret-pkg`, expect: projectData(), missing: "No project named secret-pkg", secret: "secret-pkg" },
  { route: "/api/farm/jobs", path: `/api/farm/jobs?project=Secret_Pkg`, expect: projectData(), missing: "No project named secret-pkg", secret: "secret-pkg" },
  { route: "/api/farm/jobs", path: `/api/farm/jobs?project=no-such-pkg`, expect: unknown(), missing: "No project named no-such-pkg" },
  { route: "/api/farm/jobs/:id", path: `/api/farm/jobs/${SECRET_JOB}`, expect: projectData(), missing: `No job ${SECRET_JOB}`, secret: BUILD_LOG },
  { route: "/api/farm/jobs/:id", path: `/api/farm/jobs/999999`, expect: unknown(), missing: "No job 999999" },
  { route: "/api/farm/jobs/:id/events", path: `/api/farm/jobs/${SECRET_JOB}/events`, expect: projectData(), missing: `No job ${SECRET_JOB}`, secret: BUILD_LOG, stream: true },
  { route: "/api/farm/jobs/:id/events", path: `/api/farm/jobs/999999/events`, expect: unknown(), missing: "No job 999999", stream: true },
  {
    route: "/api/files/:filename/checks",
    path: `/api/files/${WHEEL}/checks`,
    expect: projectData(),
    missing: `No file ${WHEEL}`,
    secret: WHEEL,
  },
  { route: "/api/files/:filename/checks", path: `/api/files/secret_pkg-9.9-py3-none-any.whl/checks`, expect: unknown(), missing: "No file secret_pkg-9.9-py3-none-any.whl" },
  { route: "/api/nodes", path: `/api/nodes`, expect: open() },
  { route: "/api/projects/:project/waivers", path: `/api/projects/secret-pkg/waivers`, expect: projectData(), missing: "No project named secret-pkg", secret: WAIVER_REASON },
  { route: "/api/projects/:project/waivers", path: `/api/projects/no-such-pkg/waivers`, expect: unknown(), missing: "No project named no-such-pkg" },
  { route: "/api/projects/:project/smoke-check", path: `/api/projects/Secret_Pkg/smoke-check`, expect: projectData(), missing: "No project named Secret_Pkg", secret: "SECRET-SMOKE-CHECK" },
  { route: "/api/projects/:project/smoke-check", path: `/api/projects/no-such-pkg/smoke-check`, expect: unknown(), missing: "No project named no-such-pkg" },
  // Counts only, never a name: a load balancer has no token.
  { route: "/healthz", path: `/healthz`, expect: { anonymous: 200, stranger: 200, reader: 200, admin: 200 } },
  { route: "/metrics", path: `/metrics`, expect: open() },
  { route: "/ui", path: `/ui`, expect: { anonymous: 301, stranger: 301, reader: 301, admin: 301 } },
  { route: "/ui/", path: `/ui/`, expect: page(open()), secret: "secret-pkg" },
  { route: "/ui/", path: `/ui/?q=secret`, expect: page(open()), secret: "secret-pkg" },
  { route: "/ui/projects/:project", path: `/ui/projects/Secret_Pkg`, expect: page(projectData()), missing: "No project named Secret_Pkg", secret: WHEEL },
  { route: "/ui/projects/:project", path: `/ui/projects/no-such-pkg`, expect: page(unknown()), missing: "No project named no-such-pkg" },
  { route: "/ui/projects/:project/releases/:version", path: `/ui/projects/secret-pkg/releases/1.0`, expect: page(projectData()), missing: "No project named secret-pkg", secret: WHEEL },
  { route: "/ui/jobs/:id", path: `/ui/jobs/${SECRET_JOB}`, expect: page(projectData()), missing: `No job ${SECRET_JOB}`, secret: BUILD_LOG },
  { route: "/ui/jobs/:id", path: `/ui/jobs/999999`, expect: page(unknown()), missing: "No job 999999" },
  { route: "/ui/jobs/:id/events", path: `/ui/jobs/${SECRET_JOB}/events`, expect: page(projectData()), missing: `No job ${SECRET_JOB}`, secret: BUILD_LOG, stream: true },
  { route: "/ui/jobs/:id/events", path: `/ui/jobs/999999/events`, expect: page(unknown()), missing: "No job 999999", stream: true },
  { route: "/ui/checks/:id", path: `/ui/checks/${SECRET_CHECK}`, expect: page(projectData()), missing: `No check ${SECRET_CHECK}`, secret: WHEEL },
  { route: "/ui/checks/:id", path: `/ui/checks/999999`, expect: page(unknown()), missing: "No check 999999" },
  { route: "/ui/agents", path: `/ui/agents`, expect: { anonymous: 303, stranger: 403, reader: 403, admin: 200 } },
  { route: "/ui/nodes", path: `/ui/nodes`, expect: page(open()) },
  // What an anonymous visitor needs in order to sign in.
  { route: "/ui/sign-in", path: `/ui/sign-in`, expect: { anonymous: 200, stranger: 200, reader: 200, admin: 200 } },
  { route: "/ui/static/:asset", path: `/ui/static/style.css`, expect: { anonymous: 200, stranger: 200, reader: 200, admin: 200 } },
];

describe("every GET route, as anonymous, role-less user, reader and site admin (anonymous_read = false)", () => {
  test("the table names every GET route of the app", () => {
    const app = createHttpApp({
      ...server.services,
      uploadLimits: { maxBytes: 1, maxFields: 1, maxFieldBytes: 1 },
      longPollMs: 0,
      timeouts: { headersMs: 1000, requestMs: 1000, idleMs: 1000 },
      log: () => {},
    });
    const routes = new Set<string>();
    type Layer = { route?: { path: string; methods: Record<string, boolean> }; handle: { stack?: Layer[] } };
    const walk = (stack: Layer[]) => {
      for (const layer of stack) {
        if (layer.route?.methods.get) routes.add(layer.route.path);
        if (layer.handle.stack) walk(layer.handle.stack);
      }
    };
    walk((app as unknown as { router: { stack: Layer[] } }).router.stack);
    expect([...routes].sort()).toEqual([...new Set(TABLE.map((row) => row.route))].sort());
  });

  const cases = TABLE.flatMap((row) => EVERYONE.map((who) => [row.path, who, row] as const));
  test.each(cases)("GET %s as %s", async (_path, who, row) => {
    const answer = await (row.stream ? getStream : get)(`${server.url}${row.path}`, { accept: "text/html", auth: auth[who] });
    expect(answer.status, `${answer.statusText}\n${answer.body}`).toBe(row.expect[who]);
    if (answer.status === 401) {
      expect(answer.statusText).toMatch(/^This (index requires authentication|action needs credentials): use __token__ and an API token$/);
      expect(answer.headers.get("www-authenticate")).toMatch(/^Basic\b/);
    }
    if (answer.status === 303) expect(answer.headers.get("location")).toBe(`/ui/sign-in?next=${encodeURIComponent(row.path)}`);
    if (answer.status === 404 && row.route.startsWith("/ui")) {
      expect(answer.statusText).toBe(row.missing);
      expect(answer.body).toContain(`<p class="error" role="alert">${row.missing}</p>`);
    } else if (answer.status === 404) expect([answer.statusText, answer.body]).toEqual([row.missing, `${row.missing}\n`]);
    // Refusals are checked whole above; an answer that lists things must leave out what the caller may not read.
    if (row.secret !== undefined && answer.status === 200) expect(answer.body.includes(row.secret), answer.body).toBe(who === "reader" || who === "admin");
  });
});

/** An event stream's answer up to its first status event (which follows the log so far), then closed. */
async function getStream(url: string, options: { accept: string; auth?: string }) {
  const abort = new AbortController();
  const response = await fetch(url, { headers: { Accept: options.accept, ...(options.auth ? { Authorization: options.auth } : {}) }, signal: abort.signal, redirect: "manual" });
  let body = "";
  const decoder = new TextDecoder();
  for await (const chunk of response.body!) {
    body += decoder.decode(chunk as Uint8Array, { stream: true });
    if (response.status === 200 && body.includes("event: status")) break;
  }
  abort.abort();
  return { status: response.status, statusText: response.statusText, headers: response.headers, body };
}

describe("the admin API does not tell strangers which private projects exist", () => {
  const yank = (project: string, who: Who) =>
    fetch(`${server.url}/api/projects/${project}/releases/1.0/yank`, {
      method: "POST",
      headers: { "Content-Type": "application/json", ...(auth[who] ? { Authorization: auth[who]! } : {}) },
      body: "{}",
    });

  test.each<[string, Who, number, string]>([
    ["secret-pkg", "anonymous", 401, "This index requires authentication: use __token__ and an API token"],
    ["secret-pkg", "stranger", 404, "No project named secret-pkg"],
    ["no-such-pkg", "stranger", 404, "No project named no-such-pkg"],
    ["secret-pkg", "reader", 403, "dave is not an admin of project secret-pkg"],
  ])("yank in %s as %s → %i", async (project, who, status, reason) => {
    const answer = await yank(project, who);
    expect([answer.status, answer.statusText]).toEqual([status, reason]);
  });
});
