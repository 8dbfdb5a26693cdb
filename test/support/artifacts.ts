// Small but valid distribution files (wheel, egg, sdist) built in TypeScript for HTTP-level
// tests, plus the hostile ones (archive bombs, truncated or fake archives, lying metadata).
// Files built by the real Python tools live in packages.ts; these are for tests that need many
// variations quickly. Same options → same bytes (fixed timestamps).
import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import type { Writable } from "node:stream";
import { crc32, createGzip, gzipSync } from "node:zlib";
import tar from "tar-stream";
import yazl from "yazl";

export type ArtifactKind = "sdist" | "wheel" | "egg";

export interface Artifact {
  filename: string;
  bytes: Buffer;
  /** Project name and version as given to the builder (what twine would send in the form). */
  name: string;
  version: string;
  kind: ArtifactKind;
}

export interface Wheel extends Artifact {
  /** The exact bytes of `<name>-<version>.dist-info/METADATA` (what `.metadata` must serve). */
  metadata: Buffer;
}

export interface WheelOptions {
  name: string;
  version: string;
  /** Compressed tag set, `python-abi-platform`; default `py3-none-any`. */
  tags?: string;
  /** Optional build tag (must start with a digit). */
  build?: string;
  requiresPython?: string;
  requiresDist?: string[];
  /** The Summary field (default: "Test distribution NAME VERSION"). */
  summary?: string;
  /** More members, path → content (also a way to get different bytes under one filename). */
  extraFiles?: Record<string, string | Buffer>;
  /** The lines of top_level.txt (default: the one package the wheel holds). */
  topLevel?: string[];
}

export interface EggOptions {
  name: string;
  version: string;
  python: string;
  platform?: string;
  /** Content of EGG-INFO/requires.txt. */
  requires?: string;
  /** The lines of EGG-INFO/top_level.txt (default: the one package the egg holds). */
  topLevel?: string[];
}

export interface SdistOptions {
  name: string;
  version: string;
  format?: "tar.gz" | "zip" | "tar.bz2";
  requiresPython?: string;
  /** The Summary field (default: "Test distribution NAME VERSION"). */
  summary?: string;
  /** More members, by their path under the sdist's top folder. */
  extraFiles?: Record<string, string | Buffer>;
}

const MTIME = new Date("2024-05-01T12:00:00Z");
const MiB = 1024 * 1024;

/** PEP 503 normalization. */
export function normalized(name: string): string {
  return name.replace(/[-_.]+/g, "-").toLowerCase();
}

/** The name part of current wheel and sdist filenames: normalized, `-` → `_`. */
function filenameName(name: string): string {
  return normalized(name).replace(/-/g, "_");
}

export async function wheel(options: WheelOptions): Promise<Wheel> {
  return buildWheel(options, {});
}

/** A wheel whose METADATA says another Name and/or Version than its filename. */
export async function mismatchedWheel(options: WheelOptions & { metadataName?: string; metadataVersion?: string }): Promise<Wheel> {
  return buildWheel(options, { name: options.metadataName, version: options.metadataVersion });
}

async function buildWheel(options: WheelOptions, claimed: { name?: string; version?: string }): Promise<Wheel> {
  const { name, version, tags = "py3-none-any" } = options;
  const stem = `${filenameName(name)}-${version}`;
  const distInfo = `${stem}.dist-info`;
  const module = filenameName(name);
  const metadata = Buffer.from(
    coreMetadata({
      name: claimed.name ?? name,
      version: claimed.version ?? version,
      requiresPython: options.requiresPython,
      requiresDist: options.requiresDist,
      summary: options.summary,
    }),
  );
  const [python, abi, platform] = tags.split("-");
  const tagLines = python.split(".").flatMap((p) => abi.split(".").flatMap((a) => platform.split(".").map((pl) => `Tag: ${p}-${a}-${pl}`)));
  const members: Record<string, Buffer> = {
    [`${module}/__init__.py`]: Buffer.from(`__version__ = "${version}"\n`),
    ...asBuffers(options.extraFiles ?? {}),
    [`${distInfo}/METADATA`]: metadata,
    [`${distInfo}/WHEEL`]: Buffer.from(
      ["Wheel-Version: 1.0", "Generator: pydepot-tests", `Root-Is-Purelib: ${platform === "any"}`, ...tagLines]
        .concat(options.build ? [`Build: ${options.build}`, ""] : [""])
        .join("\n"),
    ),
    [`${distInfo}/top_level.txt`]: Buffer.from(`${(options.topLevel ?? [module]).join("\n")}\n`),
  };
  members[`${distInfo}/RECORD`] = record(members, `${distInfo}/RECORD`);
  return { filename: `${stem}${options.build ? `-${options.build}` : ""}-${tags}.whl`, bytes: await zip(members), name, version, kind: "wheel", metadata };
}

