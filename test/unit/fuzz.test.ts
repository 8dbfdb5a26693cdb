// Property-based tests (fast-check) of the parsers that see client input: random and mutated
// filenames, versions, core metadata and Accept headers either parse or are refused with the
// app's own 4xx error, never anything else.
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { AppError } from "../../src/core/errors.js";
import { parseCoreMetadata } from "../../src/core/core-metadata.js";
import { parseFilename } from "../../src/core/filenames.js";
import { parseProjectName } from "../../src/core/names.js";
import { normalizeVersion, parseVersion } from "../../src/core/versions.js";
import { negotiate } from "../../src/http/negotiate.js";
import { mutated, textOf } from "../support/mutations.js";

const RUNS = { numRuns: 2000 };

/** Run `parse`; a throw must be an AppError with a 4xx status and a one-line message. */
function parsesOrRefuses<T>(parse: () => T, status?: number): T | undefined {
  try {
    return parse();
  } catch (error) {
    expect(error).toBeInstanceOf(AppError);
    const { status: actual, message } = error as AppError;
    if (status) expect(actual).toBe(status);
    else expect(actual >= 400 && actual < 500).toBe(true);
    expect(message).not.toMatch(/\n/);
    return undefined;
  }
}

const FILENAMES = [
  "demo_pkg-1.0.post1-py3-none-any.whl",
  "demo-2.0-1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
  "demo-1.0.tar.gz",
  "dep-a-1.0.tar.bz2",
  "demo-1.0.zip",
  "demo-1.0-py2.7.egg",
  "demo-1.0-py2.7-linux-x86_64.egg",
];
const FILENAME_PIECES = ["-", "_", ".", "+", "!", "whl", "egg", "tar.gz", "zip", "py3", "none", "any", "1.0", "..", "/", "\\", " ", "é", "\0"];

const VERSIONS = ["1.0", "1.0.post1", "2!1.0rc1.dev3", "1.0+ubuntu-1", "v1.0", "1.0a1", "01.02.0003", "1.0-1"];
const VERSION_PIECES = ["1", "0", "99999999999999999999999", ".", "-", "_", "+", "!", "a", "b", "rc", "post", "dev", "v", "*", " ", "local"];

const METADATA = ["Metadata-Version: 2.1\nName: demo\nVersion: 1.0\nSummary: x\nRequires-Dist: a>=1\n\nbody", "Metadata-Version: 1.0\r\nName: demo\r\nVersion: 1.0\r\n"];
const METADATA_PIECES = ["\n", "\r\n", " ", "\t", ":", "Name", "Version", "Metadata-Version", "2.1", "3.0", "UNKNOWN", "\n\n"];

const ACCEPTS = ["application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01", "text/html", "*/*", ""];
const ACCEPT_PIECES = [",", ";", "q=", "0", "1", "0.5", "=", " ", "*/*", "text/*", "text/html", "application/*", "application/vnd.pypi.simple.v1+json", "application/vnd.pypi.simple.latest+html", "NaN", "1e3", "-1"];

describe("fuzzing the parsers of client input", () => {
  test("filenames: parsed or refused with 400, and a parsed name is safe to use as a path", () => {
    fc.assert(
      fc.property(fc.oneof(mutated(FILENAMES, textOf(FILENAME_PIECES)), textOf(FILENAME_PIECES)), fc.option(fc.constantFrom("demo", "demo-pkg", "dep-a", "Demo_Pkg"), { nil: undefined }), (filename, known) => {
        const parsed = parsesOrRefuses(() => parseFilename(filename, known === undefined ? undefined : parseProjectName(known)), 400);
        // Safe as one path component: files/<project>/<filename> and the download URL.
        if (parsed) expect(parsed.filename).toMatch(/^[A-Za-z0-9][A-Za-z0-9._+!-]*$/);
      }),
      RUNS,
    );
  });

  test("versions: parsed or refused with 400; a parsed version is already normal", () => {
    fc.assert(
      fc.property(fc.oneof(mutated(VERSIONS, textOf(VERSION_PIECES)), textOf(VERSION_PIECES)), (raw) => {
        const version = parsesOrRefuses(() => parseVersion(raw), 400);
        if (version) expect(normalizeVersion(version)).toBe(version);
      }),
      RUNS,
    );
  });

  test("core metadata: parsed or refused with 400", () => {
    fc.assert(
      fc.property(fc.oneof(mutated(METADATA, textOf(METADATA_PIECES)), textOf(METADATA_PIECES)), (text) => {
        parsesOrRefuses(() => parseCoreMetadata(text, "METADATA"), 400);
      }),
      RUNS,
    );
  });

  test("Accept headers: one of the three page formats, or 406", () => {
    fc.assert(
      fc.property(fc.oneof(mutated(ACCEPTS, textOf(ACCEPT_PIECES)), textOf(ACCEPT_PIECES)), (accept) => {
        const format = parsesOrRefuses(() => negotiate(accept), 406);
        if (format) expect(["text/html", "application/vnd.pypi.simple.v1+html", "application/vnd.pypi.simple.v1+json"]).toContain(format);
      }),
      RUNS,
    );
  });
});
