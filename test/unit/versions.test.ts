import { describe, expect, it } from "vitest";
import { AppError } from "../../src/core/errors.js";
import { compareVersions, equalityKey, normalizeVersion, parseVersion, satisfiesRequiresPython } from "../../src/core/versions.js";
import type { Version } from "../../src/core/types.js";

const version = (text: string): Version => parseVersion(text);

describe("normalizeVersion / parseVersion", () => {
  // protocols doc §7.1, checked against Python `packaging`
  it.each([
    ["1.0.0-RC1", "1.0.0rc1"],
    ["1.0a", "1.0a0"],
    ["1.0.dev", "1.0.dev0"],
    ["1.0.post", "1.0.post0"],
    ["1.0c1", "1.0rc1"],
    ["1.0preview2", "1.0rc2"],
    ["2.0.0beta", "2.0.0b0"],
    ["1.0alpha3", "1.0a3"],
    ["1.0-1", "1.0.post1"],
    ["1.0-r4", "1.0.post4"],
    ["1.0_post_3", "1.0.post3"],
    ["01.02", "1.2"],
    ["v1.0", "1.0"],
    [" 1.0 ", "1.0"],
    ["1.0+Ubuntu-1", "1.0+ubuntu.1"],
    ["1.0+ABC_x", "1.0+abc.x"],
    ["1.0+abc.05", "1.0+abc.5"],
    ["1!2.0rc1.post2.dev3+abc.1", "1!2.0rc1.post2.dev3+abc.1"],
    ["2.13.0+cpu", "2.13.0+cpu"],
  ])("%j → %s", (input, normal) => {
    expect(normalizeVersion(input)).toBe(normal);
    expect(parseVersion(input)).toBe(normal);
  });

  it.each(["2004d", "1.0-", "foo", "", "   ", "1.0+", "1.0+a..b", "1.0+_a", "1.0+a b", "1.0.0.0-x-y", "1..0"])(
    "%j is not PEP 440: null, and parseVersion answers 400",
    (input) => {
      expect(normalizeVersion(input)).toBeNull();
      let thrown: unknown;
      try {
        parseVersion(input);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(AppError);
      expect((thrown as AppError).status).toBe(400);
      expect((thrown as AppError).message).toBe(`Invalid version ${JSON.stringify(input)}: it is not a PEP 440 version`);
    },
  );

  it.each([
    ["1.99999999999999999999", "99999999999999999999"],
    ["9007199254740992", "9007199254740992"],
    ["1.0rc9007199254740993", "9007199254740993"],
    ["1.0.post1.dev00000000000000000000000012345678901234567890", "00000000000000000000000012345678901234567890"],
  ])("%j: a number past 2^53 - 1 (which the library rounds) → 400 naming it", (input, number) => {
    expect(() => normalizeVersion(input)).toThrow(`Invalid version ${JSON.stringify(input)}: its number ${number} is larger than 9007199254740991`);
  });

  it("keeps 2^53 - 1 and numbers with leading zeros that fit", () => {
    expect(normalizeVersion("9007199254740991")).toBe("9007199254740991");
    expect(normalizeVersion("1.0000000000000000000000000001")).toBe("1.1");
  });
});

describe("compareVersions", () => {
  // the spec example chain from protocols doc §7.1, in ascending order
  const chain = [
    "1.dev0", "1.0.dev456", "1.0a1", "1.0a2.dev456", "1.0a12.dev456", "1.0a12", "1.0b1.dev456", "1.0b2",
    "1.0b2.post345.dev456", "1.0b2.post345", "1.0rc1.dev456", "1.0rc1", "1.0", "1.0+abc.5", "1.0+abc.7",
    "1.0+5", "1.0.post456.dev34", "1.0.post456", "1.0.15", "1.1.dev1",
  ].map(version);

  it("sorts the PEP 440 example chain back into order", () => {
    // a fixed permutation, so a failure reproduces: every 7th element, wrapping around
    const shuffled = chain.map((_, index) => chain[(index * 7) % chain.length]);
    expect(new Set(shuffled).size).toBe(chain.length);
    expect(shuffled).not.toEqual(chain);
    expect([...shuffled].sort(compareVersions)).toEqual(chain);
    expect([...chain].reverse().sort(compareVersions)).toEqual(chain);
  });

  it.each([
    ["2024.1", "1!0.5", "epoch wins over release"],
    ["1.0", "1.0+abc", "a local version sorts after its public version"],
    ["1.0+abc", "1.0+abc.5", "a longer local version wins when one is a prefix"],
    ["1.0+abc.7", "1.0+5", "numeric local segments beat alphanumeric ones"],
    ["1.0+5", "1.0.post1", "a post-release beats any local version"],
    ["1.0a1.dev1", "1.0a1", "a dev release of a pre-release comes before it"],
    ["1.0.post1.dev1", "1.0.post1", "a dev release of a post-release comes before it"],
    ["1.9", "1.10", "release segments compare as numbers"],
  ])("%s < %s (%s)", (lower, higher) => {
    expect(compareVersions(version(lower), version(higher))).toBeLessThan(0);
    expect(compareVersions(version(higher), version(lower))).toBeGreaterThan(0);
  });

  it.each([
    ["1.0", "1.0.0"],
    ["1.0c1", "1.0rc1"],
  ])("%s == %s", (left, right) => {
    expect(compareVersions(version(left), version(right))).toBe(0);
  });
});

describe("equalityKey", () => {
  // Every pair PEP 440 compares equal must share a key, or ingest lets a second spelling of a release in.
  const spellings = [
    "0", "0.0", "1", "1.0", "1.0.0", "1.0.0.0", "10", "10.0", "1.0.1", "1.0.1.0", "1.1", "1!0", "1!0.0",
    "1a0", "1.0a0", "1.0.0a0", "1.post0", "1.0.post0", "1.0.0.post0.dev0", "1.post0.dev0", "1.0+abc.0",
    "1+abc.0", "1.0+0", "1+0", "2.0rc1", "2rc1", "2.0.0.dev3", "2.dev3", "0.10", "0.1", "0.1.0",
  ].map(version);

  it("gives every two versions that compare equal the same key", () => {
    let equalPairs = 0;
    for (const left of spellings) {
      for (const right of spellings) {
        if (compareVersions(left, right) !== 0) continue;
        equalPairs++;
        expect(equalityKey(left), `${left} == ${right}`).toBe(equalityKey(right));
      }
    }
    expect(equalPairs).toBeGreaterThan(spellings.length + 20);
  });

  it("keeps apart versions that differ in more than trailing zeros", () => {
    expect(equalityKey(version("1.0"))).not.toBe(equalityKey(version("1.0.post0")));
    expect(equalityKey(version("0.10"))).not.toBe(equalityKey(version("0.1")));
    expect(equalityKey(version("1.0+abc"))).not.toBe(equalityKey(version("1.0")));
  });
});

describe("satisfiesRequiresPython", () => {
  it.each<[string, string | null, boolean]>([
    ["3.12", ">=3.8", true],
    ["2.7", ">=3.8", false],
    ["3.8", ">= 3.8", true],
    ["3.8", ">=3.8,<4", true],
    ["4.0", ">=3.8,<4", false],
    ["3.12", "~=3.7", true],
    ["3.6", "~=3.7", false],
    ["2.7.18", ">=2.7, !=3.0.*, !=3.1.*", true],
    ["3.1.4", ">=2.7, !=3.0.*, !=3.1.*", false],
    ["3.0.1", ">=2.7,!=3.0.*", false],
    ["3.13.0rc1", ">=3.8", true],
    ["2.7", null, true],
    ["2.7", "", true],
    ["2.7", "not a specifier", true],
  ])("Python %s with Requires-Python %j → %s", (python, specifier, expected) => {
    expect(satisfiesRequiresPython(python, specifier)).toBe(expected);
  });

  it("a specifier past the limit (a row stored before it) excludes nothing and is not parsed: 900,000 clauses took seconds each", () => {
    const started = Date.now();
    expect(satisfiesRequiresPython("2.7", `${">=3,".repeat(900_000)}>=3`)).toBe(true);
    expect(Date.now() - started).toBeLessThan(100);
  });
});
