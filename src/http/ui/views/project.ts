import type { Catalog, FileView, Permissions, ReleaseView } from "../../../services/catalog.js";
import { html, type Html } from "../html.js";
import { csrfField, layout, type ViewContext } from "../layout.js";
import { badge, links, size } from "../links.js";
import { waiverList } from "./release.js";

type Project = ReturnType<Catalog["project"]>;

export function projectPage(context: ViewContext, view: Project): string {
  const { project } = view;
  const body = html`<h1>${project.displayName}</h1>
${view.releases.length === 0 && html`<p>No release has a file.</p>`}
${view.releases.map((release) => releaseSection(context, project.name, release, view.permissions))}
${
  view.older.length > 0 &&
  html`<section aria-labelledby="older"><h2 id="older">Older releases</h2>
<ul class="older">${view.older.map((release) => html`<li><a href="${links.release(project.name, release.version)}">${release.version}</a> ${release.yanked && badge("yanked")} <span class="note">${release.files} file(s)</span></li>`)}</ul></section>`
}
${view.permissions.administer && waiverList(view.waivers, view.smokeCheck)}`;
  return layout(context, { title: project.displayName, body });
}

function releaseSection(context: ViewContext, project: string, release: ReleaseView, permissions: Permissions): Html {
  const id = `release-${release.version.replace(/[^A-Za-z0-9]/g, "-")}`;
  return html`<section class="release" aria-labelledby="${id}">
<h2 id="${id}">${release.version} ${release.yanked && badge("yanked")}</h2>
${release.yanked && release.yankReason && html`<p class="reason">Yanked: ${release.yankReason}</p>`}
<p><a href="${links.release(project, release.version)}">Build and check matrix</a>${release.pendingBuilds > 0 && html` · <span class="pending">${release.pendingBuilds} build(s) pending</span>`}</p>
${installLines(context, project, release.version)}
${filesTable(project, release.files)}
${releaseActions(context, project, release, permissions)}
</section>`;
}

export function installLines(context: ViewContext, project: string, version: string): Html {
  const index = `${context.baseUrl}/simple/`;
  return html`<dl class="install">
<dt>pip</dt><dd><code>pip install ${project}==${version} --index-url ${index}</code></dd>
<dt>easy_install</dt><dd><code>easy_install -i ${index} ${project}==${version}</code></dd>
</dl>`;
}

export function filesTable(project: string, files: FileView[]): Html {
  return html`<div class="scroll"><table class="files">
<caption>Files</caption>
<thead><tr><th scope="col">File</th><th scope="col">Kind</th><th scope="col">Python</th><th scope="col">Platform</th><th scope="col">Size</th><th scope="col">SHA-256</th><th scope="col">Status</th></tr></thead>
<tbody>${files.map(
    ({ file, status }) => html`<tr>
<td class="filename"><a href="${links.download(project, file.filename)}">${file.filename}</a></td>
<td>${file.kind}</td><td>${file.pythonTag}</td><td>${file.platform ?? "any"}</td><td>${size(file.size)}</td>
<td class="digest"><code>${file.sha256}</code></td>
<td>${badge(status)}${file.holdReason && html` <span class="reason">${file.holdReason}</span>`}</td></tr>`,
  )}</tbody></table></div>`;
}

function releaseActions(context: ViewContext, project: string, release: ReleaseView, permissions: Permissions): Html | false {
  if (!permissions.administer && !permissions.operate) return false;
  const base = links.release(project, release.version);
  return html`<div class="actions">
${
  permissions.administer &&
  (release.yanked
    ? html`<form method="post" action="${base}/unyank">${csrfField(context)}<button type="submit">Unyank ${release.version}</button></form>`
    : html`<form method="post" action="${base}/yank">${csrfField(context)}
<label for="reason-${release.version}">Reason to yank ${release.version}</label>
<input id="reason-${release.version}" name="reason" required>
<button type="submit">Yank ${release.version}</button></form>`)
}
${permissions.operate && html`<form method="post" action="${base}/rebuild">${csrfField(context)}<button type="submit">Rebuild ${release.version}</button></form>`}
</div>`;
}
