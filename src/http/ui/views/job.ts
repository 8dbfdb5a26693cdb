import type { Catalog } from "../../../services/catalog.js";
import { isJobLive } from "../../../core/types.js";
import { html } from "../html.js";
import { layout, type ViewContext } from "../layout.js";
import { badge, links, time } from "../links.js";

type Job = ReturnType<Catalog["job"]>;

/** A build job: its state, history, files and log. */
export function jobPage(context: ViewContext, view: Job): string {
  const { job } = view;
  const title = `Job #${job.id}`;
  const body = html`<p class="crumbs"><a href="${links.release(job.project, job.version)}">${job.project} ${job.version}</a></p>
<h1>${title}: ${job.project} ${job.version} on ${job.targetKey}</h1>
<p>Status: <span id="job-status" aria-live="polite" data-status="${job.status}">${badge(job.status)}</span> <span class="reason" id="job-reason">${job.reason}</span></p>
<dl class="facts">
<dt>Agent</dt><dd>${job.agent ?? "—"}</dd>
<dt>Attempts</dt><dd>${job.attempts}</dd>
<dt>Source</dt><dd class="filename">${job.sdistFilename}</dd>
<dt>Queued</dt><dd>${time(job.createdAt)}</dd>
</dl>
${view.files.length > 0 && html`<h2>Built files</h2><ul>${view.files.map((file) => html`<li class="filename">${file.filename}${file.holdReason && html` ${badge("held")} <span class="reason">${file.holdReason}</span>`}</li>`)}</ul>`}
<h2>History</h2>
<ol class="events">${view.events.map((event) => html`<li>${time(event.at)} ${badge(event.status)}${event.agent && html` by ${event.agent}`} ${event.detail}</li>`)}</ol>
<h2 id="log-heading">Build log</h2>
<pre class="log" id="job-log" tabindex="0" aria-labelledby="log-heading" data-job="${job.id}" data-after="${view.log.at(-1)?.id ?? 0}" data-live="${isJobLive(job.status)}">${view.log.map((line) => html`<span class="line ${line.stream}">${line.text}\n</span>`)}</pre>`;
  return layout(context, { title, body, script: isJobLive(job.status) ? "job.js" : undefined });
}
