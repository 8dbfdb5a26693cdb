import type { Command } from "commander";
import { SingleBar } from "cli-progress";
import { sweepStorage } from "../app.js";
import { OPERATOR, withServices } from "./context.js";

/** Without a terminal (a log, CI), a plain progress line at most this often. */
const PLAIN_EVERY_MS = 5000;

export function registerImport(program: Command): void {
  program
    .command("import")
    .description("register every wheel, egg and sdist under a folder, following symbolic links, or one file (safe to run again)")
    .argument("<dir|file>", "a folder (searched with its subfolders) or one distribution file")
    .action(async (directory: string, _options, command: Command) => {
      const progress = process.stderr.isTTY ? barProgress() : plainProgress();
      const report = await withServices(command, (services) => {
        // An import killed mid-batch left linked files without rows: gone before this one links the same names.
        const removed = sweepStorage(services);
        if (removed > 0) console.error(`removed ${removed} unrecorded file(s) an interrupted import or upload left`);
        return services.imports.importDirectory(OPERATOR, directory, progress.update);
      }).finally(progress.stop);
      for (const file of report.added) console.log(`added     ${file}`);
      for (const file of report.skipped) console.log(`skipped   ${file} (already there)`);
      for (const { file, reason } of report.rejected) console.log(`rejected  ${file}: ${reason}`);
      for (const { file, reason } of report.ignored) console.log(`ignored   ${file}: ${reason}`);
      console.log(`${report.added.length} added, ${report.skipped.length} skipped, ${report.rejected.length} rejected, ${report.ignored.length} ignored`);
      if (report.rejected.length > 0) process.exitCode = 1;
    });
}

interface Progress {
  update(done: number, total: number): void;
  stop(): void;
}

/** On a terminal: a bar on stderr with the rate and the time left (cli-progress computes the ETA). */
function barProgress(): Progress {
  const bar = new SingleBar({ format: "importing [{bar}] {value}/{total} files | {rate} files/s | ETA {eta_formatted}", stream: process.stderr, etaBuffer: 5000 });
  const started = performance.now();
  let running = false;
  return {
    update(done, total) {
      const rate = Math.round(done / Math.max((performance.now() - started) / 1000, 0.001));
      if (!running) bar.start(total, done, { rate });
      else bar.update(done, { rate });
      running = true;
    },
    stop: () => running && bar.stop(),
  };
}

/** Elsewhere: a line on stderr now and then, the same figures in words; stdout keeps the report. */
function plainProgress(): Progress {
  const started = performance.now();
  let last = started;
  return {
    update(done, total) {
      const now = performance.now();
      if (done === 0 || (now - last < PLAIN_EVERY_MS && done < total)) return;
      last = now;
      const rate = done / ((now - started) / 1000);
      const left = Math.ceil((total - done) / rate);
      console.error(`imported ${done} of ${total} files, ${Math.round(rate)} files/s${done < total ? `, about ${left} s left` : ""}`);
    },
    stop() {},
  };
}
