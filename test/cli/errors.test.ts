// What a person sees when a command goes wrong: one line saying what and what to do, never a
// Node stack (unless --debug), and lists that say "none" instead of printing nothing.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { sdist } from "../support/artifacts.js";
import { expectOk } from "../support/commands.js";
import { pydepot } from "../support/farm.js";
import { FakeAgent, TARGETS, uploadFile } from "../support/farm-api.js";
import { startTestServer, type TestServer } from "../support/server.js";

let storage: string;

beforeAll(() => {
  storage = mkdtempSync(join(tmpdir(), "pydepot-cli-"));
});

afterAll(() => rmSync(storage, { recursive: true, force: true }));

/** One line on stderr, prefixed `pydepot: `, with no stack frame in it. */
function expectOneLine(result: { code: number | null; stderr: string }, code: number, message: string | RegExp): void {
  expect(result.code, result.stderr).toBe(code);
  expect(result.stderr.endsWith("\n") && result.stderr.split("\n").length, result.stderr).toBe(2);
  expect(result.stderr).not.toMatch(/\n\s+at /);
  if (typeof message === "string") expect(result.stderr).toBe(`pydepot: ${message}\n`);
  else expect(result.stderr).toMatch(message);
}

describe("errors are one line", () => {
  test("`job show abc` and `job cancel 0` say what a job id is", async () => {
    const message = 'Invalid job id "abc": job ids are whole numbers, as `pydepot jobs` lists them';
    expectOneLine(await pydepot(["job", "show", "abc"], storage), 1, message);
    expectOneLine(await pydepot(["job", "cancel", "0"], storage), 1, 'Invalid job id "0": job ids are whole numbers, as `pydepot jobs` lists them');
  });

  test("`token revoke abc` and `agents unenrol x` say what an id is", async () => {
    expectOneLine(await pydepot(["token", "revoke", "abc"], storage), 1, 'Invalid token id "abc": token ids are whole numbers, as `pydepot token list USER` lists them');
    expectOneLine(await pydepot(["agents", "unenrol", "#x"], storage), 1, 'Invalid enrolment id "x": enrolment ids are whole numbers, as `pydepot agents list` lists them');
  });

  test("`jobs --status bogus` lists the valid statuses", async () => {
    expectOneLine(await pydepot(["jobs", "--status", "bogus"], storage), 1, 'Unknown job status "bogus": use one of queued, leased, succeeded, failed, cancelled, not_applicable');
  });

  test("a job that does not exist", async () => {
    expectOneLine(await pydepot(["job", "show", "42"], storage), 1, "No job 42");
  });

  test("a port already in use names PYDEPOT_SERVER_PORT and --config, and where the port came from", async () => {
    const taken: Server = createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    const port = (taken.address() as { port: number }).port;
    try {
      const result = await pydepot(["serve"], storage, { PYDEPOT_SERVER_HOST: "127.0.0.1", PYDEPOT_SERVER_PORT: String(port) });
      expectOneLine(
        result,
        1,
        `Port ${port} on 127.0.0.1 is already in use (another pydepot?): stop that program or choose another with PYDEPOT_SERVER_PORT or server.port in the config file (--config FILE); ${port} is from PYDEPOT_SERVER_PORT`,
      );
    } finally {
      taken.close();
    }
  });

  test("a second server on a storage folder another server holds says so and exits; the folder is free once that one stops", async () => {
    const folder = mkdtempSync(join(tmpdir(), "pydepot-held-"));
    try {
      const first = await startTestServer({}, { storage: folder });
      try {
        const result = await pydepot(["serve"], folder, { PYDEPOT_SERVER_HOST: "127.0.0.1", PYDEPOT_SERVER_PORT: "0" });
        expectOneLine(result, 1, `Another pydepot server is serving ${folder} (it holds ${join(folder, "server.lock")}): stop it first, or give this one a storage.path of its own`);
        expect((await fetch(first.index)).status).toBe(200);
      } finally {
        await first.stop();
      }
      const second = await startTestServer({}, { storage: folder });
      expect((await fetch(second.index)).status).toBe(200);
      await second.stop();
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  test("a bad value from the environment names the variable and the key", async () => {
    expectOneLine(await pydepot(["config"], storage, { PYDEPOT_SERVER_PORT: "eighty" }), 2, /^pydepot: Invalid configuration: PYDEPOT_SERVER_PORT \(server\.port\): .*expected number/);
  });

  test("a bad value or unknown key in the file names the file and the key", async () => {
    const file = join(storage, "bad.toml");
    writeFileSync(file, '[server]\nport = "eighty"\nprot = 1\n');
    const result = await pydepot(["config", "--config", file], storage);
    expectOneLine(result, 2, /^pydepot: Invalid configuration: /);
    expect(result.stderr).toContain(`${file}: server.port: `);
    expect(result.stderr).toContain(`${file}: unknown key server.prot`);
  });

  test("two nodes of one name are refused: their running checks and health would be counted as one node's", async () => {
    const file = join(storage, "twin-nodes.toml");
    const node = (user: string) => `[[nodes]]\nname = "clean"\nhost = "127.0.0.1"\nuser = "${user}"\nprivate_key_file = "/etc/pydepot/key"\nhost_key = "SHA256:${"A".repeat(43)}"\ninterpreters = ["/usr/bin/python3"]\n`;
    writeFileSync(file, node("check1") + node("check2"));
    const result = await pydepot(["config", "--config", file], storage);
    expectOneLine(result, 2, /^pydepot: Invalid configuration: /);
    expect(result.stderr).toContain(`${file}: nodes.1.name: a second node named clean: each node needs a name of its own`);
  });

  test("a file that is not TOML names the file, in one line", async () => {
    const file = join(storage, "broken.toml");
    writeFileSync(file, "[server\nport = 1\n");
    expectOneLine(await pydepot(["config", "--config", file], storage), 2, new RegExp(`^pydepot: Cannot read configuration ${file} \\(from --config\\): `));
  });

  test("a missing file named by PYDEPOT_CONFIG says which variable named it", async () => {
    const file = join(storage, "absent.toml");
    expectOneLine(await pydepot(["config"], storage, { PYDEPOT_CONFIG: file }), 2, new RegExp(`^pydepot: Cannot read configuration ${file} \\(from PYDEPOT_CONFIG\\): ENOENT`));
  });

  test("a misspelt PYDEPOT_ variable is an error that suggests the right name", async () => {
    expectOneLine(
      await pydepot(["config"], storage, { PYDEPOT_SERVER_PROT: "9000" }),
      2,
      "Unknown environment variable PYDEPOT_SERVER_PROT: did you mean PYDEPOT_SERVER_PORT? (pydepot reads PYDEPOT_CONFIG and PYDEPOT_<SECTION>_<KEY>; unset the variable to go on)",
    );
  });

  test("an unexpected error is one line too, and --debug shows the stack", async () => {
    // A folder where the database file should be: SQLite cannot open it, which no AppError describes.
    const broken = join(storage, "broken-storage");
    mkdirSync(join(broken, "pydepot.sqlite3"), { recursive: true });
    const plain = await pydepot(["jobs"], broken);
    expectOneLine(plain, 1, /^pydepot: unexpected error: .+ \(run again with --debug to see where it happened\)\n$/);
    const debug = await pydepot(["--debug", "jobs"], broken);
    expect(debug.stderr).toMatch(/\n\s+at /);
  });
});

test("a usage mistake is one line that points at --help", async () => {
  expectOneLine(await pydepot(["jobs", "--bogus"], storage), 1, "unknown option '--bogus' (see --help)");
  expectOneLine(await pydepot(["frob"], storage), 1, "unknown command 'frob' (Did you mean job?) (see --help)");
});

describe("empty lists say so", () => {
  test.each([
    [["jobs"], "no jobs\n"],
    [["node", "list"], "no node has been contacted yet (nodes are configured in [[nodes]] of the config file)\n"],
  ])("pydepot %j", async (args, expected) => {
    expect(expectOk(await pydepot(args, storage)).stdout).toBe(expected);
  });

  test("token list of a user without tokens", async () => {
    expectOk(await pydepot(["user", "add", "tokenless"], storage));
    expect(expectOk(await pydepot(["token", "list", "tokenless"], storage)).stdout).toBe("no tokens for tokenless (`pydepot token create tokenless` makes one)\n");
  });
});

describe("project names are normalised the same way on every door", () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer();
    const token = await server.userToken("uploader");
    await FakeAgent.register(server.url, server.services.agents.createEnrolment("test", "test"), "builder", [TARGETS.wheel311]);
    const demo = await sdist({ name: "Demo_Pkg", version: "1.0" });
    const reply = await uploadFile(server.url, token, demo);
    if (reply.status !== 200) throw new Error(`upload: ${reply.status} ${reply.statusText}`);
  });

  afterAll(() => server?.stop());

  test("`pydepot build Demo_Pkg 1.0` and `pydepot jobs --project Demo.Pkg` find demo-pkg", async () => {
    const queued = expectOk(await pydepot(["build", "Demo_Pkg", "1.0"], server.storage)).stdout;
    expect(queued).toMatch(/^#\d+\tqueued\tdemo-pkg 1\.0\twheel-cp311-linux_x86_64\t/);
    expect(expectOk(await pydepot(["jobs", "--project", "Demo.Pkg"], server.storage)).stdout).toMatch(/^#\d+\tqueued\tdemo-pkg 1\.0\t/);
  });

  test("the HTTP API takes the name as typed too", async () => {
    const answer = await fetch(`${server.url}/api/farm/jobs?project=DEMO_pkg`);
    expect(answer.status).toBe(200);
    expect(((await answer.json()) as { jobs: { project: string }[] }).jobs.map((job) => job.project)).toEqual(["demo-pkg"]);
  });

  test("the HTTP API parses job ids and statuses as the CLI does", async () => {
    const status = await fetch(`${server.url}/api/farm/jobs?status=bogus`);
    expect([status.status, status.statusText]).toEqual([400, 'Unknown job status "bogus": use one of queued, leased, succeeded, failed, cancelled, not_applicable']);
    const twice = await fetch(`${server.url}/api/farm/jobs?status=failed&status=queued`);
    expect([twice.status, twice.statusText]).toEqual([400, "Give the status filter once, as one value"]);
    const id = await fetch(`${server.url}/api/farm/jobs/abc`);
    expect([id.status, id.statusText]).toEqual([400, 'Invalid job id "abc": job ids are whole numbers, as `pydepot jobs` lists them']);
    const after = await fetch(`${server.url}/api/farm/jobs/1?log_after=soon`);
    expect([after.status, after.statusText]).toEqual([400, 'Invalid log_after "soon": send the id of the last log line seen, or 0']);
  });
});
