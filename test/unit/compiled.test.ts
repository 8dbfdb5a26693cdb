import { describe, expect, test } from "vitest";
import { compiledModuleName, degradedReason, isCompiledModule, isTestModule, regressionReason } from "../../src/core/compiled.js";

const CP311 = { kind: "wheel" as const, pythonTag: "cp311", abiTag: "cp311", platform: "linux_x86_64" };
const PURE = { kind: "wheel" as const, pythonTag: "py3", abiTag: "none", platform: "any" };
const SO = "optional_ext/_speedups.cpython-311-x86_64-linux-gnu.so";

// As pip --verbose shows setuptools' output (indented), trimmed of the parts that do not matter.
const FALLBACK_LOG = [
  "  running build_ext",
  "  building 'optional_ext._speedups' extension",
  "  x86_64-linux-gnu-gcc -fPIC -I/usr/include/python3.11 -c optional_ext/_speedups.c -o build/temp/_speedups.o",
  "  optional_ext/_speedups.c:3:10: fatal error: pydepot_header_that_does_not_exist.h: No such file or directory",
  "      3 | #include <pydepot_header_that_does_not_exist.h>",
  "  compilation terminated.",
  '  warning: build_ext_optional: building optional extension "optional_ext._speedups" failed: command \'/usr/bin/x86_64-linux-gnu-gcc\' failed with exit code 1',
];

describe("compiled modules", () => {
  test("shared objects and .pyd files are compiled modules, named as Python imports them", () => {
    expect([SO, "pkg/libfoo.so.1.2", "pkg/_x.pyd", "pkg/x.py", "pkg/so.txt"].map(isCompiledModule)).toEqual([true, true, true, false, false]);
    expect(compiledModuleName(SO)).toBe("optional_ext._speedups");
    expect(compiledModuleName("_top.so")).toBe("_top");
  });

  test("test modules: inside a tests, test or testing package, or named _*tests or *_tests", () => {
    const names = ["numpy.core._multiarray_tests", "pkg._tests", "pkg.speed_tests", "pkg.tests._helper", "pkg.test.x", "numpy.testing._private.ext", "tests"];
    expect(names.filter(isTestModule)).toEqual(names);
    const others = ["pkg._speed", "pkg._testsuite", "pkg.contests", "pkg.attests", "pkg.latest.x", "pkg._test_helpers"];
    expect(others.filter(isTestModule)).toEqual([]);
  });
});

describe("degraded builds", () => {
  test("an extension the build tried that is not in the file, quoting the compiler's first error", () => {
    expect(degradedReason(CP311, [], FALLBACK_LOG)).toBe(
      "optional_ext._speedups was not built: optional_ext/_speedups.c:3:10: fatal error: pydepot_header_that_does_not_exist.h: No such file or directory",
    );
  });

  test("one of two extensions missing is degraded even though the file holds compiled code", () => {
    const log = ["building 'pkg._one' extension", "gcc -c one.c", "building 'pkg._two' extension", "two.c:1:1: error: expected ';'"];
    expect(degradedReason(CP311, ["pkg/_one.cpython-311-x86_64-linux-gnu.so"], log)).toBe("pkg._two was not built: two.c:1:1: error: expected ';'");
    expect(degradedReason(CP311, ["pkg/_one.cpython-311-x86_64-linux-gnu.so", "pkg/_two.cpython-311-x86_64-linux-gnu.so"], log)).toBeNull();
  });

  test("a setup.py that falls back by its own words", () => {
    const log = ["running build_ext", "WARNING: The C extension could NOT be compiled, speedups are not enabled."];
    expect(degradedReason(PURE, [], log)).toBe("the build fell back to pure Python: WARNING: The C extension could NOT be compiled, speedups are not enabled.");
  });

  test("a platform tag without compiled code, whatever the log says", () => {
    expect(degradedReason(CP311, [], [])).toBe("the file is tagged for platform linux_x86_64 but holds no compiled module");
    const egg = { kind: "egg" as const, pythonTag: "py2.7", abiTag: null, platform: "linux-x86_64" };
    expect(degradedReason(egg, [], [])).toBe("the file is tagged for platform linux-x86_64 but holds no compiled module");
  });

  test("a test extension the build tried and the file lacks is no degradation; another one still is", () => {
    const log = ["building 'numpy.core._multiarray_umath' extension", "building 'numpy.core._multiarray_tests' extension", "x.c:1:1: error: expected ';'"];
    const built = ["numpy/core/_multiarray_umath.cpython-311-x86_64-linux-gnu.so"];
    expect(degradedReason(CP311, built, log)).toBeNull();
    expect(degradedReason(CP311, [], log)).toBe("numpy.core._multiarray_umath was not built: the build log says it was compiled, but the file does not hold it");
  });

  test("a complete build and a pure one are not degraded", () => {
    expect(degradedReason(CP311, [SO], ["building 'optional_ext._speedups' extension", "gcc -c x.c"])).toBeNull();
    expect(degradedReason(PURE, [], ["running build_py"])).toBeNull();
  });
});

describe("regressions", () => {
  const first = {
    filename: "regress_ext-1.0-cp311-cp311-linux_x86_64.whl",
    compiledModules: ["regress_ext/_wave.cpython-311-x86_64-linux-gnu.so"],
    linkedLibraries: ["libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6", "libm.so.6 => /lib/x86_64-linux-gnu/libm.so.6"],
  };

  test("a library the last listed build linked and the new one does not", () => {
    const second = { ...first, filename: "regress_ext-2.0-cp311-cp311-linux_x86_64.whl", linkedLibraries: ["libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6"] };
    expect(regressionReason(first, second)).toBe("regressed from regress_ext-1.0-cp311-cp311-linux_x86_64.whl: no longer links libm.so.6");
  });

  test("a module that disappeared, and a library that is now not found, which is still linked", () => {
    const second = { filename: "x-2.0.whl", compiledModules: [], linkedLibraries: ["libm.so.6 => not found", "libc.so.6 => /lib/libc.so.6"] };
    expect(regressionReason(first, second)).toBe("regressed from regress_ext-1.0-cp311-cp311-linux_x86_64.whl: regress_ext._wave no longer built");
    expect(regressionReason(first, { ...first, filename: "x-2.0.whl", compiledModules: ["regress_ext/_wave.cpython-311-x86_64-linux-gnu.so", "regress_ext/_new.so"] })).toBeNull();
  });

  test("losing only test modules is no regression", () => {
    const tests = ["regress_ext/_wave_tests.cpython-311-x86_64-linux-gnu.so", "regress_ext/tests/_helper.cpython-311-x86_64-linux-gnu.so"];
    const withTests = { ...first, compiledModules: [...first.compiledModules, ...tests] };
    expect(regressionReason(withTests, { ...first, filename: "x-2.0.whl" })).toBeNull();
    expect(regressionReason(withTests, { ...first, filename: "x-2.0.whl", compiledModules: tests })).toBe("regressed from regress_ext-1.0-cp311-cp311-linux_x86_64.whl: regress_ext._wave no longer built");
  });
});