export async function egg(options: EggOptions): Promise<Artifact> {
  const { name, version, python, platform } = options;
  // setuptools: to_filename(safe_name(name)) — runs of other characters become `-`, then `_`.
  const escaped = name.replace(/[^A-Za-z0-9.]+/g, "_");
  const module = filenameName(name);
  const members = asBuffers({
    [`${module}/__init__.py`]: `__version__ = "${version}"\n`,
    "EGG-INFO/PKG-INFO": coreMetadata({ name, version }),
    "EGG-INFO/requires.txt": options.requires ?? "",
    "EGG-INFO/top_level.txt": `${(options.topLevel ?? [module]).join("\n")}\n`,
    "EGG-INFO/SOURCES.txt": `setup.py\n${module}/__init__.py\n`,
    "EGG-INFO/zip-safe": "\n",
  });
  const filename = `${escaped}-${version}-py${python}${platform ? `-${platform}` : ""}.egg`;
  return { filename, bytes: await zip(members), name, version, kind: "egg" };
}

export async function sdist(options: SdistOptions): Promise<Artifact> {
  const { name, version, format = "tar.gz" } = options;
  const stem = `${filenameName(name)}-${version}`;
  const members = asBuffers({
    [`${stem}/PKG-INFO`]: coreMetadata({ name, version, requiresPython: options.requiresPython, summary: options.summary }),
    [`${stem}/setup.py`]: `from setuptools import setup\nsetup(name=${JSON.stringify(name)}, version=${JSON.stringify(version)})\n`,
    ...Object.fromEntries(Object.entries(options.extraFiles ?? {}).map(([member, content]) => [`${stem}/${member}`, content])),
  });
  const bytes =
    format === "zip" ? await zip(members) : format === "tar.gz" ? gzipSync(await tarball(members, stem)) : bzip2(await tarball(members, stem));
  return { filename: `${stem}.${format}`, bytes, name, version, kind: "sdist" };
}

// ---- hostile inputs ------------------------------------------------------------------------

/** A wheel whose METADATA inflates to 50 MiB of zeros (the server reads at most 4 MiB of a member). */
export async function zipBombWheel(options: { name: string; version: string }): Promise<Wheel> {
  const base = await wheel(options);
  const distInfo = `${filenameName(options.name)}-${options.version}.dist-info`;
  const members = { [`${distInfo}/METADATA`]: Buffer.alloc(50 * MiB), [`${distInfo}/WHEEL`]: Buffer.from("Wheel-Version: 1.0\n") };
  return { ...base, bytes: await zip(members) };
}

/**
 * A wheel with a valid METADATA and a 200 MiB module of zeros (about 200 KB deflated): the server
 * reads only METADATA, but pip and the import checker unpack the whole of it.
 */
export async function moduleBombWheel(options: { name: string; version: string }): Promise<Wheel> {
  return wheel({ ...options, extraFiles: { [`${filenameName(options.name)}/zeros.bin`]: Buffer.alloc(200 * MiB) } });
}

/**
 * The same bomb, but its central directory claims METADATA is 100 bytes: only a reader that
 * counts what it inflates notices.
 */
export async function lyingZipBombWheel(options: { name: string; version: string }): Promise<Wheel> {
  const bomb = await zipBombWheel(options);
  const distInfo = `${filenameName(options.name)}-${options.version}.dist-info`;
  return { ...bomb, bytes: claimUncompressedSize(bomb.bytes, `${distInfo}/METADATA`, 100) };
}

/**
 * An sdist with a valid PKG-INFO and a 200 MiB member of zeros (about 200 KB gzipped): more
 * than the server's unpack budget of max(64 MiB, 100 × compressed size).
 */
