import { createHash, randomBytes } from "node:crypto";
import { execFileSync } from "node:child_process";
import { createWriteStream } from "node:fs";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import yazl from "yazl";

/** A fixed timestamp makes the zips deterministic: the same (project, version) gives the same bytes. */
const MTIME = new Date("2024-01-01T00:00:00Z");

export interface WheelSpec {
  /** PEP 503 normalized project name, e.g. `bench-project-0001`. */
  project: string;
  version: string;
}

export const SUMMARY = "pydepot bench filler";
export const REQUIRES_PYTHON = ">=3.8";

/** The `_`-separated name part of a wheel filename and its top-level module. */
export function distributionName(project: string): string {
  return project.replace(/-/g, "_");
}

export function wheelFilename(spec: WheelSpec): string {
  return `${distributionName(spec.project)}-${spec.version}-py3-none-any.whl`;
}

export function metadataText(spec: WheelSpec): string {
  return [
    "Metadata-Version: 2.1",
    `Name: ${spec.project}`,
    `Version: ${spec.version}`,
    `Summary: ${SUMMARY}`,
    `Requires-Python: ${REQUIRES_PYTHON}`,
    "",
  ].join("\n");
}

/**
 * The members of a minimal valid wheel (METADATA, WHEEL, RECORD and one module); a large stored
 * member can be added for the upload scenario.
 */
function addMembers(zip: yazl.ZipFile, spec: WheelSpec): void {
  const distInfo = `${distributionName(spec.project)}-${spec.version}.dist-info`;
  const members: [string, Buffer][] = [
    [`${distributionName(spec.project)}/__init__.py`, Buffer.from(`__version__ = "${spec.version}"\n`)],
    [`${distInfo}/METADATA`, Buffer.from(metadataText(spec))],
    [`${distInfo}/WHEEL`, Buffer.from("Wheel-Version: 1.0\nGenerator: pydepot-bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n")],
  ];
  const record = members.map(([name, bytes]) => `${name},sha256=${createHash("sha256").update(bytes).digest("base64url")},${bytes.length}`);
  members.push([`${distInfo}/RECORD`, Buffer.from([...record, `${distInfo}/RECORD,,`, ""].join("\n"))]);
  for (const [name, bytes] of members) zip.addBuffer(bytes, name, { mtime: MTIME, compress: false });
}

/** A small wheel in memory. */
export async function wheelBytes(spec: WheelSpec): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  addMembers(zip, spec);
  zip.end();
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export interface BigWheel {
  path: string;
  filename: string;
  size: number;
  sha256: string;
  blake2b256: string | null;
}

/**
 * A wheel of about `payloadBytes` written to `file`: a small METADATA and one big *stored* member of
 * random bytes, streamed (never held in memory) and hashed as it is written. BLAKE2b-256 comes
 * from coreutils' b2sum (C), many times faster than a JavaScript BLAKE2b.
 */
export async function writeBigWheel(file: string, spec: WheelSpec, payloadBytes: number, withBlake2: boolean): Promise<BigWheel> {
  const zip = new yazl.ZipFile();
  addMembers(zip, spec);
  zip.addReadStream(randomStream(payloadBytes), `${distributionName(spec.project)}/payload.bin`, { compress: false, size: payloadBytes, mtime: MTIME });
  zip.end();
  const sha256 = createHash("sha256");
  let size = 0;
  const hashing = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      size += chunk.length;
      sha256.update(chunk);
      done(null, chunk);
    },
  });
  await pipeline(zip.outputStream, hashing, createWriteStream(file));
  return {
    path: file,
    filename: wheelFilename(spec),
    size,
    sha256: sha256.digest("hex"),
    blake2b256: withBlake2 ? execFileSync("b2sum", ["-l", "256", file], { encoding: "utf8" }).split(" ")[0] : null,
  };
}

function randomStream(total: number): Readable {
  const chunkBytes = 1024 * 1024;
  return Readable.from(
    (function* () {
      for (let sent = 0; sent < total; sent += chunkBytes) yield randomBytes(Math.min(chunkBytes, total - sent));
    })(),
  );
}
