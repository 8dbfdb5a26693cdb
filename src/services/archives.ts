import { createReadStream, statSync } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import path from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import tar from "tar-stream";
import yauzl from "yauzl";
import { badRequest } from "../core/errors.js";
import { unpackBudget } from "../core/unpack-budget.js";
import { bunzip2 } from "./bunzip2.js";

/** Bounds that keep a hostile archive from eating memory or CPU. */
const MAX_ENTRIES = 100_000;
const MAX_MEMBER_BYTES = 4 * 1024 * 1024;

export interface ArchiveListing {
  /** Every member name, `./` stripped, directories with their trailing `/`. */
  names: string[];
  /** The content of the members `wanted` asked for. */
  members: Map<string, Buffer>;
}

export type Wanted = (name: string) => boolean;

/** An archive on disk, or its bytes when the caller already holds them (an import's small files): never read twice. */
export type ArchiveSource = string | Buffer;

/** List a zip (wheel, egg, .zip sdist) and read the small members asked for. */
export async function readZip(source: ArchiveSource, label: string, wanted: Wanted): Promise<ArchiveListing> {
  const headers = await LocalHeaders.open(source).catch((error: Error) => {
    throw badRequest(`Invalid ${label}: not a readable zip archive (${error.message})`);
  });
  try {
    return await walkZip(source, label, wanted, headers);
  } finally {
    await headers.close();
  }
}

function walkZip(source: ArchiveSource, label: string, wanted: Wanted, headers: LocalHeaders): Promise<ArchiveListing> {
  return new Promise((resolve, reject) => {
    const fail = (error: Error) => reject(badRequest(`Invalid ${label}: not a readable zip archive (${error.message})`));
    const options = { lazyEntries: true, autoClose: true, strictFileNames: false };
    const opened = (openError: Error | null, zip: yauzl.ZipFile) => {
      if (openError) return fail(openError);
      if (zip.entryCount > MAX_ENTRIES) {
        zip.close();
        return reject(badRequest(`Invalid ${label}: more than ${MAX_ENTRIES} members`));
      }
      const listing: ArchiveListing = { names: [], members: new Map() };
      // What installers unpack: Python's zipfile holds each member to the size the directory declares.
      const budget = unpackBudget(zip.fileSize);
      let declaredBytes = 0;
      let directoryBytes = 0;
      zip.on("error", fail);
      zip.on("end", () => checkDirectoryBounds(source, label, directoryBytes).then(() => resolve(listing), reject));
      const seen = new Set<string>();
      zip.on("entry", (entry: yauzl.Entry) => {
        directoryBytes += CENTRAL_HEADER_BYTES + entry.fileNameLength + entry.extraFieldLength + entry.fileCommentLength;
        declaredBytes += entry.uncompressedSize;
        if (declaredBytes > budget) {
          zip.close();
          return reject(tooLargeUnpacked(label, budget));
        }
        const unplaceable = renamed(label, entry) ?? misplaced(label, entry.fileName) ?? unpackable(label, entry);
        if (unplaceable) {
          zip.close();
          return reject(unplaceable);
        }
        if (seen.has(entry.fileName)) {
          zip.close();
          return reject(twice(label, entry.fileName));
        }
        seen.add(entry.fileName);
        headers.nameOf(entry).then((localName) => {
          if (localName === null) return fail(new Error(`no local header for ${entry.fileName}`));
          if (!localName.equals(entry.fileNameRaw)) {
            zip.close();
            return reject(renamedLocally(label, entry, localName));
          }
          listing.names.push(entry.fileName);
          if (!wanted(entry.fileName)) return zip.readEntry();
          if (entry.uncompressedSize > MAX_MEMBER_BYTES) {
            zip.close();
            return reject(badRequest(`Invalid ${label}: ${entry.fileName} unpacks to more than ${MAX_MEMBER_BYTES} bytes`));
          }
          zip.openReadStream(entry, (streamError, stream) => {
            if (streamError) return fail(streamError);
            collect(stream, MAX_MEMBER_BYTES).then((content) => {
              listing.members.set(entry.fileName, content);
              zip.readEntry();
            }, fail);
          });
        }, fail);
      });
      zip.readEntry();
    };
    if (typeof source === "string") yauzl.open(source, options, opened);
    else yauzl.fromBuffer(source, options, opened);
  });
}

