import type { Catalog, FileView } from "../../../services/catalog.js";
import type { JobRow } from "../../../store/jobs.js";
import { html, type Html } from "../html.js";
import { layout, type ViewContext } from "../layout.js";
import { badge, links, time } from "../links.js";

type Home = ReturnType<Catalog["home"]>;

export function homePage(context: ViewContext, home: Home): string {
  const body = html`<h1>Packages</h1>
<form class="search" role="search" method="get" action="/ui/">
<label for="q">Search projects by name or summary</label>
<input id="q" name="q" type="search" value="${home.query}">
<button type="submit">Search</button>
</form>
${home.results && searchResults(home)}
<section aria-labelledby="recent"><h2 id="recent">Recent uploads</h2>${fileTable(home.recentUploads, "No uploads yet.")}</section>
<section aria-labelledby="running"><h2 id="running">Builds running now</h2>${jobTable(home.running, "No build is running.")}</section>
<section aria-labelledby="failures"><h2 id="failures">Recent failures</h2>
<h3>Failed builds</h3>${jobTable(home.failedJobs, "No failed builds.")}
<h3>Failed checks</h3>${fileTable(home.failedFiles, "No failed checks.")}
</section>
<section aria-labelledby="held"><h2 id="held">Held files</h2>${fileTable(home.heldFiles, "No file is held.")}</section>`;
  return layout(context, { title: "Packages", body });
}

function searchResults(home: Home): Html {
  const results = home.results ?? [];
  return html`<section aria-labelledby="results"><h2 id="results">Search results for “${home.query}”</h2>
${
  results.length === 0
    ? html`<p>No project matches.</p>`
    : html`<ul class="results">${results.map((project) => html`<li><a href="${links.project(project.name)}">${project.displayName}</a> <span class="summary">${project.summary}</span></li>`)}</ul>`
}</section>`;
}

function fileTable(files: FileView[], empty: string): Html {
  if (files.length === 0) return html`<p>${empty}</p>`;
  return html`<div class="scroll"><table>
<thead><tr><th scope="col">File</th><th scope="col">Project</th><th scope="col">Status</th><th scope="col">Uploaded</th></tr></thead>
<tbody>${files.map(
    ({ file, status }) => html`<tr><td class="filename">${file.filename}</td>
<td><a href="${links.release(file.project, file.version)}">${file.projectDisplayName} ${file.version}</a></td>
<td>${badge(status)}${file.holdReason && html` <span class="reason">${file.holdReason}</span>`}</td><td>${time(file.uploadedAt)}</td></tr>`,
  )}</tbody></table></div>`;
}

export function jobTable(jobs: JobRow[], empty: string): Html {
  if (jobs.length === 0) return html`<p>${empty}</p>`;
  return html`<div class="scroll"><table>
<thead><tr><th scope="col">Job</th><th scope="col">Release</th><th scope="col">Target</th><th scope="col">Status</th><th scope="col">Agent</th><th scope="col">Updated</th></tr></thead>
<tbody>${jobs.map(
    (job) => html`<tr><td><a href="${links.job(job.id)}">#${job.id}</a></td>
<td><a href="${links.release(job.project, job.version)}">${job.project} ${job.version}</a></td>
<td>${job.targetKey}</td><td>${badge(job.status)}${job.reason && html` <span class="reason">${job.reason}</span>`}</td><td>${job.agent ?? "—"}</td><td>${time(job.updatedAt)}</td></tr>`,
  )}</tbody></table></div>`;
}
