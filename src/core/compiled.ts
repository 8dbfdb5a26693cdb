import { isPlatformSpecific, type FileTags } from "./tags.js";

/**
 * What counts as compiled code inside an egg or wheel, and when a build came out without the
 * compiled code it should have (degraded) or lost some that the last listed build had
 * (regressed). Decided here once, for ingest, the agent and the checker's report. check.py keeps
 * its own copy of the test-module rule (`is_test_module`): it runs on the node, standard library
 * only, and names the modules it imports from what the installer wrote, which no server sees.
 */

/** A compiled extension module or a shared library shipped with one (`_speed.cpython-311-x86_64-linux-gnu.so`, `libfoo.so.1`, `.pyd`). */
const COMPILED_MODULE = /\.(so(\.\d+)*|pyd)$/;

export function isCompiledModule(member: string): boolean {
  return COMPILED_MODULE.test(member);
}

/** The importable name of a compiled module member: `a/b/_c.cpython-311-x86_64-linux-gnu.so` → `a.b._c`. */
export function compiledModuleName(member: string): string {
  const parts = member.split("/");
  parts[parts.length - 1] = parts[parts.length - 1].split(".")[0];
  return parts.join(".");
}

/** Package names under which a project keeps its tests. */
const TEST_PACKAGES = new Set(["tests", "test", "testing"]);
/** Test extensions by their own name: numpy's `_multiarray_tests`, `_umath_tests`. */
const TEST_MODULE = /^_\w*tests$|_tests$/;

/**
 * Whether a compiled module (its importable name) is there for the project's tests. Such a module
 * is imported like any other, but a build is never degraded or regressed for lacking one: test
 * extensions come and go with a project's test suite, and the package works without them.
 */
export function isTestModule(name: string): boolean {
  const parts = name.split(".");
  return parts.some((part) => TEST_PACKAGES.has(part)) || TEST_MODULE.test(parts[parts.length - 1]);
}

/** distutils and setuptools announce each extension they compile: `building 'msgpack._cmsgpack' extension`. */
const BUILDING = /building '([\w.]+)' extension/;
/** distutils' own words for an optional extension that failed (and the same words projects copy for Python 2). */
const EXTENSION_FAILED = /building (?:optional )?extension "([\w.]+)" failed/;
/** A compiler's error line: `x.c:1:10: fatal error: y.h: No such file or directory`. */
const COMPILER_ERROR = /\b(?:fatal )?error:/;
/** How setup.py files that fall back by hand say so (msgpack, simplejson, markupsafe, PyYAML). */
const FELL_BACK = /could not be compiled|falling back to (?:the )?pure[- ]python|pure[- ]python (?:version|fallback|implementation)|speedups are not enabled/i;

/**
 * Why a built file is degraded, or null when it is not: an extension other than a test module
 * that the build's own output says it compiled is missing from the file (quoting the compiler's
 * first error for it), a log line says an optional extension fell back, or the file's tags name a
 * platform and it holds no compiled module at all.
 */
export function degradedReason(file: FileTags, compiledModules: readonly string[], log: readonly string[]): string | null {
  const built = new Set(compiledModules.map(compiledModuleName));
  const attempted: string[] = [];
  const firstError = new Map<string, string>();
  let current: string | null = null;
  for (const raw of log) {
    const line = raw.trim();
    const building = BUILDING.exec(line);
    const failed = EXTENSION_FAILED.exec(line);
    const name = building?.[1] ?? failed?.[1];
    if (name && !attempted.includes(name)) attempted.push(name);
    if (building) current = building[1];
    else if (current && COMPILER_ERROR.test(line) && !firstError.has(current)) firstError.set(current, line);
    if (failed && !firstError.has(failed[1])) firstError.set(failed[1], line);
  }
  const missing = attempted.filter((name) => !built.has(name) && !isTestModule(name));
  if (missing.length) return missing.map((name) => `${name} was not built: ${firstError.get(name) ?? "the build log says it was compiled, but the file does not hold it"}`).join("; ");
  const fellBack = log.map((line) => line.trim()).find((line) => FELL_BACK.test(line));
  if (fellBack) return `the build fell back to pure Python: ${fellBack}`;
  if (isPlatformSpecific(file) && compiledModules.length === 0) return `the file is tagged for platform ${file.platform} but holds no compiled module`;
  return null;
}

/** A built file's compiled code as the regression check compares it. */
export interface CompiledContents {
  filename: string;
  compiledModules: readonly string[];
  /** `ldd` lines as the agent reports them: `libjpeg.so.62 => /lib/x86_64-linux-gnu/libjpeg.so.62`. */
  linkedLibraries: readonly string[];
}

/**
 * Why `current` regressed from `previous` (the last listed build of the project for the same
 * target), or null: a compiled module (a test module aside) or a linked native library that
 * `previous` had and `current` lacks.
 */
export function regressionReason(previous: CompiledContents, current: CompiledContents): string | null {
  const modules = new Set(current.compiledModules.map(compiledModuleName));
  const libraries = new Set(current.linkedLibraries.map(libraryName));
  const lostModules = [...new Set(previous.compiledModules.map(compiledModuleName))].filter((name) => !modules.has(name) && !isTestModule(name));
  const lostLibraries = [...new Set(previous.linkedLibraries.map(libraryName))].filter((name) => !libraries.has(name));
  const parts = [];
  if (lostModules.length) parts.push(`${lostModules.join(", ")} no longer built`);
  if (lostLibraries.length) parts.push(`no longer links ${lostLibraries.join(", ")}`);
  return parts.length ? `regressed from ${previous.filename}: ${parts.join("; ")}` : null;
}

/** `libjpeg.so.62 => /lib/…` → `libjpeg.so.62` (a library found or not is the same library). */
function libraryName(line: string): string {
  return line.split("=>")[0].trim();
}
