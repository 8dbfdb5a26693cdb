import { execFile } from "node:child_process";
import { createWriteStream } from "node:fs";
import { chown, mkdtemp, rm, stat } from "node:fs/promises";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { promisify } from "node:util";
import yauzl from "yauzl";
import { isCompiledModule } from "../core/compiled.js";
import { unpackBudget } from "../core/unpack-budget.js";
import { limitedCommand } from "./limits.js";

const run = promisify(execFile);
const MiB = 1024 * 1024;
/** ldd reads one file's headers in milliseconds: a module it takes longer on is not one. */
const LDD_TIMEOUT_MS = 30_000;
const yauzlOpen = promisify(yauzl.open) as (file: string, options: yauzl.Options) => Promise<yauzl.ZipFile>;

/**
 * The shared libraries each compiled module in a built egg or wheel links, as `ldd` prints them
 * (`libfoo.so.1 => not found` included): a build can exit 0 and still be unusable. The modules
 * are the build's, so `ldd` reads them as the build user (`runAs`), never as the agent's user,
 * under the build's limits (started by its `python`) and a timeout.
 */
export async function linkedLibraries(archive: string, scratchRoot: string, runAs: { uid: number; gid: number } | null, python: string): Promise<string[]> {
  const scratch = await mkdtemp(path.join(scratchRoot, "natives-"));
  try {
    const modules = await extractNativeModules(archive, scratch);
    if (runAs) for (const file of [scratch, ...modules]) await chown(file, runAs.uid, runAs.gid);
    const libraries = new Set<string>();
    for (const module of modules) {
      const limits = { timeout: LDD_TIMEOUT_MS, killSignal: "SIGKILL" as const };
      const options = runAs ? { ...limits, uid: runAs.uid, gid: runAs.gid, cwd: "/", env: { PATH: process.env.PATH } } : limits;
      const [program, ...args] = limitedCommand(python, ["ldd", module]);
      const { stdout } = await run(program, args, options).catch((error) => ({ stdout: String(error.stdout ?? "") }));
      for (const line of stdout.split("\n")) {
        const entry = line.trim().replace(/\s*\(0x[0-9a-f]+\)$/, "");
        // Only "name => path" lines name a needed library ("statically linked" means none).
        if (entry.includes("=>") && !entry.startsWith("linux-vdso")) libraries.add(entry);
      }
    }
    return [...libraries].sort();
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/**
 * The compiled modules of `archive`, unpacked into `into`: within the same budget as an upload's
 * archive (yauzl holds each entry to the size it declares), or a built file of zeros would fill
 * the agent's disk.
 */
async function extractNativeModules(archive: string, into: string): Promise<string[]> {
  const budget = unpackBudget((await stat(archive)).size);
  let unpacked = 0;
  const zip = await yauzlOpen(archive, { lazyEntries: true, autoClose: true });
  const extracted: string[] = [];
  await new Promise<void>((resolve, reject) => {
    zip.on("error", reject);
    zip.on("end", resolve);
    zip.on("entry", (entry: yauzl.Entry) => {
      if (!isCompiledModule(entry.fileName)) return zip.readEntry();
      unpacked += entry.uncompressedSize;
      if (unpacked > budget) {
        zip.close();
        return reject(new Error(`${path.basename(archive)}: its compiled modules unpack to more than ${(budget / MiB).toFixed(1)} MiB, too many for its size: not read`));
      }
      zip.openReadStream(entry, (error, stream) => {
        if (error) return reject(error);
        const target = path.join(into, `${extracted.length}-${path.basename(entry.fileName)}`);
        extracted.push(target);
        pipeline(stream, createWriteStream(target)).then(() => zip.readEntry(), reject);
      });
    });
    zip.readEntry();
  });
  return extracted;
}
