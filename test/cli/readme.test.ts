// The README's commands as the program knows them: every `npx pydepot …` example and every row of
// the Commands table names a command that exists, with options that command takes, and the
// README points at nothing outside the repository.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";
import { expectOk } from "../support/commands.js";
import { pydepot } from "../support/farm.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const README = readFileSync(join(ROOT, "README.md"), "utf8");

/** `npx pydepot …` invocations in the shell examples, without comments, redirections and `$(…)`. */
function examples(): string[] {
  const blocks = [...README.matchAll(/```sh\n([\s\S]*?)```/g)].map((match) => match[1].replace(/\\\n\s*/g, " "));
  return blocks.flatMap((block) => [...block.matchAll(/npx pydepot ([^#>)\n]*)/g)].map((match) => match[1].trim()));
}

/** The first cell of each Commands table row: `pydepot a …` / `b …` is two commands. */
function tableCommands(): string[] {
  return [...README.matchAll(/^\| `pydepot (.+?)` \|/gm)].flatMap((match) => match[1].split(/` \/ `/).map((command) => command.replace(/\\\|/g, "|")));
}

const helps = new Map<string, Promise<string>>();
function help(path: string[]): Promise<string> {
  const key = path.join(" ");
  if (!helps.has(key)) helps.set(key, pydepot([...path, "--help"], ROOT).then((result) => expectOk(result).stdout));
  return helps.get(key)!;
}

/** Subcommand names a help text lists. */
function subcommands(text: string): string[] {
  const section = text.split("\nCommands:\n")[1] ?? "";
  return [...section.matchAll(/^ {2}([a-z][a-z-]*)/gm)].map((match) => match[1]);
}

async function expectKnown(command: string): Promise<void> {
  const words = command.split(/\s+/);
  const path: string[] = [];
  for (const word of words) {
    if (!(subcommands(await help(path)).includes(word))) break;
    path.push(word);
  }
  expect(path.length, `no such command: pydepot ${command}`).toBeGreaterThan(0);
  const text = await help(path);
  for (const option of command.match(/--[a-z][a-z-]*/g) ?? []) {
    expect(text, `pydepot ${path.join(" ")} has no option ${option} (README: pydepot ${command})`).toMatch(new RegExp(`(^|[\\s,])${option}\\b`, "m"));
  }
}

describe("README", () => {
  test("has examples and a Commands table to check", () => {
    expect(examples().length).toBeGreaterThan(5);
    expect(tableCommands().length).toBeGreaterThan(20);
  });

  test("every `npx pydepot` example names a command and options that exist", async () => {
    for (const example of examples()) await expectKnown(example);
  });

  test("every row of the Commands table names a command and options that exist", async () => {
    for (const command of tableCommands()) await expectKnown(command);
  });

  test("the import example's placeholders match --help: DIR|FILE", async () => {
    expect(tableCommands()).toContain("import DIR|FILE");
    expect(await help(["import"])).toMatch(/^Usage: pydepot import \[options\] <dir\|file>$/m);
  });

  test("links stay inside the repository", () => {
    for (const [, target] of README.matchAll(/\]\(([^)#]+)\)/g)) {
      if (/^[a-z]+:/.test(target)) continue;
      const full = resolve(ROOT, target);
      expect(full.startsWith(ROOT + "/") && existsSync(full), target).toBe(true);
    }
    expect(README).not.toMatch(/\.\.\/shared|\.\.\/[a-z]/);
  });
});