const LOCAL_HEADER_SIGNATURE = 0x04034b50;
const LOCAL_HEADER_BYTES = 30;
/** Local headers are read a window at a time: one read each would double the reads of a zip of many small members. */
const HEADER_WINDOW_BYTES = 1024 * 1024;

/** The local file headers of a zip on disk or in memory, as Python's zipfile reads each before its member. */
class LocalHeaders {
  private window = Buffer.alloc(0);
  private windowStart = 0;

  private constructor(private readonly source: FileHandle | Buffer) {}

  static async open(source: ArchiveSource): Promise<LocalHeaders> {
    return new LocalHeaders(typeof source === "string" ? await open(source, "r") : source);
  }

  /** The name the entry's local header gives it (its length may differ), or null where no local header is. */
  async nameOf(entry: yauzl.Entry): Promise<Buffer | null> {
    const offset = entry.relativeOffsetOfLocalHeader;
    const fixed = await this.bytes(offset, LOCAL_HEADER_BYTES);
    if (fixed.length < LOCAL_HEADER_BYTES || fixed.readUInt32LE(0) !== LOCAL_HEADER_SIGNATURE) return null;
    const name = await this.bytes(offset + LOCAL_HEADER_BYTES, fixed.readUInt16LE(26));
    return name.length === fixed.readUInt16LE(26) ? name : null;
  }

  async close(): Promise<void> {
    if (!Buffer.isBuffer(this.source)) await this.source.close();
  }

  private async bytes(offset: number, length: number): Promise<Buffer> {
    if (Buffer.isBuffer(this.source)) return this.source.subarray(offset, offset + length);
    if (offset < this.windowStart || offset + length > this.windowStart + this.window.length) {
      const buffer = Buffer.alloc(Math.max(length, HEADER_WINDOW_BYTES));
      const { bytesRead } = await this.source.read(buffer, 0, buffer.length, offset);
      this.window = buffer.subarray(0, bytesRead);
      this.windowStart = offset;
    }
    return this.window.subarray(offset - this.windowStart, offset - this.windowStart + length);
  }
}

const CENTRAL_HEADER_BYTES = 46;
const END_SIGNATURE = Buffer.from([0x50, 0x4b, 0x05, 0x06]);
const END_BYTES = 22;
const ZIP64_END_SIGNATURE = 0x06064b50;
const ZIP64_LOCATOR_SIGNATURE = 0x07064b50;
/** Python reads a zip64 end record of this size only, right before its locator. */
const ZIP64_END_BYTES = 56;
const ZIP64_LOCATOR_BYTES = 20;
const MAX_COMMENT_BYTES = 0xffff;

/**
 * The central directory yauzl walked (from the end record's offset, by its entry count) must be
 * the one Python's zipfile reads (the end record's size of bytes, right before the end records):
 * with a miscount, a wrong size or bytes between them, pip installs members, a second METADATA
 * say, that the index never saw. The end record is the last one, as both find it.
 */
