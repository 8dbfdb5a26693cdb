// The web UI over HTTP: every page rendered from real uploads, builds and jobs; sign-in,
// CSRF-checked actions through the API's own services, escaping of everything an upload or a
// build can put on a page, and 400s for ids that are not ids.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { sdist, wheel } from "../support/artifacts.js";
import { FakeAgent, TARGETS, TARGET_KEYS, type LeasedJobMessage } from "../support/farm-api.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { signIn, uiGet, uiPost, type UiSession } from "../support/ui-session.js";
import { publish } from "../http/requests.js";

const HOSTILE = `<script>alert("x")</script> & 'it'`;
const HOSTILE_ESCAPED = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;it&#39;";
const LOG_LINE = `<img src=x onerror=alert(1)> building`;

let server: TestServer;
let job: LeasedJobMessage;
let admin: UiSession;
let carol: UiSession;
let wheelSha256: string;

beforeAll(async () => {
  server = await startTestServer();
  const alice = await server.userToken("alice");
  await server.services.accounts.createUser("root", "root-password", true, "test");
  await server.services.accounts.createUser("carol", "carol-password", false, "test");
  const agent = await FakeAgent.register(server.url, server.services.agents.createEnrolment("test", "test"), "builder-1", [TARGETS.wheel311]);
  const built = await wheel({ name: "demo-pkg", version: "1.10" });
  await publish(server, alice, built, await sdist({ name: "demo-pkg", version: "1.10" }), await sdist({ name: "demo-pkg", version: "1.9" }));
  await publish(server, alice, await sdist({ name: "demo-pkg", version: "1.0rc1" }), await sdist({ name: "evil-pkg", version: "1.0", summary: HOSTILE }));
  wheelSha256 = server.services.stores.files.byFilename(built.filename)!.sha256;
  job = (await agent.lease())!;
  expect((await agent.log(job.id, [LOG_LINE])).status).toBe(200);
  admin = await signIn(server.url, "root", "root-password");
  carol = await signIn(server.url, "carol", "carol-password");
});

afterAll(() => server?.stop());

