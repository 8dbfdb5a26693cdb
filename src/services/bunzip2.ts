import { createRequire } from "node:module";
import { Readable } from "node:stream";
import { Worker } from "node:worker_threads";

/** A .bz2 held in memory (an import's small file) is decoded on the event loop while it unpacks to no more than this. */
const INLINE_BYTES = 1024 * 1024;
/** Decompressed bytes sent to the event loop at a time. */
const CHUNK_BYTES = 256 * 1024;
/** Slots of the shared counters: chunks the reader asked for, and whether it has gone. */
const CREDITS = 0;
const CANCELLED = 1;

// unbzip2-stream's decoder, driven one block at a time in a thread of its own: the decoder is
// JavaScript, and unbzip2-stream itself decodes every block of a small file at once, synchronously,
// at its end, with each block's output collected byte by byte in an array. A 1.7 KB .tar.bz2 of
// 2 GiB of zeros held the event loop for over a minute and took 2.8 GB. Here the output goes out
// in chunks only as the reader asks for them (so memory stays bounded), the thread stops once it
// has made more than `limit` bytes (the reader refuses the archive then), and the event loop
// decodes nothing but an import's small file that unpacks to at most INLINE_BYTES.
const THREAD = () => `
const { workerData, parentPort } = require("node:worker_threads");
const fs = require("node:fs");
const bzip2 = require(workerData.decoder);
const bitIterator = require(workerData.bits);
const { file, bytes, limit, chunkBytes, counters } = workerData;
const shared = new Int32Array(counters);
const input = file === null ? Buffer.from(bytes) : null;
const fd = file === null ? -1 : fs.openSync(file, "r");
const size = file === null ? input.length : fs.fstatSync(fd).size;
let position = 0;
function nextInput() {
  if (position >= size) throw new Error("unexpected end of the compressed data");
  const piece = input ? input.subarray(position, position + 65536) : Buffer.alloc(Math.min(65536, size - position));
  if (!input) fs.readSync(fd, piece, 0, piece.length, position);
  position += piece.length;
  return piece;
}
let out = Buffer.alloc(chunkBytes);
let used = 0;
let made = 0;
class Stop {}
function send() {
  while (Atomics.load(shared, 1) === 0 && Atomics.load(shared, 0) === 0) Atomics.wait(shared, 0, 0);
  if (Atomics.load(shared, 1) !== 0) throw new Stop();
  Atomics.sub(shared, 0, 1);
  parentPort.postMessage({ chunk: out.subarray(0, used) });
  out = Buffer.alloc(chunkBytes);
  used = 0;
}
function write(byte) {
  out[used++] = byte;
  made++;
  if (used === chunkBytes) send();
  if (made > limit) throw new Stop();
}
try {
  (${decodeBlocks.toString()})(bzip2, bitIterator(nextInput), size, write);
  if (used > 0) send();
  parentPort.postMessage({ end: true });
} catch (error) {
  if (error instanceof Stop) {
    if (Atomics.load(shared, 1) === 0) {
      if (used > 0) send();
      parentPort.postMessage({ end: true });
    }
  } else parentPort.postMessage({ error: String(error && error.message || error) });
} finally {
  if (fd !== -1) fs.closeSync(fd);
}
`;

/**
 * A .bz2 file (on disk or in memory) as a stream of its decompressed bytes, decoded in a worker
 * thread. It stops after a little more than `limit` bytes: the caller's own limit refuses that.
 * Destroying the stream ends the thread.
 */
export function bunzip2(source: string | Buffer, limit: number): Readable {
  const require = createRequire(import.meta.url);
  if (Buffer.isBuffer(source)) {
    // A thread costs some 30 ms to start: an import of many small .tar.bz2 would pay it for each.
    const inline = decodeInline(require, source);
    if (inline) return Readable.from([inline]);
  }
  const counters = new SharedArrayBuffer(2 * Int32Array.BYTES_PER_ELEMENT);
  const shared = new Int32Array(counters);
  const worker = new Worker(THREAD(), {
    eval: true,
    workerData: {
      decoder: require.resolve("unbzip2-stream/lib/bzip2"),
      bits: require.resolve("unbzip2-stream/lib/bit_iterator"),
      file: typeof source === "string" ? source : null,
      bytes: typeof source === "string" ? null : source,
      limit,
      chunkBytes: CHUNK_BYTES,
      counters,
    },
  });
  let finished = false;
  const output = new Readable({
    read() {
      Atomics.add(shared, CREDITS, 1);
      Atomics.notify(shared, CREDITS);
    },
    destroy(error, callback) {
      Atomics.store(shared, CANCELLED, 1);
      Atomics.notify(shared, CREDITS);
      if (!finished) void worker.terminate();
      callback(error);
    },
  });
  worker.on("message", (message: { chunk?: Uint8Array; end?: true; error?: string }) => {
    if (message.chunk) output.push(Buffer.from(message.chunk.buffer, message.chunk.byteOffset, message.chunk.byteLength));
    else if (message.end) {
      finished = true;
      output.push(null);
    } else {
      finished = true;
      output.destroy(new Error(message.error));
    }
  });
  worker.on("error", (error) => output.destroy(error));
  return output;
}

/** The block loop of both decoders: `write` takes each byte decoded and may throw to stop. */
function decodeBlocks(decoder: Decoder, bits: Bits, size: number, write: (byte: number) => void): void {
  let blockSize = 0;
  let crc: number | null = null;
  for (;;) {
    if (!blockSize) {
      if (bits.bytesRead >= size) break;
      blockSize = decoder.header(bits);
      crc = 0;
      continue;
    }
    crc = decoder.decompress(bits, write, new Int32Array(100000 * blockSize), 100000 * blockSize, crc);
    if (crc === null) blockSize = 0;
  }
}

interface Bits {
  bytesRead: number;
}

interface Decoder {
  header(bits: Bits): number;
  decompress(bits: Bits, write: (byte: number) => void, buffer: Int32Array, size: number, crc: number | null): number | null;
}

/** All of `bytes` decoded here, or null when they unpack to more than INLINE_BYTES (or are no bzip2: the thread says why). */
function decodeInline(require: NodeJS.Require, bytes: Buffer): Buffer | null {
  const decoder = require("unbzip2-stream/lib/bzip2") as Decoder;
  const bitIterator = require("unbzip2-stream/lib/bit_iterator") as (next: () => Buffer) => Bits;
  const output = Buffer.alloc(INLINE_BYTES);
  let used = 0;
  let given = false;
  const tooMuch = new Error("more than INLINE_BYTES");
  try {
    const next = () => {
      if (given) throw new Error("unexpected end of the compressed data");
      given = true;
      return bytes;
    };
    decodeBlocks(decoder, bitIterator(next), bytes.length, (byte) => {
      if (used === INLINE_BYTES) throw tooMuch;
      output[used++] = byte;
    });
    return output.subarray(0, used);
  } catch {
    return null;
  }
}
