import { describe, expect, it } from "vitest";
import { AppError } from "../../src/core/errors.js";
import { isValidName, normalize, parseProjectName, requirementName } from "../../src/core/names.js";

describe("normalize (PEP 503)", () => {
  it.each([
    ["Zope.Interface", "zope-interface"],
    ["foo__bar--baz", "foo-bar-baz"],
    ["Demo_Pkg", "demo-pkg"],
    ["demo-pkg", "demo-pkg"],
    ["A._-B", "a-b"],
    ["PyYAML", "pyyaml"],
    ["x", "x"],
  ])("%s → %s", (name, normalized) => {
    expect(normalize(name)).toBe(normalized);
  });
});

describe("requirementName (PEP 508)", () => {
  it.each([
    ["py3-dep>=1.0", "py3-dep"],
    ["Zope.Interface[security] (>=4); python_version < '3'", "zope-interface"],
    ["  attrs", "attrs"],
    ["x==1", "x"],
  ])("%s names %s", (requirement, name) => {
    expect(requirementName(requirement)).toBe(name);
  });

  it.each(["", ">=1.0", "-dash"])("%j names no project", (requirement) => {
    expect(requirementName(requirement)).toBeNull();
  });
});

describe("parseProjectName", () => {
  it.each([
    ["Zope.Interface", "zope-interface"],
    ["foo__bar--baz", "foo-bar-baz"],
    ["Demo_Pkg", "demo-pkg"],
    ["dep-a", "dep-a"],
    ["a", "a"],
    ["7", "7"],
    ["backports.zoneinfo", "backports-zoneinfo"],
  ])("accepts %s as %s", (name, normalized) => {
    expect(isValidName(name)).toBe(true);
    expect(parseProjectName(name)).toBe(normalized);
  });

  it.each(["-leading", "_leading", ".leading", "trailing.", "trailing-", "a b", "ü", "naïve", "", "a/b", "..", "a\nb", "demo\n", "a+b"])(
    "rejects %j with 400",
    (name) => {
      expect(isValidName(name)).toBe(false);
      let thrown: unknown;
      try {
        parseProjectName(name);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(AppError);
      expect((thrown as AppError).status).toBe(400);
      expect((thrown as AppError).message).toBe(
        `Invalid project name ${JSON.stringify(name)}: use ASCII letters, digits, '.', '_' and '-', starting and ending with a letter or digit`,
      );
    },
  );
});