async function checkDirectoryBounds(source: ArchiveSource, label: string, walked: number): Promise<void> {
  const { tail, start } = await readTail(source, END_BYTES + MAX_COMMENT_BYTES + ZIP64_LOCATOR_BYTES + ZIP64_END_BYTES);
  const disagree = () => badRequest(`Invalid ${label}: its central directory is not the size or in the place its end record says, so readers differ on which members it holds`);
  const end = tail.lastIndexOf(END_SIGNATURE);
  if (end < 0 || end > tail.length - END_BYTES || tail.readUInt16LE(end + 20) !== tail.length - end - END_BYTES) throw disagree();
  let size = tail.readUInt32LE(end + 12);
  let offset = tail.readUInt32LE(end + 16);
  let recordsStart = start + end;
  const locator = end - ZIP64_LOCATOR_BYTES;
  if (locator >= 0 && tail.readUInt32LE(locator) === ZIP64_LOCATOR_SIGNATURE) {
    const record = locator - ZIP64_END_BYTES;
    if (record < 0 || tail.readUInt32LE(record) !== ZIP64_END_SIGNATURE || Number(tail.readBigUInt64LE(locator + 8)) !== start + record) throw disagree();
    size = Number(tail.readBigUInt64LE(record + 40));
    offset = Number(tail.readBigUInt64LE(record + 48));
    recordsStart = start + record;
  }
  if (size !== walked || offset + size !== recordsStart) throw disagree();
}

/** The last `limit` bytes of an archive (all of a smaller one) and where they start. */
async function readTail(source: ArchiveSource, limit: number): Promise<{ tail: Buffer; start: number }> {
  if (typeof source !== "string") {
    const start = Math.max(0, source.length - limit);
    return { tail: source.subarray(start), start };
  }
  const file = await open(source, "r");
  try {
    const { size } = await file.stat();
    const start = Math.max(0, size - limit);
    const tail = Buffer.alloc(size - start);
    await file.read(tail, 0, tail.length, start);
    return { tail, start };
  } finally {
    await file.close();
  }
}

/**
 * Read a whole .tar.gz / .tar.bz2, checking it is complete, and keep the small members asked for.
 * Everything is unpacked (a truncated archive must be refused), within an expansion budget.
 */