export async function tarBomb(options: { name: string; version: string }): Promise<Artifact> {
  const stem = `${filenameName(options.name)}-${options.version}`;
  const pack = tar.pack();
  const gzip = createGzip();
  const output = collect(pack.pipe(gzip));
  pack.entry({ name: `${stem}/PKG-INFO`, mtime: MTIME }, coreMetadata(options));
  // tar-stream's typings lose the Writable methods; it is a node Writable.
  const big = pack.entry({ name: `${stem}/zeros.bin`, size: 200 * MiB, mtime: MTIME }) as unknown as Writable;
  const chunk = Buffer.alloc(MiB);
  for (let written = 0; written < 200; written++) {
    if (!big.write(chunk)) await new Promise<void>((resolve) => big.once("drain", () => resolve()));
  }
  big.end();
  pack.finalize();
  return { filename: `${stem}.tar.gz`, bytes: await output, name: options.name, version: options.version, kind: "sdist" };
}

/**
 * A .tar.bz2 of PKG-INFO and `gib` GiB of zeros in a few kilobytes: bzip2 streams one after the
 * other (as `cat` joins .bz2 files; every reader decodes them as one), each 40 MiB of zeros.
 */
export function bzip2Bomb(options: { name: string; version: string }, gib: number): Artifact {
  const stem = `${filenameName(options.name)}-${options.version}`;
  const streams = Math.ceil((gib * 1024) / 40);
  const pkgInfo = Buffer.from(coreMetadata(options));
  const head = Buffer.concat([
    ustarHeader(`${stem}/PKG-INFO`, pkgInfo.length),
    pkgInfo,
    Buffer.alloc(-pkgInfo.length & 511),
    // Only the header of the zeros member: its data is the streams below.
    ustarHeader(`${stem}/zeros.bin`, streams * 40 * MiB),
  ]);
  const zeros = bzip2(Buffer.alloc(40 * MiB));
  return { filename: `${stem}.tar.bz2`, bytes: Buffer.concat([bzip2(head), ...Array<Buffer>(streams).fill(zeros)]), name: options.name, version: options.version, kind: "sdist" };
}

/**
 * An sdist whose tar starts with a global pax header saying `size=0`: Python's tarfile and GNU tar
 * give every member that size (pip sees an empty PKG-INFO, then stops at the next "header"),
 * tar-stream only members with an `x` header of their own (it reads the whole PKG-INFO).
 */
export function globalPaxSdist(options: { name: string; version: string }): Artifact {
  const stem = `${filenameName(options.name)}-${options.version}`;
  const record = "10 size=0\n";
  const members: [string, Buffer][] = [
    [`${stem}/PKG-INFO`, Buffer.from(coreMetadata(options))],
    [`${stem}/setup.py`, Buffer.from("from setuptools import setup\nsetup()\n")],
  ];
  const pad = (bytes: number) => Buffer.alloc(-bytes & 511);
  const tarBytes = Buffer.concat([
    ustarHeader("pax_global_header", record.length, "g"),
    Buffer.from(record),
    pad(record.length),
    ...members.flatMap(([name, content]) => [ustarHeader(name, content.length), content, pad(content.length)]),
    Buffer.alloc(1024),
  ]);
  return { filename: `${stem}.tar.gz`, bytes: gzipSync(tarBytes), name: options.name, version: options.version, kind: "sdist" };
}

/** A ustar header block: a regular file, or another type (`g`: a global pax header). */
function ustarHeader(name: string, size: number, type = "0"): Buffer {
  const block = Buffer.alloc(512);
  block.write(name, 0, "utf8");
  block.write("0000644\0", 100);
  block.write("0000000\0", 108);
  block.write("0000000\0", 116);
  block.write(`${size.toString(8).padStart(11, "0")}\0`, 124);
  block.write(`${Math.floor(MTIME.getTime() / 1000).toString(8).padStart(11, "0")}\0`, 136);
  block.write(type, 156);
  block.write("ustar\u000000", 257, "latin1");
  block.write("        ", 148);
  block.write(`${block.reduce((sum, byte) => sum + byte, 0).toString(8).padStart(6, "0")}\0 `, 148);
  return block;
}

