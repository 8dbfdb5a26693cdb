import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

/** The programs the bench needs and the Debian packages that ship them. */
const TOOLS = [
  { command: "nginx", debianPackage: "nginx-light" },
  { command: "wrk", debianPackage: "wrk" },
] as const;

/** Full path of a command: PATH first, then the sbin folders a non-root PATH may lack. */
export function locate(command: string): string | undefined {
  const found = spawnSync("sh", ["-c", `command -v ${command}`], { encoding: "utf8" }).stdout.trim();
  if (found) return found;
  return [`/usr/sbin/${command}`, `/sbin/${command}`].find((candidate) => existsSync(candidate));
}

/** Install whatever is missing from Debian's own packages (idempotent: nothing to do when present). */
export function ensureTools(log: (message: string) => void): { nginx: string; wrk: string } {
  const missing = TOOLS.filter((tool) => !locate(tool.command)).map((tool) => tool.debianPackage);
  if (missing.length > 0) {
    log(`installing ${missing.join(", ")} with apt-get`);
    const sudo = process.getuid?.() === 0 ? [] : ["sudo"];
    const apt = (...args: string[]) => {
      const argv = [...sudo, "apt-get", ...args];
      execFileSync(argv[0], argv.slice(1), { stdio: "inherit", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
    };
    apt("update");
    apt("install", "-y", "--no-install-recommends", ...missing);
  }
  const paths = { nginx: locate("nginx"), wrk: locate("wrk") };
  if (!paths.nginx || !paths.wrk) throw new Error(`Still missing after apt-get: ${JSON.stringify(paths)}`);
  return { nginx: paths.nginx, wrk: paths.wrk };
}