describe("pages", () => {
  test("home: search by name and by summary, recent uploads, the build running now; hostile text escaped", async () => {
    const bySummary = await uiGet(server.url, "/ui/?q=alert");
    expect(bySummary.status).toBe(200);
    expect(bySummary.headers.get("content-type")).toMatch(/^text\/html/);
    expect(bySummary.body).toContain(`<a href="/ui/projects/evil-pkg">evil-pkg</a>`);
    expect(bySummary.body).toContain(HOSTILE_ESCAPED);
    expect(bySummary.body).not.toContain("<script>alert");
    const byName = await uiGet(server.url, "/ui/?q=DEMO");
    expect(byName.body).toContain(`<a href="/ui/projects/demo-pkg">demo-pkg</a>`);
    expect(byName.body).not.toContain(`/ui/projects/evil-pkg"`);
    expect(byName.body).toContain("demo_pkg-1.0rc1.tar.gz");
    expect(byName.body).toContain(`<a href="/ui/jobs/${job.id}">#${job.id}</a>`);
    expect(byName.body).toContain(`<h2 id="running">Builds running now</h2>`);
  });

  test("project: versions newest first by PEP 440, each file's facts, install lines, pending builds", async () => {
    const page = await uiGet(server.url, "/ui/projects/Demo_Pkg");
    expect(page.status).toBe(200);
    const order = ["1.10", "1.9", "1.0rc1"].map((version) => page.body.indexOf(`<h2 id="release-${version.replace(/\./g, "-")}">${version}`));
    expect(order.every((position) => position > 0)).toBe(true);
    expect(order).toEqual([...order].sort((a, b) => a - b));
    expect(page.body).toContain(`<code>pip install demo-pkg==1.10 --index-url ${server.url}/simple/</code>`);
    expect(page.body).toContain(`<code>easy_install -i ${server.url}/simple/ demo-pkg==1.10</code>`);
    expect(page.body).toContain(`<code>${wheelSha256}</code>`);
    expect(page.body).toMatch(/demo_pkg-1\.10-py3-none-any\.whl<\/a><\/td>\s*<td>wheel<\/td><td>py3<\/td><td>any<\/td><td>[\d.]+ (B|KiB)<\/td>/);
    expect(page.body).toContain(`<span class="badge badge-unchecked">unchecked</span>`);
    expect(page.body).toContain(`<span class="badge badge-source">source</span>`);
    expect(page.body).toContain("build(s) pending");
    // Anonymous visitors are offered no action.
    expect(page.body).not.toContain("<form method=\"post\"");
  });

  test("release matrix: a row per target with its build state and a link to the job log", async () => {
    const page = await uiGet(server.url, `/ui/projects/${job.project}/releases/${job.version}`);
    expect(page.status).toBe(200);
    expect(page.body).toContain(`<th scope="row">${TARGET_KEYS.wheel311}</th><td>linux</td><td>x86_64</td><td>cpython 3.11`);
    expect(page.body).toContain(`<span class="badge badge-building">building</span> <a href="/ui/jobs/${job.id}">job #${job.id} log</a>`);
    const covered = await uiGet(server.url, "/ui/projects/demo-pkg/releases/1.10");
    expect(covered.body).toContain("covered by demo_pkg-1.10-py3-none-any.whl");
    expect((await uiGet(server.url, "/ui/projects/demo-pkg/releases/7.0")).status).toBe(404);
  });

  test("job page: its log, escaped", async () => {
    const page = await uiGet(server.url, `/ui/jobs/${job.id}`);
    expect(page.status).toBe(200);
    expect(page.body).toContain("&lt;img src=x onerror=alert(1)&gt; building");
    expect(page.body).not.toContain("<img");
    expect(page.body).toContain(`<span class="badge badge-leased">leased</span>`);
  });

  test.each([
    ["/ui/jobs/abc", 400, `Invalid job id "abc": job ids are whole numbers, as \`pydepot jobs\` lists them`],
    ["/ui/jobs/0", 400, `Invalid job id "0": job ids are whole numbers, as \`pydepot jobs\` lists them`],
    ["/ui/checks/1x", 400, `Invalid check id "1x": check ids are whole numbers, as \`pydepot checks FILE\` lists them`],
    ["/ui/jobs/99999", 404, "No job 99999"],
    ["/ui/checks/99999", 404, "No check 99999"],
    ["/ui/projects/no-such-pkg", 404, "No project named no-such-pkg"],
    ["/ui/projects/demo-pkg/releases/not%20a%20version", 400, `Invalid version "not a version": it is not a PEP 440 version`],
  ])("GET %s → %i as an HTML page with the reason", async (path, status, reason) => {
    const page = await uiGet(server.url, path);
    expect([page.status, page.statusText]).toEqual([status, reason]);
    expect(page.headers.get("content-type")).toMatch(/^text\/html/);
    expect(page.body).toContain(`<p class="error" role="alert">${reason.replace(/"/g, "&quot;")}</p>`);
  });

  test("agents (linked and shown to site admins only) and nodes", async () => {
    expect((await uiGet(server.url, "/ui/agents")).status).toBe(303);
    const agents = await uiGet(server.url, "/ui/agents", admin);
    expect(agents.status).toBe(200);
    expect(agents.body).toContain(`<a href="/ui/agents">Agents</a>`);
    for (const viewer of [carol, null]) expect((await uiGet(server.url, "/ui/nodes", viewer)).body).not.toContain(`href="/ui/agents"`);
    expect(agents.body).toContain(`<th scope="row">builder-1</th>`);
    expect(agents.body).toContain(`<span class="badge badge-online">online</span>`);
    expect(agents.body).toContain(`<a href="/ui/jobs/${job.id}">#${job.id}</a>`);
    expect((await uiGet(server.url, "/ui/agents", carol)).status).toBe(403);
    const nodes = await uiGet(server.url, "/ui/nodes");
    expect(nodes.body).toContain("No clean node is configured");
  });

  test("every page is self-contained: one stylesheet of ours, no other site, a strict CSP", async () => {
    for (const path of ["/ui/", "/ui/projects/demo-pkg", `/ui/jobs/${job.id}`, "/ui/sign-in"]) {
      const page = await uiGet(server.url, path);
      expect(page.body).not.toMatch(/(src|href|action)="(?!\/|#)/);
      expect(page.body).toContain(`<link rel="stylesheet" href="/ui/static/style.css">`);
      expect(page.body).toMatch(/<main id="main">/);
      expect(page.body).toContain(`<meta name="viewport" content="width=device-width, initial-scale=1">`);
      expect(page.headers.get("content-security-policy")).toContain("default-src 'self'");
    }
    const css = await uiGet(server.url, "/ui/static/style.css");
    expect([css.status, css.headers.get("content-type")]).toEqual([200, "text/css; charset=utf-8"]);
    expect(css.body).not.toMatch(/url\(|@import/);
  });
});

describe("signing in", () => {
  test("a wrong password comes back as the form with the reason and the name as typed", async () => {
    const answer = await uiPost(server.url, "/ui/sign-in", { username: "root", password: "wrong-password", next: "/ui/" });
    expect([answer.status, answer.statusText]).toEqual([401, `Invalid username or password for "root"`]);
    expect(answer.headers.get("set-cookie")).toBeNull();
    expect(answer.body).toContain(`<p class="error" role="alert" id="sign-in-error">Invalid username or password for &quot;root&quot;</p>`);
    expect(answer.body).toContain(`<input id="username" name="username" autocomplete="username" value="root">`);
  });

  test("an API token without a username signs in too; the cookie is HTTP-only, SameSite=Strict, for /ui only", async () => {
    const token = server.services.accounts.createToken("carol", "ui", "test").token;
    const answer = await uiPost(server.url, "/ui/sign-in", { username: "", password: token, next: "/ui/projects/demo-pkg" });
    expect([answer.status, answer.headers.get("location")]).toEqual([303, "/ui/projects/demo-pkg"]);
    const cookie = answer.headers.get("set-cookie")!;
    expect(cookie).toMatch(/^pydepot_session=pydepot-session-[\w-]+; Path=\/ui; Expires=.*; HttpOnly; SameSite=Strict$/);
    const page = await uiGet(server.url, "/ui/", { cookie: cookie.split(";")[0], csrf: "" });
    expect(page.body).toContain("Signed in as <strong>carol</strong>");
  });

  test("sign-in goes back only to a page of this UI", async () => {
    for (const next of ["https://elsewhere.example/", "//elsewhere.example/ui/", "/ui//elsewhere.example"]) {
      const answer = await uiPost(server.url, "/ui/sign-in", { username: "carol", password: "carol-password", next });
      expect([answer.status, answer.headers.get("location")]).toEqual([303, "/ui/"]);
    }
  });

  test("a sign-in form posted from another site is refused", async () => {
    const answer = await uiPost(server.url, "/ui/sign-in", { username: "root", password: "root-password" }, { origin: "http://evil.example" });
    expect(answer.status).toBe(403);
    expect(answer.headers.get("set-cookie")).toBeNull();
  });

  test("sign-out ends the session: its cookie and form token no longer work", async () => {
    const session = await signIn(server.url, "root", "root-password");
    const out = await uiPost(server.url, "/ui/sign-out", { csrf: session.csrf }, { session });
    expect([out.status, out.headers.get("location")]).toEqual([303, "/ui/"]);
    const page = await uiGet(server.url, "/ui/", session);
    expect(page.body).toContain(`<a class="account" href="/ui/sign-in">Sign in</a>`);
    const yank = await uiPost(server.url, "/ui/projects/demo-pkg/releases/1.9/yank", { csrf: session.csrf, reason: "late" }, { session });
    expect([yank.status, yank.headers.get("location")]).toEqual([303, "/ui/sign-in?next=%2Fui%2F"]);
    expect(server.services.stores.files.byFilename("demo_pkg-1.9.tar.gz")!.yanked).toBe(false);
  });

  test("a new password signs the user out everywhere; a revoked token ends the sessions it opened, and only those", async () => {
    await server.services.accounts.createUser("dave", "dave-password", false, "test");
    const signedIn = (session: UiSession) => uiGet(server.url, "/ui/", session).then((page) => page.body.includes("Signed in as <strong>dave</strong>"));
    const { id, token } = server.services.accounts.createToken("dave", "ui", "test");
    const byPassword = await signIn(server.url, "dave", "dave-password");
    const byToken = await signIn(server.url, "", token);
    const byOtherToken = await signIn(server.url, "", server.services.accounts.createToken("dave", "other", "test").token);
    server.services.accounts.revokeToken(id, "test");
    expect(await Promise.all([byPassword, byToken, byOtherToken].map(signedIn))).toEqual([true, false, true]);
    await server.services.accounts.setPassword("dave", "new-dave-password", "test");
    expect(await Promise.all([byPassword, byOtherToken].map(signedIn))).toEqual([false, false]);
    expect(await signedIn(await signIn(server.url, "dave", "new-dave-password"))).toBe(true);
  });
});

describe("actions", () => {
  const yanked = () => server.services.stores.files.byFilename("demo_pkg-1.9.tar.gz")!.yanked;

  test("a project admin sees yank and rebuild; a user without a role sees neither", async () => {
    const forAdmin = await uiGet(server.url, "/ui/projects/demo-pkg", admin);
    expect(forAdmin.body).toContain(`<form method="post" action="/ui/projects/demo-pkg/releases/1.9/yank">`);
    expect(forAdmin.body).toContain(`<button type="submit">Rebuild 1.9</button>`);
    const forCarol = await uiGet(server.url, "/ui/projects/demo-pkg", carol);
    expect(forCarol.body).not.toContain("/yank");
    expect(forCarol.body).not.toContain("Rebuild");
  });

  test.each([
    ["no CSRF token", {}, undefined, 403, "This form is stale or came from another site: reload the page and try again"],
    ["a wrong CSRF token", { csrf: "pydepot-csrf-forged" }, undefined, 403, "This form is stale or came from another site: reload the page and try again"],
    ["another site's Origin", null, "http://evil.example", 403, "Form posted from another site (Origin does not match this server): open the page here and try again"],
    ["no Origin", null, null, 403, "Form posted from another site (Origin does not match this server): open the page here and try again"],
  ])("a yank with %s is refused and changes nothing", async (_what, fields, origin, status, reason) => {
    const answer = await uiPost(server.url, "/ui/projects/demo-pkg/releases/1.9/yank", { reason: "x", ...(fields ?? { csrf: admin.csrf }) }, { session: admin, origin });
    expect([answer.status, answer.statusText]).toEqual([status, reason]);
    expect(yanked()).toBe(false);
  });

  test("a CSRF token as long as the session's in characters but not in bytes is refused like any wrong one", async () => {
    const answer = await uiPost(server.url, "/ui/projects/demo-pkg/releases/1.9/yank", { reason: "x", csrf: "é".repeat(admin.csrf.length) }, { session: admin });
    expect([answer.status, answer.statusText]).toEqual([403, "This form is stale or came from another site: reload the page and try again"]);
    expect(yanked()).toBe(false);
  });

  test("yank and unyank by a signed-in admin, the reason shown escaped; refused to a user without the role", async () => {
    const refused = await uiPost(server.url, "/ui/projects/demo-pkg/releases/1.9/yank", { csrf: carol.csrf, reason: "no" }, { session: carol });
    expect([refused.status, refused.statusText]).toEqual([403, "carol is not an admin of project demo-pkg"]);
    const done = await uiPost(server.url, "/ui/projects/demo-pkg/releases/1.9/yank", { csrf: admin.csrf, reason: HOSTILE }, { session: admin });
    expect([done.status, done.headers.get("location")]).toEqual([303, "/ui/projects/demo-pkg"]);
    expect(yanked()).toBe(true);
    const page = await uiGet(server.url, "/ui/projects/demo-pkg");
    expect(page.body).toContain(`<h2 id="release-1-9">1.9 <span class="badge badge-yanked">yanked</span></h2>`);
    expect(page.body).toContain(`Yanked: ${HOSTILE_ESCAPED}`);
    const undone = await uiPost(server.url, "/ui/projects/demo-pkg/releases/1.9/unyank", { csrf: admin.csrf }, { session: admin });
    expect(undone.status).toBe(303);
    expect(yanked()).toBe(false);
  });

  test("rebuild queues the release again, for site admins only", async () => {
    const refused = await uiPost(server.url, "/ui/projects/demo-pkg/releases/1.0rc1/rebuild", { csrf: carol.csrf }, { session: carol });
    expect([refused.status, refused.statusText]).toEqual([403, "carol is not a site admin"]);
    const done = await uiPost(server.url, "/ui/projects/demo-pkg/releases/1.0rc1/rebuild", { csrf: admin.csrf }, { session: admin });
    expect([done.status, done.headers.get("location")]).toEqual([303, "/ui/projects/demo-pkg/releases/1.0rc1"]);
    const history = server.services.stores.jobs.list({ project: undefined, status: undefined, target: undefined }, "all").filter((row) => row.version === "1.0rc1");
    expect(history.map((row) => [row.status, row.reason])).toContainEqual(["queued", "queued again by an admin"]);
  });

  test("waive records the admin's waiver, shown on the release page; a waiver needs a reason", async () => {
    const missing = await uiPost(server.url, "/ui/projects/demo-pkg/releases/1.10/waive", { csrf: admin.csrf, module: "", python: "", reason: "" }, { session: admin });
    expect([missing.status, missing.statusText]).toEqual([400, "A waiver needs a reason: say why the failure is acceptable"]);
    const done = await uiPost(server.url, "/ui/projects/demo-pkg/releases/1.10/waive", { csrf: admin.csrf, module: "demo_pkg.speedups", python: "3.11", reason: "optional speedups" }, { session: admin });
    expect([done.status, done.headers.get("location")]).toEqual([303, "/ui/projects/demo-pkg/releases/1.10"]);
    const page = await uiGet(server.url, "/ui/projects/demo-pkg/releases/1.10", admin);
    expect(page.body).toContain("demo-pkg 1.10, module demo_pkg.speedups, Python 3.11: optional speedups (by root)");
  });

  test("re-check goes through the checker's own rule: with no clean node it says so", async () => {
    const answer = await uiPost(server.url, "/ui/files/demo_pkg-1.10-py3-none-any.whl/recheck", { csrf: admin.csrf }, { session: admin });
    expect(answer.status).toBe(409);
    expect(answer.statusText).toMatch(/^No clean nodes are configured/);
  });
});