/**
 * A wheel with two METADATA members under one name, the first honest and the second naming
 * another project: which one a reader takes depends on the reader.
 */
export async function twoMetadataWheel(options: { name: string; version: string }): Promise<Wheel> {
  const base = await wheel(options);
  const distInfo = `${filenameName(options.name)}-${options.version}.dist-info`;
  const archive = new yazl.ZipFile();
  archive.addBuffer(base.metadata, `${distInfo}/METADATA`, { mtime: MTIME, forceDosTimestamp: true });
  archive.addBuffer(Buffer.from(coreMetadata({ name: options.name, version: options.version, requiresDist: ["evil-dependency"] })), `${distInfo}/METADATA`, { mtime: MTIME, forceDosTimestamp: true });
  archive.addBuffer(Buffer.from("Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"), `${distInfo}/WHEEL`, { mtime: MTIME, forceDosTimestamp: true });
  archive.end();
  return { ...base, bytes: await collect(archive.outputStream) };
}

/**
 * A wheel whose central directory holds a second METADATA (naming an evil dependency) after the
 * honest one, while its end record counts one entry less: a reader that walks the entries by count
 * (yauzl) never sees it, one that reads the directory by its size (Python's zipfile, so pip) takes
 * the later copy.
 */
export async function miscountedZipWheel(options: { name: string; version: string }): Promise<Wheel> {
  const base = await twoMetadataWheel(options);
  const distInfo = `${filenameName(options.name)}-${options.version}.dist-info`;
  const archive = new yazl.ZipFile();
  archive.addBuffer(base.metadata, `${distInfo}/METADATA`, { mtime: MTIME, forceDosTimestamp: true });
  archive.addBuffer(Buffer.from("Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"), `${distInfo}/WHEEL`, { mtime: MTIME, forceDosTimestamp: true });
  archive.addBuffer(Buffer.from(`${distInfo}/RECORD,,\n`), `${distInfo}/RECORD`, { mtime: MTIME, forceDosTimestamp: true });
  archive.addBuffer(Buffer.from(coreMetadata({ name: options.name, version: options.version, requiresDist: ["evil-dependency"] })), `${distInfo}/METADATA`, { mtime: MTIME, forceDosTimestamp: true });
  archive.end();
  const bytes = await collect(archive.outputStream);
  const end = bytes.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  bytes.writeUInt16LE(3, end + 8);
  bytes.writeUInt16LE(3, end + 10);
  return { ...base, bytes };
}

/**
 * A wheel whose members are renamed by Info-ZIP Unicode Path extra fields (0x7075): Python up to
 * 3.11 ignores them and reads the honest METADATA; yauzl and Python 3.12+ read another member,
 * naming an evil dependency, as METADATA and the honest one as demo/honest.txt.
 */
export async function unicodePathWheel(options: { name: string; version: string }): Promise<Wheel> {
  const base = await wheel(options);
  const distInfo = `${filenameName(options.name)}-${options.version}.dist-info`;
  const evil = Buffer.from(coreMetadata({ name: options.name, version: options.version, requiresDist: ["evil-dependency"] }));
  const members: [string, Buffer, string | null][] = [
    [`${distInfo}/METADATA`, base.metadata, "demo/honest.txt"],
    ["demo/evil.txt", evil, `${distInfo}/METADATA`],
    [`${distInfo}/WHEEL`, Buffer.from("Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"), null],
    [`${distInfo}/RECORD`, Buffer.from(`${distInfo}/RECORD,,\n`), null],
  ];
  const archive = new yazl.ZipFile();
  for (const [name, content, unicodeName] of members) {
    // Written as the entry's comment, then declared an extra field: yazl writes no extra fields.
    const entryOptions = { mtime: MTIME, forceDosTimestamp: true, fileComment: unicodeName === null ? undefined : unicodePathField(name, unicodeName) };
    archive.addBuffer(content, name, entryOptions);
  }
  archive.end();
  const bytes = await collect(archive.outputStream);
  for (const [name, , unicodeName] of members) {
    if (unicodeName === null) continue;
    patchMember(bytes, name, (copy, central) => {
      copy.writeUInt16LE(copy.readUInt16LE(central + 32), central + 30);
      copy.writeUInt16LE(0, central + 32);
    }).copy(bytes);
  }
  return { ...base, bytes };
}

