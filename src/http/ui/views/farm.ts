import type { Catalog } from "../../../services/catalog.js";
import { html } from "../html.js";
import { layout, type ViewContext } from "../layout.js";
import { badge, links, time } from "../links.js";

/** Build agents: online or not, what they build for, when last seen and the jobs they hold. */
export function agentsPage(context: ViewContext, agents: ReturnType<Catalog["agentList"]>): string {
  const body = html`<h1>Build agents</h1>
${
  agents.length === 0
    ? html`<p>No agent has registered.</p>`
    : html`<div class="scroll"><table>
<thead><tr><th scope="col">Agent</th><th scope="col">State</th><th scope="col">Version</th><th scope="col">Targets</th><th scope="col">Last seen</th><th scope="col">Building</th></tr></thead>
<tbody>${agents.map(
        (agent) => html`<tr><th scope="row">${agent.name}</th>
<td>${badge(agent.revokedAt ? "revoked" : agent.online ? "online" : "offline")}</td><td>${agent.version}</td>
<td><ul class="plain">${agent.targets.map((target) => html`<li>${target}</li>`)}</ul></td>
<td>${time(agent.lastSeenAt)}</td>
<td>${agent.currentJobs.length === 0 ? "idle" : agent.currentJobs.map((id) => html`<a href="${links.job(id)}">#${id}</a> `)}</td></tr>`,
      )}</tbody></table></div>`
}`;
  return layout(context, { title: "Build agents", body });
}

/** Clean nodes: health, interpreters, last contact and the checks running there now. */
export function nodesPage(context: ViewContext, nodes: ReturnType<Catalog["nodeList"]>): string {
  const body = html`<h1>Clean nodes</h1>
${
  nodes.length === 0
    ? html`<p>No clean node is configured: files are listed unchecked.</p>`
    : html`<div class="scroll"><table>
<thead><tr><th scope="col">Node</th><th scope="col">Health</th><th scope="col">Interpreters</th><th scope="col">Last contact</th><th scope="col">Checking</th></tr></thead>
<tbody>${nodes.map(
        (node) => html`<tr><th scope="row">${node.name}</th>
<td>${node.health ? html`${badge(node.health.healthy ? "healthy" : "unhealthy")}${node.health.lastError && html` <span class="reason">${node.health.lastError}</span>`}` : badge("unknown")}</td>
<td><ul class="plain">${node.interpreters.map((interpreter) => html`<li><code>${interpreter}</code></li>`)}</ul></td>
<td>${time(node.health?.checkedAt ?? null)}</td>
<td>${node.running.length === 0 ? "idle" : node.running.map((check) => html`<a href="${links.check(check.id)}">#${check.id}</a> <span class="filename">${check.filename}</span> `)}</td></tr>`,
      )}</tbody></table></div>`
}`;
  return layout(context, { title: "Clean nodes", body });
}
