// An agent reports each target once (the server refuses a report that names one twice): a host
// with a pyenv 3.11 and the system's 3.11 builds with the first found, and two named with
// --python for one target are the operator's error before the agent registers.
import { describe, expect, test } from "vitest";
import { onePerTarget, type Interpreter } from "../../src/agent/interpreters.js";
import { AppError } from "../../src/core/errors.js";
import { TARGETS } from "../support/farm-api.js";

function interpreter(executable: string, ...targets: Interpreter["targets"]): Interpreter {
  return { executable, kinds: targets.map((target) => target.kind), version: targets[0].python_version, targets };
}

const pyenv311 = interpreter("/root/.pyenv/versions/3.11.7/bin/python3.11", TARGETS.wheel311);
const system311 = interpreter("/usr/bin/python3.11", { ...TARGETS.wheel311, python_version: "3.11.2" });
const system312 = interpreter("/usr/bin/python3.12", TARGETS.wheel312);

describe("one interpreter for each target", () => {
  test("found without --python: the first of each target, the others skipped with a word why", () => {
    const said: string[] = [];
    expect(onePerTarget([pyenv311, system311, system312], false, (line) => said.push(line))).toEqual([pyenv311, system312]);
    expect(said).toEqual(["skipping /usr/bin/python3.11: /root/.pyenv/versions/3.11.7/bin/python3.11 builds for target wheel-cp311-linux_x86_64 already"]);
  });

  test("named with --python: two for one target are an error that names both", () => {
    const named = () => onePerTarget([pyenv311, system311], true, () => undefined);
    expect(named).toThrow(AppError);
    expect(named).toThrow(
      "--python /root/.pyenv/versions/3.11.7/bin/python3.11 and --python /usr/bin/python3.11 both build for target wheel-cp311-linux_x86_64: name one of them",
    );
  });

  test("an egg and a wheel of one Python are two targets", () => {
    const both = interpreter("/usr/bin/python2.7", TARGETS.egg27, { ...TARGETS.egg27, kind: "wheel" });
    expect(onePerTarget([both], true, () => undefined)).toEqual([both]);
  });
});