/** An Info-ZIP Unicode Path extra field: id, size, version 1, the CRC-32 of the name it replaces, the new name. */
function unicodePathField(name: string, unicodeName: string): Buffer {
  const data = Buffer.concat([Buffer.from([1]), Buffer.alloc(4), Buffer.from(unicodeName)]);
  data.writeUInt32LE(crc32(Buffer.from(name)), 1);
  const header = Buffer.alloc(4);
  header.writeUInt16LE(0x7075, 0);
  header.writeUInt16LE(data.length, 2);
  return Buffer.concat([header, data]);
}

/**
 * A wheel with a second METADATA, naming an evil dependency, under the name `METADATA\0.txt`
 * after the honest one: Python's zipfile cuts names at a NUL, so pip reads it as METADATA (the
 * later copy wins); yauzl keeps the NUL and takes it for another member.
 */
export async function nulNamedWheel(options: { name: string; version: string }): Promise<Wheel> {
  const base = await wheel(options);
  const distInfo = `${filenameName(options.name)}-${options.version}.dist-info`;
  const evil = coreMetadata({ name: options.name, version: options.version, requiresDist: ["evil-dependency"] });
  const members = asBuffers({
    [`${distInfo}/METADATA`]: base.metadata,
    [`${distInfo}/METADATA\0.txt`]: evil,
    [`${distInfo}/WHEEL`]: "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
  });
  members[`${distInfo}/RECORD`] = record(members, `${distInfo}/RECORD`);
  return { ...base, bytes: await zip(members) };
}

/** An sdist whose tar holds PKG-INFO twice, with different Requires-Python: tar extraction keeps the last. */
export async function twoPkgInfoSdist(options: { name: string; version: string }): Promise<Artifact> {
  const stem = `${filenameName(options.name)}-${options.version}`;
  const pack = tar.pack();
  const output = collect(pack);
  pack.entry({ name: `${stem}/PKG-INFO`, mode: 0o644, mtime: MTIME }, coreMetadata(options));
  pack.entry({ name: `${stem}/PKG-INFO`, mode: 0o644, mtime: MTIME }, coreMetadata({ ...options, requiresPython: ">=4" }));
  pack.finalize();
  return { filename: `${stem}.tar.gz`, bytes: gzipSync(await output), name: options.name, version: options.version, kind: "sdist" };
}

/**
 * An sdist of two tars one after the other: setup.py, the first's end-of-archive marker, then
 * PKG-INFO. Python's tarfile (pip) and GNU tar stop at the marker and see no PKG-INFO.
 */
export async function appendedTarSdist(options: { name: string; version: string; requiresPython?: string }): Promise<Artifact> {
  const stem = `${filenameName(options.name)}-${options.version}`;
  const first = await tarball({ [`${stem}/setup.py`]: Buffer.from("from setuptools import setup\nsetup()\n") }, stem);
  const second = tar.pack();
  const output = collect(second);
  second.entry({ name: `${stem}/PKG-INFO`, mode: 0o644, mtime: MTIME }, coreMetadata(options));
  second.finalize();
  return { filename: `${stem}.tar.gz`, bytes: gzipSync(Buffer.concat([first, await output])), name: options.name, version: options.version, kind: "sdist" };
}

/**
 * An sdist with one more tar entry as given (an absolute or `..` name, a second spelling of
 * PKG-INFO, a link out of the archive), after its valid PKG-INFO and setup.py.
 */
export async function sdistWithEntry(options: { name: string; version: string }, entry: { name: string; type?: "file" | "symlink" | "link"; linkname?: string; content?: string }): Promise<Artifact> {
  const stem = `${filenameName(options.name)}-${options.version}`;
  const pack = tar.pack();
  const output = collect(pack);
  pack.entry({ name: `${stem}/PKG-INFO`, mode: 0o644, mtime: MTIME }, coreMetadata(options));
  pack.entry({ name: `${stem}/setup.py`, mode: 0o644, mtime: MTIME }, "from setuptools import setup\nsetup()\n");
  pack.entry({ name: entry.name, type: entry.type ?? "file", linkname: entry.linkname, mode: 0o644, mtime: MTIME }, entry.content ?? "");
  pack.finalize();
  return { filename: `${stem}.tar.gz`, bytes: gzipSync(await output), name: options.name, version: options.version, kind: "sdist" };
}

