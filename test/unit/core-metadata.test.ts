import { describe, expect, it } from "vitest";
import { eggRequirements, parseCoreMetadata, single } from "../../src/core/core-metadata.js";
import { AppError } from "../../src/core/errors.js";

const SOURCE = "METADATA in demo_pkg-1.0-py3-none-any.whl";

function rejection(text: string): AppError {
  try {
    parseCoreMetadata(text, SOURCE);
  } catch (error) {
    expect(error).toBeInstanceOf(AppError);
    return error as AppError;
  }
  throw new Error("parseCoreMetadata accepted the text");
}

const lines = (...text: string[]) => text.join("\n");

describe("parseCoreMetadata", () => {
  it("reads single and repeated fields, keyed by lowercase name, in file order", () => {
    const metadata = parseCoreMetadata(
      lines(
        "Metadata-Version: 2.1",
        "Name: Demo_Pkg",
        "Version: 1.0",
        "Requires-Python: >=3.8",
        "Classifier: Programming Language :: Python :: 3",
        "Requires-Dist: dep-a (>=1.0)",
        "Classifier: License :: OSI Approved :: MIT License",
        'Requires-Dist: enum34 ; python_version < "3.4"',
        "requires-dist: ujson ; extra == 'fast'",
        "Project-URL: Homepage, https://example.invalid/demo",
      ),
      SOURCE,
    );
    expect(metadata.get("name")).toEqual(["Demo_Pkg"]);
    expect(single(metadata, "version")).toBe("1.0");
    expect(single(metadata, "requires-python")).toBe(">=3.8");
    expect(metadata.get("requires-dist")).toEqual(["dep-a (>=1.0)", 'enum34 ; python_version < "3.4"', "ujson ; extra == 'fast'"]);
    expect(metadata.get("classifier")).toEqual(["Programming Language :: Python :: 3", "License :: OSI Approved :: MIT License"]);
    expect(metadata.get("project-url")).toEqual(["Homepage, https://example.invalid/demo"]);
  });

  it("joins indented continuation lines to the field above", () => {
    const metadata = parseCoreMetadata(
      lines(
        "Metadata-Version: 1.0",
        "Name: demo",
        "Version: 1.0",
        "Summary: a summary that",
        "    goes on",
        "\tand on",
        "Description: first line",
        "        ",
        "        |third line",
        "Author: someone",
      ),
      SOURCE,
    );
    expect(metadata.get("summary")?.[0].split(/\s+/).join(" ")).toBe("a summary that goes on and on");
    expect(metadata.get("description")?.[0]).toMatch(/^first line\s+\|third line$/);
    expect(metadata.get("author")).toEqual(["someone"]);
  });

  it("ignores the body after the first blank line, even text that looks like fields", () => {
    const metadata = parseCoreMetadata(
      lines("Metadata-Version: 2.1", "Name: demo", "Version: 1.0", "", "Requires-Dist: evil", "Version: 6.6.6", "# Demo"),
      SOURCE,
    );
    expect(metadata.get("requires-dist")).toBeUndefined();
    expect(metadata.get("version")).toEqual(["1.0"]);
  });

  it("reads CRLF line endings like LF", () => {
    const text = "Metadata-Version: 2.1\r\nName: demo\r\nVersion: 1.0\r\nSummary: one\r\n  two\r\n\r\nRequires-Dist: evil\r\n";
    const metadata = parseCoreMetadata(text, SOURCE);
    expect(metadata.get("version")).toEqual(["1.0"]);
    expect(metadata.get("summary")?.[0].split(/\s+/).join(" ")).toBe("one two");
    expect(metadata.get("requires-dist")).toBeUndefined();
  });

  it.each(["1.0", "1.1", "1.2", "2.0", "2.1", "2.4", "2.9"])("accepts Metadata-Version %s", (metadataVersion) => {
    const metadata = parseCoreMetadata(lines(`Metadata-Version: ${metadataVersion}`, "Name: demo", "Version: 1.0"), SOURCE);
    expect(single(metadata, "metadata-version")).toBe(metadataVersion);
  });

  it.each([
    ["no Metadata-Version", lines("Name: demo", "Version: 1.0"), `Invalid ${SOURCE}: no Metadata-Version`],
    ["no Name", lines("Metadata-Version: 2.1", "Version: 1.0"), `Invalid ${SOURCE}: no Name`],
    ["no Version", lines("Metadata-Version: 2.1", "Name: demo"), `Invalid ${SOURCE}: no Version`],
    ["an empty Name", lines("Metadata-Version: 2.1", "Name:", "Version: 1.0"), `Invalid ${SOURCE}: no Name`],
    ["the Version only in the body", lines("Metadata-Version: 2.1", "Name: demo", "", "Version: 1.0"), `Invalid ${SOURCE}: no Version`],
    ["Metadata-Version 3.0", lines("Metadata-Version: 3.0", "Name: demo", "Version: 1.0"), `Unsupported ${SOURCE}: Metadata-Version 3.0`],
    // Found by fuzzing: a continuation line made the message two lines long.
    ["a Metadata-Version on two lines", lines("Metadata-Version: 10", "\tmore", "Name: demo", "Version: 1.0"), `Unsupported ${SOURCE}: Metadata-Version 10\\nmore`],
    ["a Metadata-Version that is no version", lines("Metadata-Version: banana", "Name: demo", "Version: 1.0"), `Invalid ${SOURCE}: Metadata-Version "banana" is not MAJOR.MINOR`],
    ["a Metadata-Version with a tail", lines("Metadata-Version: 2.1 beta", "Name: demo", "Version: 1.0"), `Invalid ${SOURCE}: Metadata-Version "2.1 beta" is not MAJOR.MINOR`],
    ["an empty file", "", `Invalid ${SOURCE}: no Metadata-Version`],
    ["an indented first line", lines("  Metadata-Version: 2.1", "Name: demo"), `Invalid ${SOURCE}: it starts with an indented line`],
    ["a line that is not a field", lines("Metadata-Version: 2.1", "Name: demo", "Version: 1.0", "garbage"), `Invalid ${SOURCE}: "garbage" is not a "Field: value" line`],
  ])("answers 400 for %s", (_, text, message) => {
    const error = rejection(text);
    expect(error.status).toBe(400);
    expect(error.message).toBe(message);
  });
});

