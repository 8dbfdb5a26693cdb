import { describe, expect, it } from "vitest";
import { AppError } from "../../src/core/errors.js";
import { distributionSlot, parseDistInfoFolder, parseFilename } from "../../src/core/filenames.js";
import type { NormalizedName } from "../../src/core/types.js";

interface Expected {
  project: string;
  version: string;
  pythonTag: string;
  abiTag: string | null;
  platform: string | null;
  buildTag: string | null;
}

/** Run parseFilename and return the AppError it throws, failing the test if it does not. */
function rejection(filename: string, knownProject?: string): AppError {
  try {
    parseFilename(filename, knownProject as NormalizedName | undefined);
  } catch (error) {
    expect(error).toBeInstanceOf(AppError);
    return error as AppError;
  }
  throw new Error(`parseFilename accepted ${JSON.stringify(filename)}`);
}

describe("parseFilename: wheels", () => {
  it.each<[string, Expected]>([
    [
      "demo_pkg-1.0-py3-none-any.whl",
      { project: "demo-pkg", version: "1.0", pythonTag: "py3", abiTag: "none", platform: "any", buildTag: null },
    ],
    [
      "Demo_Pkg-1.0-py2.py3-none-any.whl",
      { project: "demo-pkg", version: "1.0", pythonTag: "py2.py3", abiTag: "none", platform: "any", buildTag: null },
    ],
    [
      "zope.interface-4.0.5-cp27-cp27mu-linux_x86_64.whl",
      { project: "zope-interface", version: "4.0.5", pythonTag: "cp27", abiTag: "cp27mu", platform: "linux_x86_64", buildTag: null },
    ],
    [
      "numpy-2.1.0-1-cp312-cp312-win_amd64.whl",
      { project: "numpy", version: "2.1.0", pythonTag: "cp312", abiTag: "cp312", platform: "win_amd64", buildTag: "1" },
    ],
    [
      "numpy-2.1.0-12abc-cp312-cp312-win_amd64.whl",
      { project: "numpy", version: "2.1.0", pythonTag: "cp312", abiTag: "cp312", platform: "win_amd64", buildTag: "12abc" },
    ],
    [
      "natmod-0.3-cp39-cp39-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
      {
        project: "natmod",
        version: "0.3",
        pythonTag: "cp39",
        abiTag: "cp39",
        platform: "manylinux_2_17_x86_64.manylinux2014_x86_64",
        buildTag: null,
      },
    ],
    [
      "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl",
      { project: "torch", version: "2.13.0+cpu", pythonTag: "cp311", abiTag: "cp311", platform: "manylinux_2_28_x86_64", buildTag: null },
    ],
  ])("%s", (filename, expected) => {
    expect(parseFilename(filename)).toEqual({ filename, kind: "wheel", ...expected });
  });

  it("accepts a wheel of the known project", () => {
    expect(parseFilename("Demo_Pkg-1.0-py3-none-any.whl", "demo-pkg" as NormalizedName).project).toBe("demo-pkg");
  });

  it("rejects bad-name-1.0-py3-none-any.whl, whose version part 'name' is not PEP 440", () => {
    const error = rejection("bad-name-1.0-py3-none-any.whl");
    expect(error.status).toBe(400);
    expect(error.message).toMatch(/Invalid version "name"/);
  });

  it.each([
    ["demo-1.0-none-any.whl", /expected name-version\[-build\]-python-abi-platform\.whl/],
    ["demo-1.0-1-2-py3-none-any.whl", /expected name-version\[-build\]-python-abi-platform\.whl/],
    ["demo-1.0-beta-py3-none-any.whl", /build tag must start with a digit/],
    ["demo__pkg-1.0-py3-none-any.whl", /bad project name part/],
    ["demo-1.0-py3-none-.whl", /malformed compatibility tags/],
    // Found by fuzzing: an empty tag inside a compressed tag set.
    ["demo-1.0-..py3-none-any.whl", /malformed compatibility tags/],
    ["demo-1.0-py2..py3-none-any.whl", /malformed compatibility tags/],
  ])("rejects the malformed wheel %s", (filename, message) => {
    const error = rejection(filename);
    expect(error.status).toBe(400);
    expect(error.message).toMatch(message);
  });
});