/** An sdist whose PKG-INFO is a symbolic link to a file beside it that holds valid metadata (pip reads no PKG-INFO; the index must). */
export async function linkedPkgInfoSdist(options: { name: string; version: string }): Promise<Artifact> {
  const stem = `${filenameName(options.name)}-${options.version}`;
  const pack = tar.pack();
  const output = collect(pack);
  pack.entry({ name: `${stem}/METADATA.txt`, mode: 0o644, mtime: MTIME }, coreMetadata(options));
  pack.entry({ name: `${stem}/PKG-INFO`, type: "symlink", linkname: "METADATA.txt", mode: 0o644, mtime: MTIME });
  pack.entry({ name: `${stem}/setup.py`, mode: 0o644, mtime: MTIME }, "from setuptools import setup\nsetup()\n");
  pack.finalize();
  return { filename: `${stem}.tar.gz`, bytes: gzipSync(await output), name: options.name, version: options.version, kind: "sdist" };
}

/** A wheel of `name` `version` whose METADATA is `metadata` as given, in a `.dist-info` folder named `distInfo` (default: the filename's). */
export async function wheelWithMetadata(options: { name: string; version: string; distInfo?: string }, metadata: string): Promise<Wheel> {
  const base = await wheel(options);
  const distInfo = options.distInfo ?? `${filenameName(options.name)}-${options.version}.dist-info`;
  const members = asBuffers({
    [`${filenameName(options.name)}/__init__.py`]: "",
    [`${distInfo}/METADATA`]: metadata,
    [`${distInfo}/WHEEL`]: "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
  });
  members[`${distInfo}/RECORD`] = record(members, `${distInfo}/RECORD`);
  return { ...base, bytes: await zip(members), metadata: Buffer.from(metadata) };
}

/** A wheel of `name` `version` with the WHEEL file given (null: none) and with or without RECORD. */
export async function wheelWithLayout(options: { name: string; version: string }, layout: { wheelFile: string | null; record: boolean }): Promise<Wheel> {
  const base = await wheel(options);
  const distInfo = `${filenameName(options.name)}-${options.version}.dist-info`;
  const members = asBuffers({ [`${filenameName(options.name)}/__init__.py`]: "", [`${distInfo}/METADATA`]: base.metadata });
  if (layout.wheelFile !== null) members[`${distInfo}/WHEEL`] = Buffer.from(layout.wheelFile);
  if (layout.record) members[`${distInfo}/RECORD`] = record(members, `${distInfo}/RECORD`);
  return { ...base, bytes: await zip(members) };
}

/** The first `fraction` of the file's bytes, as an interrupted transfer would leave it. */
export function truncated<T extends Artifact>(artifact: T, fraction = 0.5): T {
  return { ...artifact, bytes: artifact.bytes.subarray(0, Math.floor(artifact.bytes.length * fraction)) };
}

/** Bytes that are no archive at all, under a distribution's filename. */
export function notAnArchive<T extends Artifact>(artifact: T): T {
  return { ...artifact, bytes: Buffer.from("This is not an archive, whatever its name says.\n") };
}

/** A valid gzip stream whose content is not a tar archive. */
export function gzipOfGarbage<T extends Artifact>(artifact: T): T {
  return { ...artifact, bytes: gzipSync(Buffer.alloc(4096, "garbage ")) };
}

// ---- building blocks -----------------------------------------------------------------------

function coreMetadata(fields: { name: string; version: string; requiresPython?: string; requiresDist?: string[]; summary?: string }): string {
  return [
    "Metadata-Version: 2.1",
    `Name: ${fields.name}`,
    `Version: ${fields.version}`,
    `Summary: ${fields.summary ?? `Test distribution ${fields.name} ${fields.version}`}`,
    ...(fields.requiresPython ? [`Requires-Python: ${fields.requiresPython}`] : []),
    ...(fields.requiresDist ?? []).map((requirement) => `Requires-Dist: ${requirement}`),
    "",
    `Long description of ${fields.name}.`,
    "",
  ].join("\n");
}

