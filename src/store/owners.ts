import { createHash } from "node:crypto";
import { statSync } from "node:fs";
import { hostname } from "node:os";
import path from "node:path";

/**
 * Temporary entries under storage/ carry the process that made them in their names, so a sweep
 * removes only what dead processes left. The storage folder may be shared by servers on several
 * machines, and a pid means something only on its own machine: the name carries the host too,
 * and another host's entry is left to that host's own sweep, unless it is older than any upload
 * or import lasts.
 */
const HOST = createHash("sha256").update(hostname()).digest("hex").slice(0, 12);
const OWNER = `${HOST}.${process.pid}`;
/** Another host's entry older than this is taken to be a crash's leftover. */
const OTHER_HOST_STALE_MS = 24 * 60 * 60 * 1000;

/** `<host>.<pid>-<rest>`: a name this process owns. */
export function ownedName(rest: string): string {
  return `${OWNER}-${rest}`;
}

/**
 * Whether whoever made the entry `name` (in the folder `folder`) may still be using it: a live
 * process of this host, or another host's entry younger than a day. A name without a host (from
 * before hosts were named) is this host's.
 */
export function inUse(folder: string, name: string): boolean {
  const owner = name.slice(0, name.indexOf("-"));
  const dot = owner.indexOf(".");
  const [host, pid] = dot < 0 ? [HOST, owner] : [owner.slice(0, dot), owner.slice(dot + 1)];
  if (host === HOST) return isAlive(Number(pid));
  try {
    return Date.now() - statSync(path.join(folder, name)).mtimeMs < OTHER_HOST_STALE_MS;
  } catch {
    return false;
  }
}

export function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
