import type { Catalog } from "../../../services/catalog.js";
import { html } from "../html.js";
import { layout, type ViewContext } from "../layout.js";
import { badge, links, time } from "../links.js";

type Check = ReturnType<Catalog["check"]>;

/** One import check: where it ran, its verdict and why, each module, the smoke check and the log. */
export function checkPage(context: ViewContext, { check, file }: Check): string {
  const title = `Check #${check.id}`;
  const body = html`<p class="crumbs"><a href="${links.release(file.file.project, file.file.version)}">${file.file.projectDisplayName} ${file.file.version}</a></p>
<h1>${title}: <span class="filename">${check.filename}</span></h1>
<p>Verdict: ${badge(check.status)}${check.cause && html` (${check.cause})`}</p>
${check.reason && html`<p class="reason" id="check-reason">${check.reason}</p>`}
<dl class="facts">
<dt>Interpreter</dt><dd>${check.python ? `Python ${check.python} ${check.platform}` : "not yet chosen"}</dd>
<dt>Node</dt><dd>${check.node ?? "—"}${check.interpreter && html` (${check.interpreter})`}</dd>
<dt>Purpose</dt><dd>${check.purpose}</dd>
<dt>Started</dt><dd>${time(check.startedAt)}</dd>
<dt>Finished</dt><dd>${time(check.finishedAt)}</dd>
${check.missingLibraries.length > 0 && html`<dt>Missing libraries</dt><dd>${check.missingLibraries.join(", ")}</dd>`}
${check.smoke && html`<dt>Smoke check</dt><dd>${check.smoke.ok ? "passed" : html`failed: <span class="reason">${check.smoke.output}</span>`}</dd>`}
</dl>
${
  check.modules.length > 0 &&
  html`<div class="scroll"><table><caption>Modules imported</caption>
<thead><tr><th scope="col">Module</th><th scope="col">Result</th><th scope="col">Output</th></tr></thead>
<tbody>${check.modules.map((module) => html`<tr><th scope="row">${module.name}</th><td>${badge(module.ok ? "verified" : "failed")}</td><td><pre class="output">${module.output}</pre></td></tr>`)}</tbody></table></div>`
}
<h2 id="log-heading">Check log</h2>
<pre class="log" tabindex="0" aria-labelledby="log-heading">${check.log}</pre>`;
  return layout(context, { title, body });
}
