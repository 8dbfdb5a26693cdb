// With anonymous reads off the web UI hides everything from anonymous visitors: every page sends
// them to the sign-in form, which brings them back to the page they asked for, showing only what
// their account may read.
import { afterAll, beforeAll, expect, test } from "vitest";
import { parseProjectName } from "../../src/core/names.js";
import { sdist } from "../support/artifacts.js";
import { FakeAgent, TARGETS } from "../support/farm-api.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { signIn, uiGet, uiPost } from "../support/ui-session.js";
import { publish } from "../http/requests.js";

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({ access: { anonymous_read: false } });
  const alice = await server.userToken("alice");
  await FakeAgent.register(server.url, server.services.agents.createEnrolment("test", "test"), "builder", [TARGETS.wheel311]);
  await publish(server, alice, await sdist({ name: "private-pkg", version: "1.0" }), await sdist({ name: "other-pkg", version: "2.0" }));
  await server.services.accounts.createUser("dave", "dave-password", false, "test");
  server.services.accounts.grant("dave", "private-pkg", "view", "test");
});

afterAll(() => server?.stop());

test("an anonymous visitor is sent to sign in and, signed in, back to the page, seeing only what the account may read", async () => {
  const anonymous = await uiGet(server.url, "/ui/projects/private-pkg");
  expect([anonymous.status, anonymous.headers.get("location")]).toEqual([303, "/ui/sign-in?next=%2Fui%2Fprojects%2Fprivate-pkg"]);
  expect(anonymous.body).not.toContain("private-pkg 1.0");
  const form = await uiGet(server.url, anonymous.headers.get("location")!);
  expect(form.status).toBe(200);
  expect(form.body).toContain(`<input type="hidden" name="next" value="/ui/projects/private-pkg">`);
  const answer = await uiPost(server.url, "/ui/sign-in", { username: "dave", password: "dave-password", next: "/ui/projects/private-pkg" });
  expect([answer.status, answer.headers.get("location")]).toEqual([303, "/ui/projects/private-pkg"]);
  const session = await signIn(server.url, "dave", "dave-password");
  expect((await uiGet(server.url, "/ui/projects/private-pkg", session)).status).toBe(200);
  const home = await uiGet(server.url, "/ui/?q=pkg", session);
  expect(home.body).toContain(`<a href="/ui/projects/private-pkg">private-pkg</a>`);
  expect(home.body).not.toContain("other-pkg");
  const other = await uiGet(server.url, "/ui/projects/other-pkg", session);
  expect([other.status, other.statusText]).toEqual([404, "No project named other-pkg"]);
});

test("the sign-in form and its stylesheet stay open to anonymous visitors", async () => {
  expect((await uiGet(server.url, "/ui/sign-in")).status).toBe(200);
  expect((await uiGet(server.url, "/ui/static/style.css")).status).toBe(200);
  expect((await uiGet(server.url, "/ui/static/nothing.css")).status).toBe(404);
});

test("the job page's live log reads the stream with the session: a reader follows it, an anonymous visitor is sent to sign in", async () => {
  const job = server.services.jobs.list({ kind: "system", name: "test" }, { project: parseProjectName("private-pkg") })[0];
  expect((await uiGet(server.url, `/ui/jobs/${job.id}/events`)).status).toBe(303);
  const session = await signIn(server.url, "dave", "dave-password");
  const page = await uiGet(server.url, `/ui/jobs/${job.id}`, session);
  expect(page.body).toContain(`<script src="/ui/static/job.js" defer></script>`);
  expect(page.body).toContain(`data-job="${job.id}" data-after="0" data-live="true"`);
  const abort = new AbortController();
  const stream = await fetch(`${server.url}/ui/jobs/${job.id}/events`, { headers: { Cookie: session.cookie }, signal: abort.signal });
  expect([stream.status, stream.headers.get("content-type")]).toEqual([200, "text/event-stream; charset=utf-8"]);
  let body = "";
  for await (const chunk of stream.body!) {
    body += Buffer.from(chunk).toString();
    if (body.includes("event: status")) break;
  }
  abort.abort();
  expect(body).toContain(`"status":"queued"`);
  expect((await uiGet(server.url, "/ui/static/job.js")).headers.get("content-type")).toBe("text/javascript; charset=utf-8");
});
