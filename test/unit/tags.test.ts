import { describe, expect, test } from "vitest";
import { builtForPython } from "../../src/core/tags.js";

describe("the Python a file is built for (what a --python waiver of a hold is matched against)", () => {
  test.each([
    [{ kind: "wheel", pythonTag: "cp311", abiTag: "cp311", platform: "linux_x86_64" }, "3.11"],
    [{ kind: "wheel", pythonTag: "cp27", abiTag: "cp27mu", platform: "linux_x86_64" }, "2.7"],
    [{ kind: "egg", pythonTag: "py2.7", abiTag: null, platform: "linux-x86_64" }, "2.7"],
    [{ kind: "egg", pythonTag: "py3.11", abiTag: null, platform: null }, "3.11"],
    [{ kind: "wheel", pythonTag: "py3", abiTag: "none", platform: "any" }, null],
    [{ kind: "wheel", pythonTag: "py2.py3", abiTag: "none", platform: "any" }, null],
    [{ kind: "wheel", pythonTag: "cp311.cp312", abiTag: "abi3", platform: "linux_x86_64" }, null],
  ] as const)("%o → %s", (file, python) => {
    expect(builtForPython(file)).toBe(python);
  });
});
