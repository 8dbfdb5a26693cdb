import { badRequest } from "./errors.js";
import type { NormalizedName } from "./types.js";

const VALID_NAME = /^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$/i;

/** PEP 503: lowercase, every run of `-`, `_`, `.` becomes one `-`. */
export function normalize(name: string): NormalizedName {
  return name.replace(/[-_.]+/g, "-").toLowerCase() as NormalizedName;
}

/** The project a PEP 508 requirement names (`py3-dep>=1.0; python_version >= "3"` → `py3-dep`), or null when it names none. */
export function requirementName(requirement: string): NormalizedName | null {
  const name = /^\s*([A-Z0-9](?:[A-Z0-9._-]*[A-Z0-9])?)/i.exec(requirement)?.[1];
  return name === undefined ? null : normalize(name);
}

export function isValidName(name: string): boolean {
  return VALID_NAME.test(name);
}

/** The normalized form of a project name, or a 400 naming the rule it breaks. */
export function parseProjectName(name: string): NormalizedName {
  if (!isValidName(name)) {
    throw badRequest(
      `Invalid project name ${JSON.stringify(name)}: use ASCII letters, digits, '.', '_' and '-', starting and ending with a letter or digit`,
    );
  }
  return normalize(name);
}