export async function readTar(source: ArchiveSource, compression: "gzip" | "bzip2", label: string, wanted: Wanted): Promise<ArchiveListing> {
  const listing: ArchiveListing = { names: [], members: new Map() };
  const size = typeof source === "string" ? statSync(source).size : source.length;
  const budget = unpackBudget(size);
  const extract = tar.extract();
  const wantedSeen = new Set<string>();
  const consume = (async () => {
    for await (const entry of extract) {
      const name = entry.header.name.replace(/^\.\//, "");
      if (listing.names.push(name) > MAX_ENTRIES) throw badRequest(`Invalid ${label}: more than ${MAX_ENTRIES} members`);
      const unplaceable = misplaced(label, name) ?? misplacedLink(label, name, entry.header);
      if (unplaceable) throw unplaceable;
      // Only the members read may not repeat: appending to a tar adds a second copy of others, which unpack in order.
      if (wanted(name) && wantedSeen.has(name)) throw twice(label, name);
      if (wanted(name)) wantedSeen.add(name);
      // A link's content is another member's (or outside): say so, rather than that the member is missing.
      if (wanted(name) && entry.header.type !== "file") throw badRequest(`Invalid ${label}: ${name} is a ${entry.header.type ?? "special member"}, not a regular file`);
      if (wanted(name)) listing.members.set(name, await collect(entry as AsyncIterable<Buffer> & { destroy(): unknown }, MAX_MEMBER_BYTES, `${label}: ${name}`));
      else entry.resume();
    }
  })();
  // Chosen by the caller from the distribution filename: a staged path has no extension.
  const unpacked =
    compression === "bzip2"
      ? [bunzip2(source, budget)]
      : [typeof source === "string" ? createReadStream(source) : Readable.from([source]), createGunzip()];
  try {
    await Promise.all([pipeline([...unpacked, limitBytes(budget, label), endOfArchive(label), extract]), consume]);
  } catch (error) {
    extract.destroy();
    if (error instanceof Error && error.name === "AppError") throw error;
    throw badRequest(`Invalid ${label}: corrupt or truncated archive (${(error as Error).message})`);
  }
  return listing;
}

/**
 * A member name that is not one plain relative path: absolute or with `..`, it lands outside the
 * unpack folder (GNU tar strips or skips it, pip refuses the file); with `.` or empty parts
 * (`demo-1.0/./PKG-INFO`), it is another member under a second spelling, which the check for a
 * name twice cannot see. The archive's own root (`./`, `.`) is no member.
 */
function misplaced(label: string, name: string) {
  // Python's zipfile cuts a name at a NUL (METADATA\0.txt is METADATA to pip), yauzl keeps it.
  if (name.includes("\0")) return badRequest(`Invalid ${label}: member ${JSON.stringify(name)} has a NUL in its name, where readers cut it or not`);
  const parts = name.replace(/\/$/, "").split("/");
  if (name === "" || name === "." || parts.every((part) => part !== "" && part !== "." && part !== "..")) return null;
  return badRequest(`Invalid ${label}: member ${JSON.stringify(name)} is not a plain relative path (absolute, or with '..', '.' or empty parts), so unpackers differ on where it goes`);
}

/**
 * A member an Info-ZIP Unicode Path extra field names otherwise than its own name field: yauzl and
 * Python 3.12+ take the field's name, Python up to 3.11 (pip there) the name field, so each would
 * find another METADATA.
 */
function renamed(label: string, entry: yauzl.Entry) {
  const named = yauzl.getFileNameLowLevel(entry.generalPurposeBitFlag, entry.fileNameRaw, [], false);
  if (named === entry.fileName) return null;
  return badRequest(`Invalid ${label}: member ${JSON.stringify(named)} is renamed ${JSON.stringify(entry.fileName)} by a Unicode Path extra field, which Python before 3.12 ignores, so readers differ on its name`);
}

/**
 * A member whose local header names another file than its central directory entry: Python's
 * zipfile (pip, easy_install) refuses to unpack it, and readers that stream the local headers
 * (unzip tools, Java's ZipInputStream) unpack it under that other name, `../../x` say.
 */
function renamedLocally(label: string, entry: yauzl.Entry, localName: Buffer) {
  return badRequest(`Invalid ${label}: the local header of ${entry.fileName} names it ${JSON.stringify(localName.toString("latin1"))}, so readers differ on its name and pip refuses to unpack it`);
}

/** Compression methods Python's zipfile unpacks: stored, deflate, bzip2, lzma. */
const PYTHON_ZIP_METHODS = new Set([0, 8, 12, 14]);

/**
 * A zip member the installers cannot unpack (pip and easy_install use Python's zipfile), checked
 * for every member, read or not: the file would be listed and chosen, then fail to install.
 */
function unpackable(label: string, entry: yauzl.Entry) {
  if (entry.isEncrypted()) return badRequest(`Invalid ${label}: ${entry.fileName} is encrypted, and no installer can unpack it`);
  if (PYTHON_ZIP_METHODS.has(entry.compressionMethod)) return null;
  return badRequest(`Invalid ${label}: ${entry.fileName} is compressed by method ${entry.compressionMethod}, which Python's zipfile (pip, easy_install) cannot unpack: use deflate`);
}

/** A tar link whose target lies outside the archive: Python's tarfile data filter (which pip uses) refuses it. */
function misplacedLink(label: string, name: string, header: tar.Header) {
  if (header.type !== "symlink" && header.type !== "link") return null;
  const target = header.linkname ?? "";
  // A symlink is relative to its folder; a hard link names another member.
  const resolved = header.type === "symlink" ? path.posix.join(path.posix.dirname(name), target) : path.posix.normalize(target);
  if (!target.startsWith("/") && resolved !== ".." && !resolved.startsWith("../")) return null;
  return badRequest(`Invalid ${label}: ${name} links to ${JSON.stringify(target)}, outside the archive`);
}

/** One member name twice: which copy counts differs between readers (the first, the last, the local header's), so no one may guess. */
function twice(label: string, name: string) {
  return badRequest(`Invalid ${label}: it holds ${name} twice, and readers differ on which copy counts`);
}

function tooLargeUnpacked(label: string, budget: number) {
  return badRequest(`Invalid ${label}: it unpacks to more than ${budget} bytes (archive bomb?)`);
}

const TAR_BLOCK = 512;
/** tar-stream refuses a pax or long-name header larger than this, so none larger is read here. */
const MAX_TAR_HEADER_BYTES = 4 * 1024 * 1024;

/**
 * Python's tarfile (pip, setuptools) and GNU tar end an archive at its first all-zero header
 * block; tar-stream skips such blocks and reads on. Anything but zeros after that marker (a second
 * tar appended, say) would be members the index reads and no installer sees: a PKG-INFO whose
 * Requires-Python and requirements the index would show. This walks the headers (each member's
 * data is its size, or a pax `size` record's, as both readers take it; a global pax header's
 * they take differently, so it is refused) and passes the bytes on unchanged.
 */
function endOfArchive(label: string): Transform {
  let header = Buffer.alloc(0);
  let dataLeft = 0;
  /** The data of the pax header being read (`x` for the next member; a `g` one with a size is refused). */
  let pax: { kind: string; data: Buffer[] } | null = null;
  const sizes: { next: number | null } = { next: null };
  let ended = false;
  const readHeader = (block: Buffer): Error | null => {
    if (block.every((byte) => byte === 0)) {
      ended = true;
      return null;
    }
    if (ended) return badRequest(`Invalid ${label}: it holds more after its end-of-archive marker, where installers stop reading and this index would read on`);
    const kind = String.fromCharCode(block[156]);
    const own = tarSize(block);
    const extended = kind === "x" || kind === "g";
    const size = extended || kind === "L" || kind === "K" ? own : (sizes.next ?? own);
    if (!extended && kind !== "L" && kind !== "K") sizes.next = null;
    pax = extended && own <= MAX_TAR_HEADER_BYTES ? { kind, data: [] } : null;
    dataLeft = Math.ceil(size / TAR_BLOCK) * TAR_BLOCK;
    return null;
  };
  const readPax = (): Error | null => {
    if (!pax) return null;
    const { kind, data } = pax;
    pax = null;
    const size = /(?:^|\n)\d+ size=(\d+)\n/.exec(Buffer.concat(data).toString("latin1"))?.[1];
    if (size === undefined) return null;
    // Python's tarfile and GNU tar give every later member this size, tar-stream only those with an
    // `x` header of their own: they would split the members apart differently.
    if (kind === "g") return badRequest(`Invalid ${label}: a global pax header sets every member's size, which readers apply differently`);
    sizes.next = Number(size);
    return null;
  };
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      for (let offset = 0; offset < chunk.length; ) {
        if (dataLeft > 0) {
          const taken = Math.min(dataLeft, chunk.length - offset);
          pax?.data.push(chunk.subarray(offset, offset + taken));
          dataLeft -= taken;
          offset += taken;
        } else {
          const taken = Math.min(TAR_BLOCK - header.length, chunk.length - offset);
          header = Buffer.concat([header, chunk.subarray(offset, offset + taken)]);
          offset += taken;
          if (header.length < TAR_BLOCK) continue;
          const error = readHeader(header);
          header = Buffer.alloc(0);
          if (error) return done(error);
        }
        const error = dataLeft === 0 ? readPax() : null;
        if (error) return done(error);
      }
      done(null, chunk);
    },
  });
}

/** A tar header's size field: octal, or base-256 when its first byte's high bit is set (GNU, for 8 GiB and more). */
function tarSize(block: Buffer): number {
  const field = block.subarray(124, 136);
  if (field[0] & 0x80) return field.subarray(1).reduce((value, byte) => value * 256 + byte, field[0] & 0x7f);
  return Number.parseInt(field.toString("latin1").replace(/\0.*$/s, "").trim() || "0", 8) || 0;
}

function limitBytes(budget: number, label: string): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.length;
      if (seen > budget) return done(tooLargeUnpacked(label, budget));
      done(null, chunk);
    },
  });
}

async function collect(stream: AsyncIterable<Buffer> & { destroy(): unknown }, limit: number, what = "member"): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += chunk.length;
    if (size > limit) {
      stream.destroy();
      throw badRequest(`Invalid ${what}: larger than ${limit} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
