// What one build may use of its host. Uploaded code runs in every build command, so a fork bomb,
// a file that grows for ever or a memory hog must end the build, never the host: each command
// starts under resource limits, and the agent watches the free space of the build folders'
// filesystem while it runs.
import { statfs } from "node:fs/promises";

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

const BUILD_LIMITS = {
  /** Processes (threads included) of the build user: each slot has its own user, so this bounds exactly this build. */
  processes: 512,
  fileBytes: 4 * GiB,
  memoryBytes: 8 * GiB,
} as const;

/** The free share of the build folders' filesystem a build must leave, at most DISK_RESERVE_MAX_BYTES. */
const DISK_RESERVE_SHARE = 0.05;
const DISK_RESERVE_MAX_BYTES = GiB;
/** How often a running build's filesystem is checked: statfs costs microseconds. */
export const DISK_CHECK_MS = 1_000;

/**
 * Node cannot set limits on a child, and neither `prlimit` (util-linux) nor `limits` (FreeBSD)
 * exists on both systems: the build's own interpreter, which the build user is known to run,
 * sets them with its `resource` module (Python 2.7 and 3 alike) and becomes the command. Soft
 * and hard limits alike, so the build cannot raise them again. RLIMIT_DATA counts anonymous
 * mmap since Linux 4.7, so it bounds Python's and the compilers' allocations there; FreeBSD's
 * counts brk only, so it gets RLIMIT_AS. SIGPIPE and SIGXFSZ go back to their defaults, which
 * Python ignores and exec would hand on: a command killed by SIGXFSZ then says why.
 */
const WRAPPER = `import os, resource, signal, sys
memory = resource.RLIMIT_DATA if sys.platform.startswith("linux") else resource.RLIMIT_AS
for limit, value in ((resource.RLIMIT_NPROC, ${BUILD_LIMITS.processes}), (resource.RLIMIT_FSIZE, ${BUILD_LIMITS.fileBytes}), (memory, ${BUILD_LIMITS.memoryBytes}), (resource.RLIMIT_CORE, 0)):
    hard = resource.getrlimit(limit)[1]
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(limit, (value, value))
for name in ("SIGPIPE", "SIGXFSZ"):
    signal.signal(getattr(signal, name), signal.SIG_DFL)
os.execvp(sys.argv[1], sys.argv[1:])
`;

/** `command` started under the build limits by `python`; the command's words stay separate arguments. */
export function limitedCommand(python: string, command: readonly string[]): string[] {
  return [python, "-S", "-c", WRAPPER, ...command];
}

/** The limits as the build log states them, so a build that meets one can be understood. */
export function describeLimits(): string {
  return `limits of each build command: ${BUILD_LIMITS.processes} processes of the build user ("Resource temporarily unavailable" from fork past them), ` +
    `files up to ${BUILD_LIMITS.fileBytes / GiB} GiB, ${BUILD_LIMITS.memoryBytes / GiB} GiB of memory, no core files; ` +
    `the build ends if its filesystem falls below ${DISK_RESERVE_SHARE * 100}% free (at most ${DISK_RESERVE_MAX_BYTES / GiB} GiB kept)`;
}

/** Why a build command that a signal ended died, naming the limit when it was one. */
export function killedBy(signal: NodeJS.Signals): string {
  if (signal === "SIGXFSZ") return `build killed by SIGXFSZ: File size limit exceeded (each file may grow to ${BUILD_LIMITS.fileBytes / GiB} GiB)`;
  return `build killed by ${signal}`;
}

/**
 * Why the build must end for lack of disk space, or null: the space an unprivileged user may
 * still take on `folder`'s filesystem is below the reserve.
 */
export async function diskShortage(folder: string): Promise<string | null> {
  const { blocks, bavail, bsize } = await statfs(folder);
  const reserve = Math.min(blocks * bsize * DISK_RESERVE_SHARE, DISK_RESERVE_MAX_BYTES);
  const free = bavail * bsize;
  if (free >= reserve) return null;
  return `out of disk space: the build left ${(free / MiB).toFixed(1)} MiB free on the filesystem of ${folder}, below the ${(reserve / MiB).toFixed(1)} MiB the agent keeps`;
}
