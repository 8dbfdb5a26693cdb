import type { Catalog, FileView, MatrixRow } from "../../../services/catalog.js";
import { describeScope } from "../../../services/waivers.js";
import type { MatrixEntry } from "../../../services/verdicts.js";
import type { SmokeCheckRow } from "../../../store/smoke-checks.js";
import type { WaiverRow } from "../../../store/waivers.js";
import { html, type Html } from "../html.js";
import { csrfField, layout, type ViewContext } from "../layout.js";
import { badge, links } from "../links.js";
import { filesTable, installLines } from "./project.js";

type Release = ReturnType<Catalog["release"]>;

/** A release's matrix: a row per target (OS, arch, Python), what was built and how each interpreter judged it. */
export function releasePage(context: ViewContext, view: Release): string {
  const { project, version } = view;
  const title = `${project.displayName} ${version}`;
  const body = html`<p class="crumbs"><a href="${links.project(project.name)}">${project.displayName}</a></p>
<h1>${title} ${view.yanked && badge("yanked")}</h1>
${view.yanked && view.yankReason && html`<p class="reason">Yanked: ${view.yankReason}</p>`}
${installLines(context, project.name, version)}
<section aria-labelledby="matrix"><h2 id="matrix">Builds and checks by target</h2>
${
  view.rows.length === 0
    ? html`<p>No build jobs: the release has no source distribution, or no agent has said what it builds for yet.</p>`
    : html`<div class="scroll"><table class="matrix">
<thead><tr><th scope="col">Target</th><th scope="col">OS</th><th scope="col">Arch</th><th scope="col">Python</th><th scope="col">Build</th><th scope="col">Checks per interpreter</th></tr></thead>
<tbody>${view.rows.map((row) => matrixRow(context, row, view.permissions.operate))}</tbody></table></div>`
}
</section>
${
  view.others.length > 0 &&
  html`<section aria-labelledby="uploaded"><h2 id="uploaded">Uploaded files without a build target</h2>
<ul class="verdict-list">${view.others.map(({ file, verdicts }) => html`<li><span class="filename">${file.file.filename}</span> ${badge(file.status)}${verdictList(verdicts)}${view.permissions.operate && recheckForm(context, file)}</li>`)}</ul></section>`
}
<section aria-labelledby="sources"><h2 id="sources">Source distributions</h2>${view.sdists.length === 0 ? html`<p>None uploaded.</p>` : filesTable(project.name, view.sdists)}</section>
${view.permissions.administer && waiveForm(context, project.name, version)}
${view.permissions.administer && waiverList(view.waivers, view.smokeCheck)}`;
  return layout(context, { title, body });
}

function matrixRow(context: ViewContext, row: MatrixRow, operate: boolean): Html {
  const { target, job, file } = row;
  return html`<tr>
<th scope="row">${target.key}</th><td>${target.os}</td><td>${target.arch}</td><td>${target.implementation} ${target.pythonVersion}</td>
<td>${buildCell(row)}</td>
<td>${file ? html`${badge(file.status)}${file.file.holdReason && html` <span class="reason">held: ${file.file.holdReason}</span>`}${verdictList(row.verdicts)}${operate && recheckForm(context, file)}` : job.status === "not_applicable" ? html`${badge("not_applicable")}` : html`—`}</td>
</tr>`;
}

function buildCell({ job, file }: MatrixRow): Html {
  const state = job.status === "leased" ? "building" : job.status === "queued" ? "pending" : job.status;
  return html`${badge(state)} <a href="${links.job(job.id)}">job #${job.id} log</a>
${job.reason && html`<div class="reason">${job.reason}</div>`}
${file && html`<div class="filename">${file.file.filename}</div>`}`;
}

function verdictList(entries: MatrixEntry[]): Html {
  if (entries.length === 0) return html``;
  return html`<ul class="verdicts">${entries.map(
    (entry) => html`<li><span class="slot">Python ${entry.python} ${entry.platform}</span> ${badge(entry.verdict)}
${entry.check && html` <a href="${links.check(entry.check.id)}">check #${entry.check.id} log</a>`}
${entry.rechecking && html` <span class="note">(checking again)</span>`}
${entry.reason && entry.verdict !== "verified" && html`<div class="reason">${entry.reason}</div>`}
${entry.check?.smoke && html`<div class="smoke">Smoke check ${entry.check.smoke.ok ? "passed" : html`failed: <span class="reason">${entry.check.smoke.output}</span>`}</div>`}
${entry.waivers.map((waiver) => html`<div class="waiver">Waived (#${waiver.id} by ${waiver.createdBy}): ${waiver.reason}</div>`)}</li>`,
  )}</ul>`;
}

function recheckForm(context: ViewContext, { file }: FileView): Html {
  return html`<form method="post" action="/ui/files/${encodeURIComponent(file.filename)}/recheck">${csrfField(context)}<button type="submit">Re-check ${file.filename}</button></form>`;
}

function waiveForm(context: ViewContext, project: string, version: string): Html {
  return html`<section aria-labelledby="waive"><h2 id="waive">Waive a failure of ${version}</h2>
<form class="stacked" method="post" action="${links.release(project, version)}/waive">${csrfField(context)}
<label for="waive-module">Module (empty: any failure)</label><input id="waive-module" name="module">
<label for="waive-python">Python X.Y (empty: every Python)</label><input id="waive-python" name="python" inputmode="decimal">
<label for="waive-reason">Why the failure is acceptable</label><input id="waive-reason" name="reason" required>
<button type="submit">Waive</button>
</form></section>`;
}

/** Every waiver of the project, revoked ones too, and its smoke check: what its admins see. */
export function waiverList(waivers: WaiverRow[], smokeCheck: SmokeCheckRow | null): Html {
  return html`<section aria-labelledby="waivers"><h2 id="waivers">Waivers and smoke check</h2>
${
  waivers.length === 0
    ? html`<p>No waivers.</p>`
    : html`<ul>${waivers.map((waiver) => html`<li>#${waiver.id} ${describeScope(waiver)}: ${waiver.reason} (by ${waiver.createdBy}${waiver.revokedAt && html`, revoked by ${waiver.revokedBy}`})</li>`)}</ul>`
}
${smokeCheck ? html`<p>Smoke check (set by ${smokeCheck.setBy}):</p><pre><code>${smokeCheck.code}</code></pre>` : html`<p>No smoke check.</p>`}
</section>`;
}
