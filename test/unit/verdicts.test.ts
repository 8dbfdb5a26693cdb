// The verdict matrix's rules in core/verdicts.ts: when a waiver covers a failure or a hold, which
// waivers accept a failed check, and a file's verification from its verdicts.
import { describe, expect, test } from "vitest";
import { fileVerification, pythonSeries, waiverCovers, waiversFor, type FailedCheck, type WaiverScope } from "../../src/core/verdicts.js";

const waiver = (scope: Partial<WaiverScope>): WaiverScope => ({ project: "attrs", version: null, module: null, python: null, degraded: false, ...scope });

const importFailure = (names: string[], python = "2.7"): FailedCheck => ({
  python,
  cause: "broken",
  modules: [...names.map((name) => ({ name, ok: false })), { name: "attr", ok: true }],
  missingLibraries: [],
  smoke: null,
});

describe("waiverCovers", () => {
  test("matches project, version, Python and module (with submodules) when the waiver names them", () => {
    const scoped = waiver({ version: "21.4.0", module: "attrs", python: "2.7" });
    const query = { project: "attrs", version: "21.4.0", module: "attrs", python: "2.7" };
    expect(waiverCovers(scoped, query)).toBe(true);
    expect(waiverCovers(scoped, { ...query, module: "attrs.validators" })).toBe(true);
    expect(waiverCovers(scoped, { ...query, module: "attrsx" })).toBe(false);
    expect(waiverCovers(scoped, { ...query, version: "22.1.0" })).toBe(false);
    expect(waiverCovers(scoped, { ...query, python: "3.11" })).toBe(false);
    expect(waiverCovers(scoped, { ...query, project: "six" })).toBe(false);
    expect(waiverCovers(scoped, { ...query, module: null })).toBe(false);
  });

  test("a failure waiver never covers a degraded hold, nor the other way round", () => {
    expect(waiverCovers(waiver({}), { project: "attrs", version: "1", degraded: true })).toBe(false);
    expect(waiverCovers(waiver({ degraded: true }), { project: "attrs", version: "1" })).toBe(false);
    expect(waiverCovers(waiver({ degraded: true }), { project: "attrs", version: "1", degraded: true, python: "3.11" })).toBe(true);
  });
});

describe("waiversFor", () => {
  test("failed imports are accepted module by module; one module left uncovered leaves the failure standing", () => {
    const attrs = waiver({ module: "attrs", python: "2.7" });
    const other = waiver({ module: "attr", python: "2.7" });
    expect(waiversFor(importFailure(["attrs"]), [attrs], "attrs", "21.4.0")).toEqual([attrs]);
    expect(waiversFor(importFailure(["attrs", "attr"]), [attrs], "attrs", "21.4.0")).toEqual([]);
    expect(waiversFor(importFailure(["attrs", "attr"]), [attrs, other], "attrs", "21.4.0")).toEqual([attrs, other]);
    expect(waiversFor(importFailure(["attrs"], "3.11"), [attrs], "attrs", "21.4.0")).toEqual([]);
  });

  test("a failure naming no module (unresolvable, missing library, smoke check, install) needs a waiver without a module", () => {
    const moduleWaiver = waiver({ module: "attrs" });
    const whole = waiver({ python: "2.7" });
    const failures: FailedCheck[] = [
      { python: "2.7", cause: "unresolvable", modules: [], missingLibraries: [], smoke: null },
      { ...importFailure(["attrs"]), missingLibraries: ["libjpeg.so.62"] },
      { ...importFailure([]), smoke: { ok: false } },
      { python: "2.7", cause: "broken", modules: [], missingLibraries: [], smoke: null },
    ];
    for (const failure of failures) {
      expect(waiversFor(failure, [moduleWaiver], "attrs", "21.4.0")).toEqual([]);
      expect(waiversFor(failure, [moduleWaiver, whole], "attrs", "21.4.0")).toEqual([whole]);
    }
  });
});

describe("fileVerification", () => {
  test("failed when any interpreter failed or is unresolvable, verified when each passed or was waived, else pending", () => {
    expect(fileVerification([])).toBe("pending");
    expect(fileVerification(["verified", "pending"])).toBe("pending");
    expect(fileVerification(["verified", "waived"])).toBe("verified");
    expect(fileVerification(["verified", "failed"])).toBe("failed");
    expect(fileVerification(["pending", "unresolvable"])).toBe("failed");
  });

  test("an interpreter is its Python X.Y", () => {
    expect([pythonSeries("3.11.7"), pythonSeries("2.7.18")]).toEqual(["3.11", "2.7"]);
  });
});
