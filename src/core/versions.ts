import pep440 from "@renovatebot/pep440";
import { badRequest } from "./errors.js";
import type { Version } from "./types.js";

/**
 * The largest number a version may hold: the PEP 440 library reads each number as a JavaScript
 * number, so past this it rounds (`1.99999999999999999999` → `1.100000000000000000000`) and two
 * releases, or a filename and metadata that disagree, became one version.
 */
const LARGEST_NUMBER = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * The only importer of the PEP 440 library. Its clean() joins local segments with commas
 * (`1.0+ubuntu-1` → `1.0+ubuntu,1`), so the local label is normalized here instead.
 * Null for text that is no PEP 440 version; a 400 for one holding a number the library would round.
 */
export function normalizeVersion(raw: string): Version | null {
  const text = raw.trim();
  const plus = text.indexOf("+");
  const publicPart = plus === -1 ? text : text.slice(0, plus);
  const localPart = plus === -1 ? "" : text.slice(plus + 1);
  if (plus !== -1 && !/^[a-z0-9]+([-_.][a-z0-9]+)*$/i.test(localPart)) return null;
  const cleaned = pep440.clean(publicPart);
  if (!cleaned || cleaned.includes("+")) return null;
  // Every digit run of a public version is a number: epoch, release, pre-, post- and dev-release.
  const oversized = publicPart.match(/\d+/g)?.find((digits) => BigInt(digits) > LARGEST_NUMBER);
  if (oversized !== undefined) {
    throw badRequest(`Invalid version ${JSON.stringify(raw)}: its number ${oversized} is larger than ${LARGEST_NUMBER}, the largest a version number may be here`);
  }
  const local = localPart
    .toLowerCase()
    .split(/[-_.]/)
    .map((segment) => (/^\d+$/.test(segment) ? BigInt(segment).toString() : segment))
    .join(".");
  return (local ? `${cleaned}+${local}` : cleaned) as Version;
}

export function parseVersion(raw: string): Version {
  const version = normalizeVersion(raw);
  if (!version) throw badRequest(`Invalid version ${JSON.stringify(raw)}: it is not a PEP 440 version`);
  return version;
}

export function compareVersions(a: Version, b: Version): number {
  return pep440.compare(a, b);
}

/**
 * Normalized versions that PEP 440 compares equal (`1.0`, `1.0.0`) differ only in their release's
 * trailing zeros, so they have the same key: every `.0` component dropped. Unequal ones may share
 * a key (`1.0.1`, `1.1`); it is a cheap filter before `compareVersions`, which parses both.
 */
export function equalityKey(version: Version): string {
  return version.replace(/(?:\.0)+(?!\d)/g, "");
}

/**
 * The longest Requires-Python read. Real ones are under 100 characters; the PEP 440 library takes
 * some 20 µs a clause, and planning and the checker test a file's specifier against every target
 * and interpreter on the event loop, so a 3.7 KB sdist whose PKG-INFO held a 3.6 MB one (900,000
 * `>=1,` clauses) held the whole server for two minutes.
 */
export const MAX_REQUIRES_PYTHON_CHARS = 1000;

/** A distribution's Requires-Python as read from its metadata (`source` names the file), or a 400 when it is longer than any real one. */
export function parseRequiresPython(specifier: string | null, source: string): string | null {
  if (specifier !== null && specifier.length > MAX_REQUIRES_PYTHON_CHARS) {
    throw badRequest(`Invalid ${source}: its Requires-Python is ${specifier.length} characters long; at most ${MAX_REQUIRES_PYTHON_CHARS} are read`);
  }
  return specifier;
}

/**
 * Whether an interpreter version satisfies a Requires-Python specifier; an unparseable one excludes
 * nothing, and so does one past the limit (a row stored before it), which is never parsed.
 */
export function satisfiesRequiresPython(pythonVersion: string, specifier: string | null): boolean {
  if (!specifier || specifier.length > MAX_REQUIRES_PYTHON_CHARS || !pep440.validRange(specifier)) return true;
  return pep440.satisfies(pythonVersion, specifier, { prereleases: true });
}