describe("parseFilename: sdists", () => {
  it.each<[string, string | undefined, string, string]>([
    ["demo_pkg-1.0.tar.gz", undefined, "demo-pkg", "1.0"],
    ["Demo_Pkg-1.0.tar.gz", undefined, "demo-pkg", "1.0"],
    ["demo_pkg-1.0.zip", undefined, "demo-pkg", "1.0"],
    ["demo_pkg-1.0.tar.bz2", undefined, "demo-pkg", "1.0"],
    ["dep-a-1.0.tar.gz", "dep-a", "dep-a", "1.0"],
    ["dep-a-1.0-1.tar.gz", "dep-a", "dep-a", "1.0.post1"],
    ["demo_pkg-1.0.0-RC1.tar.gz", "demo-pkg", "demo-pkg", "1.0.0rc1"],
    ["demo_pkg-1.0+local.tar.gz", undefined, "demo-pkg", "1.0+local"],
  ])("%s (known project %s)", (filename, knownProject, project, version) => {
    expect(parseFilename(filename, knownProject as NormalizedName | undefined)).toEqual({
      filename,
      kind: "sdist",
      project,
      version,
      pythonTag: "source",
      abiTag: null,
      platform: null,
      buildTag: null,
    });
  });

  it.each(["-1.0.tar.gz", "demo-.tar.gz", "demo.tar.gz"])("rejects %s, which has no name-version split", (filename) => {
    const error = rejection(filename);
    expect(error.status).toBe(400);
    expect(error.message).toMatch(/Invalid (sdist filename|version)/);
  });
});

describe("parseFilename: eggs", () => {
  it.each<[string, string, string, string | null]>([
    ["python_dateutil-2.1-py2.7.egg", "python-dateutil", "2.1", null],
    ["Demo_Pkg-1.0-py2.7.egg", "demo-pkg", "1.0", null],
    ["psycopg2-2.4.5-py2.7-linux-x86_64.egg", "psycopg2", "2.4.5", "linux-x86_64"],
    ["numpy-1.6.1-py2.7-macosx-10.4-x86_64.egg", "numpy", "1.6.1", "macosx-10.4-x86_64"],
    ["Twisted-12.0.0-py2.7-freebsd-9.0-RELEASE-amd64.egg", "twisted", "12.0.0", "freebsd-9.0-RELEASE-amd64"],
    ["zope.interface-4.0.5-py2.7-win32.egg", "zope-interface", "4.0.5", "win32"],
    ["foo_bar-1.0_beta-py2.7.egg", "foo-bar", "1.0b0", null],
  ])("%s", (filename, project, version, platform) => {
    expect(parseFilename(filename)).toEqual({
      filename,
      kind: "egg",
      project,
      version,
      pythonTag: "py2.7",
      abiTag: null,
      platform,
      buildTag: null,
    });
  });

  it.each(["foo-bar-1.0-py2.7.egg", "foo-1.0.egg", "foo-1.0-py2.7-.egg"])(
    "rejects %s, which does not follow name-version-pyX.Y[-platform] with '-' escaped",
    (filename) => {
      const error = rejection(filename);
      expect(error.status).toBe(400);
      expect(error.message).toMatch(/Invalid egg filename .*expected name-version-pyX\.Y\[-platform\]\.egg/);
    },
  );
});

