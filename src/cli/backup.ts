import { InvalidArgumentError, type Command } from "commander";
import { restoreBackup } from "../services/backups.js";
import { settingsOf, withServices } from "./context.js";

const MiB = 1024 * 1024;

export function registerBackup(program: Command): void {
  program
    .command("backup")
    .description("copy the database and every file into DEST while the server runs (files already in DEST are not copied again)")
    .argument("<dest>", "the backup folder (made if missing); each backup is a new snapshot in it")
    .option("--keep <n>", "then keep only the newest N snapshots in DEST", positiveInteger)
    .action(async (destination: string, options: { keep?: number }, command: Command) => {
      const report = await withServices(command, (services) => services.backups.backup(destination, options.keep));
      console.log(`backup ${report.snapshot}: ${report.files} files, ${report.copied} copied (${(report.copiedBytes / MiB).toFixed(1)} MiB), ${report.reused} already there`);
      for (const removed of report.removed) console.log(`removed   ${removed}`);
    });

  program
    .command("restore")
    .description("restore a backup (the newest snapshot in SRC, or SRC/snapshots/TIME) into the empty storage folder")
    .argument("<src>", "a folder made by pydepot backup, or one of its snapshots")
    .action(async (source: string, _options, command: Command) => {
      const { settings } = settingsOf(command);
      const report = await restoreBackup(source, settings.storage.path);
      console.log(`restored ${report.snapshot} into ${settings.storage.path}: ${report.files} files (${(report.bytes / MiB).toFixed(1)} MiB), every one checked against its sha256`);
    });
}

function positiveInteger(value: string): number {
  if (!/^[1-9]\d*$/.test(value)) throw new InvalidArgumentError(`${JSON.stringify(value)} is not a whole number above 0`);
  return Number(value);
}