/** RECORD: `path,sha256=<urlsafe base64, no padding>,size`; RECORD itself without hash and size. */
function record(members: Record<string, Buffer>, recordPath: string): Buffer {
  const rows = Object.entries(members).map(([path, content]) => {
    const digest = createHash("sha256").update(content).digest("base64url");
    return `${path},sha256=${digest},${content.length}`;
  });
  return Buffer.from([...rows, `${recordPath},,`, ""].join("\n"));
}

function asBuffers(members: Record<string, string | Buffer>): Record<string, Buffer> {
  return Object.fromEntries(Object.entries(members).map(([path, content]) => [path, Buffer.from(content)]));
}

async function zip(members: Record<string, Buffer>): Promise<Buffer> {
  const archive = new yazl.ZipFile();
  for (const [path, content] of Object.entries(members)) archive.addBuffer(content, path, { mtime: MTIME, forceDosTimestamp: true });
  archive.end();
  return collect(archive.outputStream);
}

async function tarball(members: Record<string, Buffer>, topDirectory: string): Promise<Buffer> {
  const pack = tar.pack();
  const output = collect(pack);
  pack.entry({ name: `${topDirectory}/`, type: "directory", mode: 0o755, mtime: MTIME });
  for (const [path, content] of Object.entries(members)) pack.entry({ name: path, mode: 0o644, mtime: MTIME }, content);
  pack.finalize();
  return output;
}

function bzip2(bytes: Buffer): Buffer {
  return execFileSync("bzip2", ["-c", "-9"], { input: bytes, maxBuffer: 64 * MiB });
}

async function collect(stream: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

/** Rewrite the uncompressed size a zip declares for one member (central directory and local header). */
function claimUncompressedSize(archive: Buffer, member: string, size: number): Buffer {
  return patchMember(archive, member, (bytes, central, local) => {
    bytes.writeUInt32LE(size, central + 24);
    bytes.writeUInt32LE(size, local + 22);
  });
}

/** The archive with `member` marked encrypted (general purpose flag bit 0), in its central and local headers. */
export function encryptedMember<T extends Artifact>(artifact: T, member: string): T {
  const bytes = patchMember(artifact.bytes, member, (copy, central, local) => {
    copy.writeUInt16LE(copy.readUInt16LE(central + 8) | 1, central + 8);
    copy.writeUInt16LE(copy.readUInt16LE(local + 6) | 1, local + 6);
  });
  return { ...artifact, bytes };
}

/** The archive with `member` said to be compressed by `method` (9: Deflate64, 99: AES), in its central and local headers. */
export function memberCompressedBy<T extends Artifact>(artifact: T, member: string, method: number): T {
  const bytes = patchMember(artifact.bytes, member, (copy, central, local) => {
    copy.writeUInt16LE(method, central + 10);
    copy.writeUInt16LE(method, local + 8);
  });
  return { ...artifact, bytes };
}

/** The archive with `member`'s local header naming `name` instead (as long as `member`), its central directory entry unchanged. */
export function locallyRenamedMember<T extends Artifact>(artifact: T, member: string, name: string): T {
  if (Buffer.byteLength(name) !== Buffer.byteLength(member)) throw new Error("the local name must be as long as the member's");
  const bytes = patchMember(artifact.bytes, member, (copy, _central, local) => {
    copy.write(name, local + 30, "utf8");
  });
  return { ...artifact, bytes };
}

/** A copy of a zip with `patch` applied to one member's central directory entry and local header (their offsets). */
function patchMember(archive: Buffer, member: string, patch: (bytes: Buffer, central: number, local: number) => void): Buffer {
  const bytes = Buffer.from(archive);
  const end = bytes.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  let offset = bytes.readUInt32LE(end + 16);
  for (let entry = 0; entry < bytes.readUInt16LE(end + 10); entry++) {
    const nameLength = bytes.readUInt16LE(offset + 28);
    const next = offset + 46 + nameLength + bytes.readUInt16LE(offset + 30) + bytes.readUInt16LE(offset + 32);
    if (bytes.toString("utf8", offset + 46, offset + 46 + nameLength) === member) {
      patch(bytes, offset, bytes.readUInt32LE(offset + 42));
      return bytes;
    }
    offset = next;
  }
  throw new Error(`no member ${member} in the zip`);
}
