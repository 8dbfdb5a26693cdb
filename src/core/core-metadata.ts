import { badRequest } from "./errors.js";

/** Core metadata headers (PKG-INFO / METADATA), keyed by lowercase field name, in file order. */
export type CoreMetadata = Map<string, string[]>;

/** Parse the RFC 822 header block of a core metadata file the way Python's email parser does, with the fields every reader needs. */
export function parseCoreMetadata(text: string, source: string): CoreMetadata {
  const headers = parseHeaders(text, source);
  const version = headers.get("metadata-version")?.[0];
  if (!version) throw badRequest(`Invalid ${source}: no Metadata-Version`);
  // The core metadata spec: a reader fails on a major version it does not know and reads a newer minor one.
  if (Number.parseInt(version, 10) > 2) throw badRequest(`Unsupported ${source}: Metadata-Version ${version}`);
  // parseInt reads "banana" as no major version at all and "2.1<script>" as 2.
  if (!/^\d+\.\d+$/.test(version)) throw badRequest(`Invalid ${source}: Metadata-Version ${JSON.stringify(version)} is not MAJOR.MINOR`);
  for (const field of ["name", "version"]) {
    if (!headers.get(field)?.[0]) throw badRequest(`Invalid ${source}: no ${field === "name" ? "Name" : "Version"}`);
  }
  return headers;
}

/**
 * Check a wheel's WHEEL file as pip does before it installs anything: a Wheel-Version of dotted
 * numbers whose major version is 1 (pip refuses a later one; a later minor one only warns).
 */
export function checkWheelFile(text: string, source: string): void {
  const version = parseHeaders(text, source).get("wheel-version")?.[0];
  if (!version) throw badRequest(`Invalid ${source}: no Wheel-Version, so pip refuses to install the wheel`);
  if (!/^\d+(\.\d+)*$/.test(version)) throw badRequest(`Invalid ${source}: Wheel-Version ${JSON.stringify(version)} is not dotted numbers, so pip refuses to install the wheel`);
  if (Number.parseInt(version, 10) > 1) throw badRequest(`Unsupported ${source}: Wheel-Version ${version}, which pip refuses to install (it knows 1.x)`);
}

/** Headers until the first blank line, indented lines continuing the previous header (core metadata, WHEEL). */
function parseHeaders(text: string, source: string): CoreMetadata {
  const headers: CoreMetadata = new Map();
  let last: { name: string; values: string[] } | null = null;
  for (const line of text.replace(/\r\n?/g, "\n").split("\n")) {
    if (line === "") break;
    if (/^[ \t]/.test(line)) {
      if (!last) throw badRequest(`Invalid ${source}: it starts with an indented line`);
      last.values[last.values.length - 1] += `\n${line.trim()}`;
      continue;
    }
    const colon = line.indexOf(":");
    if (colon <= 0) throw badRequest(`Invalid ${source}: ${JSON.stringify(line.slice(0, 60))} is not a "Field: value" line`);
    const name = line.slice(0, colon).trim().toLowerCase();
    const values = headers.get(name) ?? [];
    values.push(line.slice(colon + 1).trim());
    headers.set(name, values);
    last = { name, values };
  }
  return headers;
}

export function single(metadata: CoreMetadata, field: string): string | null {
  const value = metadata.get(field)?.[0];
  return value && value !== "UNKNOWN" ? value : null;
}

/** An egg's requires.txt as Requires-Dist values (sections are `[extra]`, `[:marker]`, `[extra:marker]`). */
export function eggRequirements(requiresTxt: string): string[] {
  const requirements: string[] = [];
  let extra = "";
  let marker = "";
  for (const raw of requiresTxt.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const section = /^\[(.*)\]$/.exec(line);
    if (section) {
      [extra, marker = ""] = section[1].split(":", 2);
      continue;
    }
    const conditions = [marker && (extra ? `(${marker})` : marker), extra && `extra == "${extra}"`].filter(Boolean);
    requirements.push(conditions.length ? `${line}; ${conditions.join(" and ")}` : line);
  }
  return requirements;
}
