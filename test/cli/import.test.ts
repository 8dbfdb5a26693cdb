// `pydepot import DIR|FILE`: egg directories kept as folders of symbolic links are imported
// through the links, link loops end, and every entry that is not imported is named with the reason.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { sdist, wheel, type Artifact } from "../support/artifacts.js";
import { expectOk } from "../support/commands.js";
import { pydepot } from "../support/farm.js";

let root: string;
let storage: string;
let linked: Artifact;
let inLinkedFolder: Artifact;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "pydepot-import-"));
  storage = join(root, "storage");
  mkdirSync(storage);
  // The real files live elsewhere, as in a shared store; the egg directory holds links to them.
  const store = join(root, "store");
  mkdirSync(join(store, "more"), { recursive: true });
  linked = await wheel({ name: "linked-pkg", version: "1.0" });
  inLinkedFolder = await sdist({ name: "folder-pkg", version: "2.0" });
  writeFileSync(join(store, linked.filename), linked.bytes);
  writeFileSync(join(store, "more", inLinkedFolder.filename), inLinkedFolder.bytes);

  const eggs = join(root, "eggs");
  mkdirSync(join(eggs, "unzipped-1.0-py2.7.egg"), { recursive: true });
  symlinkSync(join(store, linked.filename), join(eggs, linked.filename));
  symlinkSync(join(store, "more"), join(eggs, "more"));
  symlinkSync(eggs, join(eggs, "loop"));
  symlinkSync(join(store, "gone-1.0.tar.gz"), join(eggs, "gone-1.0.tar.gz"));
  symlinkSync(join(eggs, "self-b"), join(eggs, "self-a"));
  symlinkSync(join(eggs, "self-a"), join(eggs, "self-b"));
  writeFileSync(join(eggs, "README.txt"), "old eggs\n");
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("pydepot import DIR", () => {
  test("imports what links point to, and says why each other entry is not imported", async () => {
    const eggs = join(root, "eggs");
    const result = expectOk(await pydepot(["import", eggs], storage));
    expect(result.stdout.trimEnd().split("\n")).toEqual([
      `added     ${join(eggs, linked.filename)}`,
      `added     ${join(eggs, "more", inLinkedFolder.filename)}`,
      `ignored   ${join(eggs, "README.txt")}: not a wheel, egg or sdist (.whl, .egg, .tar.gz, .tar.bz2, .zip)`,
      `ignored   ${join(eggs, "gone-1.0.tar.gz")}: a broken symbolic link (to ${join(root, "store", "gone-1.0.tar.gz")})`,
      `ignored   ${join(eggs, "loop")}: a link to ${eggs}, a folder already visited (a loop)`,
      `ignored   ${join(eggs, "self-a")}: a loop of symbolic links`,
      `ignored   ${join(eggs, "self-b")}: a loop of symbolic links`,
      `ignored   ${join(eggs, "unzipped-1.0-py2.7.egg")}: an unzipped egg or wheel folder: only archives are imported (zip its contents into one file)`,
      "2 added, 0 skipped, 0 rejected, 6 ignored",
    ]);
  });

  test("run again, the linked files are there already", async () => {
    const stdout = expectOk(await pydepot(["import", join(root, "eggs")], storage)).stdout;
    expect(stdout).toContain(`skipped   ${join(root, "eggs", linked.filename)} (already there)`);
    expect(stdout.trimEnd().split("\n").at(-1)).toBe("0 added, 2 skipped, 0 rejected, 6 ignored");
  });

  test("a link to one file imports that file", async () => {
    const other = await wheel({ name: "single-pkg", version: "3.0" });
    writeFileSync(join(root, "store", other.filename), other.bytes);
    const link = join(root, other.filename);
    symlinkSync(join(root, "store", other.filename), link);
    expect(expectOk(await pydepot(["import", link], storage)).stdout).toBe(`added     ${link}\n1 added, 0 skipped, 0 rejected, 0 ignored\n`);
  });

  test("--help names the argument as the README does: DIR|FILE", async () => {
    expect(expectOk(await pydepot(["import", "--help"], storage)).stdout).toMatch(/^Usage: pydepot import \[options\] <dir\|file>$/m);
  });
});
