// What a hostile build or upload writes reaches the operator's terminal through the CLI (build
// logs, reasons, check logs): its control characters are written out, never obeyed.
import { afterAll, beforeAll, expect, test } from "vitest";
import { sdist } from "../support/artifacts.js";
import { expectOk } from "../support/commands.js";
import { pydepot } from "../support/farm.js";
import { FakeAgent, TARGETS, uploadFile } from "../support/farm-api.js";
import { startTestServer, type TestServer } from "../support/server.js";

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server?.stop());

// Retitle the terminal, clear it, write the clipboard (OSC 52), return to the line start, reverse the text.
const HOSTILE = "\x1b]0;pwned\x07\x1b[2J\x1b]52;c;Y3VybCBldmlsIHwgc2g=\x07\rfake line\u202eevil\x9b31m";
const SHOWN = "\\x1b]0;pwned\\x07\\x1b[2J\\x1b]52;c;Y3VybCBldmlsIHwgc2g=\\x07\\x0dfake line\\u202eevil\\x9b31m";

test("a build log line and a failure reason with terminal control characters are printed written out", async () => {
  const agent = await FakeAgent.register(server.url, server.services.agents.createEnrolment("t", "t"), "builder", [TARGETS.wheel311]);
  expect((await uploadFile(server.url, await server.userToken("someone"), await sdist({ name: "noisy", version: "1.0" }))).status).toBe(200);
  const job = (await agent.lease(0))!;
  expect((await agent.log(job.id, [`building ${HOSTILE}`])).status).toBe(200);
  expect((await agent.result(job.id, { status: "failed", reason: `broke ${HOSTILE}` })).status).toBe(200);

  const shown = expectOk(await pydepot(["job", String(job.id)], server.storage)).stdout;
  expect(shown).toContain(`stdout: building ${SHOWN}\n`);
  expect(shown).toContain(`broke ${SHOWN}`);
  const listed = expectOk(await pydepot(["jobs"], server.storage)).stdout;
  expect(listed).toContain(`broke ${SHOWN}`);
  for (const output of [shown, listed]) expect(output).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f-\x9f\u202e]/);
});
