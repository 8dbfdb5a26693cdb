import type { Command } from "commander";
import { setTimeout as sleep } from "node:timers/promises";
import { parseProjectName } from "../core/names.js";
import { parseJobFilter, parseJobId } from "../core/parameters.js";
import { isJobLive, JOB_STATUSES } from "../core/types.js";
import { parseVersion } from "../core/versions.js";
import type { JobRow } from "../store/jobs.js";
import { OPERATOR, withServices } from "./context.js";

export function registerJobs(program: Command): void {
  program
    .command("jobs")
    .description("list build jobs")
    .option("--project <name>")
    .option("--status <status>", JOB_STATUSES.join(", "))
    .option("--target <key>")
    .option("--json", "print JSON")
    .action(async (options: { project?: string; status?: string; target?: string; json?: boolean }, command: Command) => {
      const jobs = await withServices(command, (services) => services.jobs.list(OPERATOR, parseJobFilter(options)));
      if (options.json) return console.log(JSON.stringify(jobs, null, 2));
      if (jobs.length === 0) console.log("no jobs");
      for (const job of jobs) console.log(describe(job));
    });
  const job = program.command("job").description("show or cancel one build job");
  job
    .command("show <id>", { isDefault: true })
    .description("show a job, its history and its log")
    .option("-f, --follow", "keep printing the log until the job ends")
    .action(async (id: string, options: { follow?: boolean }, command: Command) => {
      const jobId = parseJobId(id);
      let after = 0;
      for (let first = true; ; first = false) {
        const shown = await withServices(command, (services) => services.jobs.show(OPERATOR, jobId, after));
        if (first) {
          console.log(describe(shown.job));
          for (const event of shown.events) console.log(`  ${event.at} ${event.status}${event.agent ? ` by ${event.agent}` : ""} ${event.detail}`);
          for (const file of shown.files) console.log(`  built ${file.filename}${file.degraded ? " (DEGRADED)" : ""}${file.holdReason ? ` HELD: ${file.holdReason}` : ""}`);
        }
        for (const line of shown.log) console.log(`${line.at} ${line.stream}: ${line.text}`);
        after = shown.log.at(-1)?.id ?? after;
        if (!options.follow || !isJobLive(shown.job.status)) return;
        await sleep(1000);
      }
    });
  job
    .command("cancel <id>")
    .description("cancel a queued or running job")
    .action(async (id: string, _options, command: Command) => {
      console.log(describe(await withServices(command, (services) => services.jobs.cancel(OPERATOR, parseJobId(id)))));
    });
  program
    .command("build <project> <version>")
    .description("queue builds of a release again (every target, or one)")
    .option("--target <key>", "only this target")
    .action(async (project: string, version: string, options: { target?: string }, command: Command) => {
      const jobs = await withServices(command, (services) => services.jobs.requeue(OPERATOR, parseProjectName(project), parseVersion(version), options.target));
      for (const row of jobs) console.log(describe(row));
    });
}

function describe(job: JobRow): string {
  return `#${job.id}\t${job.status}\t${job.project} ${job.version}\t${job.targetKey}\tattempts ${job.attempts}${job.agent ? `\t${job.agent}` : ""}${job.reason ? `\t${job.reason}` : ""}`;
}
