import { createReadStream, statSync } from "node:fs";
import { request } from "node:http";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { memoryOf, resetPeak, type ServerProcess } from "./server.js";

export interface UploadFile {
  path: string;
  filename: string;
  project: string;
  version: string;
  sha256: string;
  /** Sent as blake2_256_digest when present: the server then computes BLAKE2b too. */
  blake2b256: string | null;
}

export interface UploadMeasure {
  status: number;
  body: string;
  sizeMiB: number;
  seconds: number;
  mibPerSecond: number;
  /** RSS just before the upload (after a warm-up upload). */
  baselineMiB: number;
  /** VmHWM after the upload: the peak RSS during it (the peak was reset just before). */
  peakMiB: number;
  /** Highest VmRSS seen by sampling every 20 ms (a cross-check of VmHWM). */
  sampledMaxMiB: number;
}

/** One twine-style streaming upload, with the server's RSS watched before, during and after. */
export async function measureUpload(server: ServerProcess, token: string, file: UploadFile): Promise<UploadMeasure> {
  resetPeak(server.pid);
  const baselineMiB = memoryOf(server.pid).rssMiB;
  let sampledMaxMiB = baselineMiB;
  const sampler = setInterval(() => (sampledMaxMiB = Math.max(sampledMaxMiB, memoryOf(server.pid).rssMiB)), 20);
  const started = performance.now();
  try {
    const { status, body } = await upload(server.url, token, file);
    const seconds = (performance.now() - started) / 1000;
    const sizeMiB = statSync(file.path).size / 1024 ** 2;
    const { rssMiB, hwmMiB } = memoryOf(server.pid);
    sampledMaxMiB = Math.max(sampledMaxMiB, rssMiB);
    return { status, body, sizeMiB, seconds, mibPerSecond: sizeMiB / seconds, baselineMiB, peakMiB: hwmMiB, sampledMaxMiB };
  } finally {
    clearInterval(sampler);
  }
}

/**
 * POST /legacy/ as multipart/form-data with twine's fields, the file part streamed from disk
 * (Content-Length known up front, as twine sends it).
 */
export function upload(baseUrl: string, token: string, file: UploadFile): Promise<{ status: number; body: string }> {
  const boundary = `pydepot-bench-${Date.now().toString(16)}`;
  const fields: Record<string, string> = {
    ":action": "file_upload",
    protocol_version: "1",
    name: file.project,
    version: file.version,
    filetype: "bdist_wheel",
    pyversion: "py3",
    metadata_version: "2.1",
    sha256_digest: file.sha256,
    ...(file.blake2b256 ? { blake2_256_digest: file.blake2b256 } : {}),
  };
  const head = Buffer.from(
    Object.entries(fields)
      .map(([name, value]) => `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`)
      .join("") +
      `--${boundary}\r\nContent-Disposition: form-data; name="content"; filename="${file.filename}"\r\n` +
      "Content-Type: application/octet-stream\r\n\r\n",
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const length = head.length + statSync(file.path).size + tail.length;
  return new Promise((resolve, reject) => {
    const outgoing = request(`${baseUrl}/legacy/`, {
      method: "POST",
      headers: {
        "Content-Type": `multipart/form-data; boundary=${boundary}`,
        "Content-Length": length,
        Authorization: `Basic ${Buffer.from(`__token__:${token}`).toString("base64")}`,
      },
    });
    outgoing.once("response", (response) => {
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => (body += chunk));
      response.once("end", () => resolve({ status: response.statusCode ?? 0, body: body.trim() }));
      response.once("error", reject);
    });
    const parts = async function* () {
      yield head;
      yield* createReadStream(file.path);
      yield tail;
    };
    pipeline(Readable.from(parts()), outgoing).catch(reject);
  });
}
