// `pydepot import` of many files records them in batches (one syncfs for the bytes, one transaction,
// one syncfs for the folders): every file ends up recorded and published exactly as one by one, a file
// refused inside a batch refuses only itself, nothing is left in tmp/, and progress is shown as a
// bar on a terminal and as plain lines otherwise.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, watch, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { mismatchedWheel, wheel } from "../support/artifacts.js";
import { expectOk, runCommand } from "../support/commands.js";
import { pydepot } from "../support/farm.js";

/** More than one batch (500 files each). */
const MANY = 520;
const BATCH = 500;
/** Four batches of one project each (crash-a … crash-d): the import is killed in the second. */
const CRASH_PROJECTS = ["a", "b", "c", "d"];
const CRASH_FILES = CRASH_PROJECTS.length * BATCH;

let root: string;
let source: string;
let crashSource: string;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "pydepot-import-batches-"));
  source = join(root, "source");
  mkdirSync(join(source, "a"), { recursive: true });
  mkdirSync(join(source, "b"));
  for (let index = 0; index < MANY; index++) {
    const artifact = await wheel({ name: `many-${index % 40}`, version: `1.${index}` });
    writeFileSync(join(source, artifact.filename), artifact.bytes);
  }
  // One name, two different contents, in one batch: the first recorded wins, the second is refused.
  const first = await wheel({ name: "twice", version: "1.0" });
  const second = await wheel({ name: "twice", version: "1.0", extraFiles: { "twice/other.py": "x = 1\n" } });
  writeFileSync(join(source, "a", first.filename), first.bytes);
  writeFileSync(join(source, "b", second.filename), second.bytes);
  const liar = await mismatchedWheel({ name: "liar", version: "1.0", metadataName: "someone-else" });
  writeFileSync(join(source, liar.filename), liar.bytes);
  crashSource = join(root, "crash-source");
  mkdirSync(crashSource);
  for (let index = 0; index < CRASH_FILES; index++) {
    const artifact = await wheel({ name: `crash-${CRASH_PROJECTS[Math.floor(index / BATCH)]}`, version: `2.${index}` });
    writeFileSync(join(crashSource, artifact.filename), artifact.bytes);
  }
}, 180_000);

afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("pydepot import of many files", () => {
  test("records every file in batches, refuses only the refused ones, leaves nothing in tmp/, and fsck finds it whole", async () => {
    const storage = join(root, "plain");
    mkdirSync(storage);
    const result = await pydepot(["import", source], storage);
    expect(result.code).toBe(1);
    const lines = result.stdout.trimEnd().split("\n");
    expect(lines.at(-1)).toBe(`${MANY + 1} added, 0 skipped, 2 rejected, 0 ignored`);
    expect(lines).toContain(`added     ${join(source, "a", "twice-1.0-py3-none-any.whl")}`);
    expect(lines.find((line) => line.startsWith(`rejected  ${join(source, "b", "twice-1.0-py3-none-any.whl")}`))).toMatch(/File already exists/);
    expect(lines.find((line) => line.startsWith(`rejected  ${join(source, "liar-1.0-py3-none-any.whl")}`))).toMatch(/Name mismatch/);
    // Without a terminal: plain progress lines on stderr, the last one for every file.
    expect(result.stderr.trimEnd().split("\n").at(-1)).toMatch(new RegExp(`^imported ${MANY + 3} of ${MANY + 3} files, \\d+ files/s$`));
    expect(readdirSync(join(storage, "tmp"))).toEqual([]);
    expect(readdirSync(join(storage, "files", "many-0")).sort()).toHaveLength(2 * Math.ceil(MANY / 40));
    expectOk(await pydepot(["fsck"], storage));

    const again = await pydepot(["import", source], storage);
    expect(again.stdout.trimEnd().split("\n").at(-1)).toBe(`0 added, ${MANY + 1} skipped, 2 rejected, 0 ignored`);
  });

  test("on a terminal: a progress bar with the count, the rate and the ETA", async () => {
    const storage = join(root, "terminal");
    mkdirSync(storage);
    const command = [process.execPath, join(process.cwd(), "dist", "main.js"), "import", join(source, "a")].join(" ");
    const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("PYDEPOT_")));
    // script(1) runs the command on a pseudo-terminal, as an admin's shell would.
    const result = await runCommand(["script", "-qec", command, "/dev/null"], { env: { ...env, PYDEPOT_STORAGE_PATH: storage }, cwd: storage, timeoutMs: 60_000 });
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/importing \[[=-]+\] 1\/1 files \| \d+ files\/s \| ETA \d+s/);
  });

  test("killed (SIGKILL) while it links a batch: rows only for whole committed batches, each with its whole file; a run after it sweeps and imports the rest", async () => {
    const storage = join(root, "killed");
    const tmp = join(storage, "tmp");
    const files = join(storage, "files");
    mkdirSync(tmp, { recursive: true });
    mkdirSync(files);
    // The importer's pid from its batch notes (`<host>.<pid>-<random>.batch`); the second batch's first
    // link makes the folder of its project: killed there, while it links inside its transaction.
    let importer = 0;
    const notes = watch(tmp, (_event, name) => {
      if (name?.endsWith(".batch")) importer = Number(name.split("-")[0].split(".")[1]);
    });
    const folders = watch(files, (_event, name) => {
      if (name === "crash-b" && importer) process.kill(importer, "SIGKILL");
    });
    const killed = await pydepot(["import", crashSource], storage).finally(() => {
      notes.close();
      folders.close();
    });
    expect(killed.signal, killed.stdout + killed.stderr).toBe("SIGKILL");

    // No row lacks its file or has a wrong one: fsck finds only what the dead process left
    // (tmp/ leftovers, links of the uncommitted batch), and every such link is a whole file.
    const check = await pydepot(["fsck"], storage);
    const problems = check.stdout.trimEnd().split("\n").slice(0, -1);
    for (const line of problems) expect(line).toMatch(/^(leftover|unrecorded) /);
    for (const line of problems.filter((problem) => problem.startsWith("unrecorded") && problem.includes(".whl:"))) {
      const relative = line.split(/\s+/)[1].replace(/:$/, "");
      expect(readFileSync(join(storage, "files", relative)).equals(readFileSync(join(crashSource, relative.split("/")[1])))).toBe(true);
    }

    const rerun = expectOk(await pydepot(["import", crashSource], storage));
    const [added, skipped] = rerun.stdout.trimEnd().split("\n").at(-1)!.match(/^(\d+) added, (\d+) skipped, 0 rejected, 0 ignored$/)!.slice(1).map(Number);
    // One transaction per batch: the first batch (at least) committed whole, the killed one not at all.
    expect(skipped % BATCH).toBe(0);
    expect(skipped).toBeGreaterThanOrEqual(BATCH);
    expect(added).toBeGreaterThan(0);
    expect(added + skipped).toBe(CRASH_FILES);
    expect(readdirSync(tmp)).toEqual([]);
    expect(expectOk(await pydepot(["fsck"], storage)).stdout.trimEnd()).toBe("no problems: the files and the database agree");
  });
});
