// A real OpenSSH server (Debian's /usr/sbin/sshd) on a loopback port, playing the clean node:
// generated host and client keys, run in the foreground as a child of the test, and stoppable
// mid-run so a test can watch a check lose its node and finish after restart(). Its login is the
// unprivileged NODE_USER unless a test asks for another (root, to play a misconfigured node).
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePort } from "./ports.js";
import { NODE_USER } from "./unprivileged.js";

const run = promisify(execFile);

const SSHD = "/usr/sbin/sshd";
const HOST = "127.0.0.1";
const START_TIMEOUT_MS = 10_000;

export interface SshdNode {
  readonly host: string;
  readonly port: number;
  readonly username: string;
  /** The client key that AuthorizedKeysFile authorises (OpenSSH format, no passphrase). */
  readonly privateKey: Buffer;
  /** "SHA256:…" as `ssh-keygen -lf hostkey.pub -E sha256` prints it. */
  readonly hostKeySha256: string;
  /** What sshd wrote to stderr (-e) so far: why a login was refused, and the like. */
  log(): string;
  /** Kills sshd and every session it started, as a node that goes down. */
  stop(): Promise<void>;
  /** Starts sshd again on the same port with the same keys. */
  restart(): Promise<void>;
  /** stop(), then removes the keys and configuration. */
  dispose(): Promise<void>;
}

export interface SshdOptions {
  /** The login the client key is for: NODE_USER by default. */
  readonly user?: string;
}

/** Starts sshd and resolves once it answers with an SSH banner. Throws with sshd's own words. */
export async function startSshd(options: SshdOptions = {}): Promise<SshdNode> {
  const dir = mkdtempSync(join(tmpdir(), "pydepot-sshd-"));
  // sshd reads authorized_keys with the login's rights, and the session starts in this folder.
  chmodSync(dir, 0o755);
  // sshd refuses to start without its privilege separation folder; a container rarely has it.
  mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
  await generateKey(join(dir, "host_ed25519"), "pydepot-test-host");
  await generateKey(join(dir, "client_ed25519"), "pydepot-test-client");
  writeFileSync(join(dir, "authorized_keys"), readFileSync(join(dir, "client_ed25519.pub")), { mode: 0o644 });
  const { stdout } = await run("ssh-keygen", ["-l", "-E", "sha256", "-f", join(dir, "host_ed25519.pub")]);
  const hostKeySha256 = stdout.trim().split(/\s+/)[1];
  if (hostKeySha256 === undefined || !hostKeySha256.startsWith("SHA256:")) {
    throw new Error(`unexpected ssh-keygen -l output: ${stdout}`);
  }

  const port = await freePort();
  const config = join(dir, "sshd_config");
  writeFileSync(config, sshdConfig(dir, port));

  let child: ChildProcess | undefined;
  let stderr = "";
  const launch = async (): Promise<void> => {
    // -D: stay in the foreground as our child; -e: log to stderr instead of syslog.
    const started = spawn(SSHD, ["-D", "-e", "-f", config], { stdio: ["ignore", "ignore", "pipe"], cwd: dir });
    started.stderr?.on("data", (chunk: Buffer) => {
      stderr += chunk.toString("utf8");
    });
    child = started;
    await waitForBanner(port, started, () => stderr);
  };
  const stop = async (): Promise<void> => {
    const current = child;
    child = undefined;
    if (current === undefined || current.exitCode !== null || current.signalCode !== null) return;
    const exited = new Promise((resolve) => current.once("exit", resolve));
    if (current.pid !== undefined) killTree(current.pid);
    await exited;
  };

  await launch();
  const stopOnExit = (): void => {
    if (child?.pid !== undefined) killTree(child.pid);
    rmSync(dir, { recursive: true, force: true });
  };
  process.on("exit", stopOnExit);

  return {
    host: HOST,
    port,
    username: options.user ?? NODE_USER,
    privateKey: readFileSync(join(dir, "client_ed25519")),
    hostKeySha256,
    log: () => stderr,
    stop,
    restart: async () => {
      await stop();
      await launch();
    },
    dispose: async () => {
      await stop();
      process.off("exit", stopOnExit);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function generateKey(path: string, comment: string): Promise<void> {
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path]);
}

function sshdConfig(dir: string, port: number): string {
  return [
    `ListenAddress ${HOST}:${port}`,
    `HostKey ${join(dir, "host_ed25519")}`,
    `PidFile ${join(dir, "sshd.pid")}`,
    `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
    // We run as root in a temp folder: no PAM stack, no ownership checks on our files (root's).
    "UsePAM no",
    "StrictModes no",
    "PermitRootLogin yes",
    "PubkeyAuthentication yes",
    "PasswordAuthentication no",
    "KbdInteractiveAuthentication no",
    "HostbasedAuthentication no",
    "UseDNS no",
    "PrintMotd no",
    "PrintLastLog no",
    "X11Forwarding no",
    "AllowTcpForwarding no",
    "PermitUserEnvironment no",
    // sshd runs every command through the user's shell, and Debian's bash sources ~/.bashrc when
    // it sees SSH_CLIENT at SHLVL < 2. For a root login that is root's, whose `pyenv init` runs `pyenv rehash`
    // under a lock file: a session killed by stop() at that moment leaves the lock behind, and
    // every later session on this machine then waits 60 s for it. A clean node runs no dotfiles.
    "SetEnv SHLVL=1",
    // Tests open connections in parallel; the default 10:30:100 drops some at random.
    "MaxStartups 100",
    "MaxSessions 50",
    "LogLevel VERBOSE",
    "",
  ].join("\n");
}

// Ready means an SSH banner, not just a listening socket.
async function waitForBanner(port: number, sshd: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (sshd.exitCode !== null || sshd.signalCode !== null) {
      const status = sshd.exitCode ?? sshd.signalCode;
      throw new Error(`${SSHD} exited (${status}) before accepting connections:\n${stderr()}`);
    }
    if (await answersWithBanner(port)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  sshd.kill("SIGKILL");
  throw new Error(`${SSHD} did not answer on ${HOST}:${port} within ${START_TIMEOUT_MS} ms:\n${stderr()}`);
}

function answersWithBanner(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: HOST, port });
    const done = (answer: boolean): void => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once("error", () => done(false));
    socket.once("data", (chunk: Buffer) => done(chunk.toString("latin1").startsWith("SSH-")));
  });
}

// Each connection is served by a child that calls setsid(), so killing the listener (or its
// process group) would leave running sessions, and the commands in them, alive.
function killTree(root: number): void {
  for (const pid of [...descendants(root), root]) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
}

/** Every process below `root`, each before its parent, read from /proc (Linux). */
function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue; // exited while we looked
    }
    // The command name may hold spaces and parentheses: the parent id follows the last ")".
    const parent = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    const list = children.get(parent) ?? [];
    list.push(Number(entry));
    children.set(parent, list);
  }
  const found: number[] = [];
  const pending = [root];
  while (pending.length > 0) {
    const pid = pending.pop() as number;
    for (const child of children.get(pid) ?? []) {
      found.push(child);
      pending.push(child);
    }
  }
  return found.reverse();
}
