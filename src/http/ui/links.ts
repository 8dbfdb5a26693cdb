import { html, type Html } from "./html.js";

/** Every UI address built in one place, each part encoded (names and filenames come from uploads). */
export const links = {
  home: (query?: string) => (query ? `/ui/?q=${encodeURIComponent(query)}` : "/ui/"),
  project: (project: string) => `/ui/projects/${encodeURIComponent(project)}`,
  release: (project: string, version: string) => `/ui/projects/${encodeURIComponent(project)}/releases/${encodeURIComponent(version)}`,
  job: (id: number) => `/ui/jobs/${id}`,
  check: (id: number) => `/ui/checks/${id}`,
  download: (project: string, filename: string) => `/files/${encodeURIComponent(project)}/${encodeURIComponent(filename)}`,
};

/** A status word as a badge: the word itself is the label, the colour only repeats it. */
export function badge(status: string): Html {
  return html`<span class="badge badge-${status.replace(/[^a-z-]/g, "")}">${status.replace(/_/g, " ")}</span>`;
}

/** Bytes as a person reads them. */
export function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

/** A timestamp in a <time> element (UTC, to the second). */
export function time(iso: string | null): Html {
  if (!iso) return html`—`;
  return html`<time datetime="${iso}">${iso.replace("T", " ").replace(/\.\d+Z$|Z$/, " UTC")}</time>`;
}