describe("parseFilename: rejections", () => {
  const characters = /Invalid filename .*uses only ASCII letters, digits and \. _ - \+ !/;
  const extension = /expected an sdist \(\.tar\.gz, \.tar\.bz2, \.zip\), a wheel \(\.whl\) or an egg \(\.egg\)/;
  const version = /Invalid version .* is not a PEP 440 version/;
  const otherProject = /does not belong to project/;
  const noName = /Invalid filename .*: ".*" is no project name/;

  it.each<[string, string, string | undefined, RegExp]>([
    ["path traversal", "../x-1.0.tar.gz", undefined, characters],
    ["a subdirectory", "a/b-1.0.whl", undefined, characters],
    ["an absolute path", "/etc/x-1.0.tar.gz", undefined, characters],
    ["a backslash", "..\\x-1.0.tar.gz", undefined, characters],
    ["a leading dot", ".x-1.0.tar.gz", undefined, characters],
    ["a space", "demo pkg-1.0.tar.gz", undefined, characters],
    ["a semicolon", "demo;rm-1.0.tar.gz", undefined, characters],
    ["a command substitution", "demo$(id)-1.0.tar.gz", undefined, characters],
    ["a backtick", "demo`id`-1.0.tar.gz", undefined, characters],
    ["non-ASCII", "dëmo-1.0.tar.gz", undefined, characters],
    ["a NUL byte", "demo-1.0.tar.gz\0.whl", undefined, characters],
    ["a newline", "demo-1.0.tar.gz\n", undefined, characters],
    ["an overlong name", `${"a".repeat(250)}-1.0.tar.gz`, undefined, characters],
    ["an .exe", "demo-1.0.win32.exe", undefined, extension],
    ["an .rpm", "demo-1.0-1.noarch.rpm", undefined, extension],
    ["a .tar.xz", "demo-1.0.tar.xz", undefined, extension],
    ["a .tgz", "demo-1.0.tgz", undefined, extension],
    ["no extension", "demo-1.0", undefined, extension],
    ["a legacy sdist version", "tzdata-2004d.tar.gz", undefined, version],
    ["a non-PEP 440 wheel version", "demo-foo-py3-none-any.whl", undefined, version],
    ["a non-PEP 440 egg version", "demo-1.0.x.y-py2.7.egg", undefined, version],
    ["a trailing-dash version", "demo-1.0_-py3-none-any.whl", undefined, version],
    ["an empty local version", "demo-1.0+-py3-none-any.whl", undefined, version],
    ["an sdist of another project", "demo_pkg-1.0.tar.gz", "other", otherProject],
    ["a wheel of another project", "demo_pkg-1.0-py3-none-any.whl", "other", otherProject],
    ["an egg of another project", "demo_pkg-1.0-py2.7.egg", "other", otherProject],
    ["a wheel of a project that only shares a prefix", "dep_a-1.0-py3-none-any.whl", "dep", otherProject],
    // Names no route could look up again (`pydepot import` has no form to claim one).
    ["an sdist name with a plus", "foo+bar-1.0.tar.gz", undefined, noName],
    ["an sdist name ending in a dot", "foo.-1.0.tar.gz", undefined, noName],
    ["an egg name in underscores", "_foo_-1.0-py2.7.egg", undefined, noName],
    ["a wheel name starting with a dot-like separator", "_demo-1.0-py3-none-any.whl", undefined, noName],
  ])("rejects %s: %j (known project %s)", (_, filename, knownProject, message) => {
    const error = rejection(filename, knownProject);
    expect(error.status).toBe(400);
    expect(error.message).toMatch(message);
  });

  it("does not split dep-a-1.0.tar.gz at a dash that does not end the known project's name", () => {
    const error = rejection("dep-a-1.0.tar.gz", "dep");
    expect(error.status).toBe(400);
    expect(error.message).toMatch(version);
  });
});

describe("parseDistInfoFolder", () => {
  it.each<[string, { project: string; version: string } | null]>([
    ["demo_pkg-1.0.dist-info", { project: "demo-pkg", version: "1.0" }],
    ["Demo.Pkg-1.0.0.dist-info", { project: "demo-pkg", version: "1.0.0" }],
    ["demo-1.0_post1.dist-info", { project: "demo", version: "1.0.post1" }],
    ["demo-1.0+local.dist-info", { project: "demo", version: "1.0+local" }],
    ["demo.dist-info", null],
    ["demo-banana.dist-info", null],
    ["demo-2.0-extra.dist-info", null],
    ["-1.0.dist-info", null],
  ])("%s", (folder, expected) => {
    expect(parseDistInfoFolder(folder)).toEqual(expected);
  });
});

describe("distributionSlot: one slot for what pip takes for one file", () => {
  it.each([
    ["demo-1.0-py2.py3-none-any.whl", "demo-1.0-py3.py2-none-any.whl"],
    ["demo-1.0-py2.py3-none-any.whl", "demo-1.0-py3.py2.py3-NONE-any.whl"],
    ["demo-1.0-1-py3-none-any.whl", "demo-1.0-01-py3-none-any.whl"],
    ["demo-1.0-1a-py3-none-any.whl", "demo-1.0-001a-py3-none-any.whl"],
    ["demo-1.0-py2.7-linux-x86_64.egg", "Demo-1.0-py2.7-Linux-X86_64.egg"],
  ])("%s and %s", (one, other) => {
    expect(distributionSlot(parseFilename(one))).toBe(distributionSlot(parseFilename(other)));
  });

  it.each([
    ["demo-1.0-py3-none-any.whl", "demo-1.0-py2.py3-none-any.whl"],
    ["demo-1.0-1-py3-none-any.whl", "demo-1.0-10-py3-none-any.whl"],
    ["demo-1.0-1a-py3-none-any.whl", "demo-1.0-1b-py3-none-any.whl"],
    ["demo-1.0-py3-none-any.whl", "demo-1.0-1-py3-none-any.whl"],
  ])("not %s and %s", (one, other) => {
    expect(distributionSlot(parseFilename(one))).not.toBe(distributionSlot(parseFilename(other)));
  });
});