describe("single", () => {
  it("treats setuptools' UNKNOWN placeholder and a missing field as absent", () => {
    const metadata = parseCoreMetadata(lines("Metadata-Version: 1.0", "Name: demo", "Version: 1.0", "Summary: UNKNOWN"), SOURCE);
    expect(single(metadata, "summary")).toBeNull();
    expect(single(metadata, "requires-python")).toBeNull();
    expect(single(metadata, "name")).toBe("demo");
  });
});

describe("eggRequirements", () => {
  it("turns the requires.txt sections of protocols doc §6.3 into Requires-Dist values with markers", () => {
    const requiresTxt = ["six>=1.0", "", '[:python_version < "3.4"]', "enum34", "", "[fast]", "ujson", "", '[win:sys_platform=="win32"]', "pywin32", ""].join("\n");
    expect(eggRequirements(requiresTxt)).toEqual([
      "six>=1.0",
      'enum34; python_version < "3.4"',
      'ujson; extra == "fast"',
      'pywin32; (sys_platform=="win32") and extra == "win"',
    ]);
  });

  it("reads CRLF files, skips comments and blank lines", () => {
    expect(eggRequirements("# generated\r\nsix>=1.0\r\n\r\n[fast]\r\nujson\r\n")).toEqual(["six>=1.0", 'ujson; extra == "fast"']);
  });

  it("gives nothing for an empty requires.txt", () => {
    expect(eggRequirements("")).toEqual([]);
  });
});
