// Running one fixed command on a clean node over SSH (ssh2): the host key is pinned, the
// command is a constant argv quoted here, and everything variable travels as JSON on stdin.
import { createHash } from "node:crypto";
import { Client, type ClientChannel } from "ssh2";

export interface NodeConnection {
  readonly host: string;
  readonly port: number;
  readonly username: string;
  readonly privateKey: Buffer | string;
  /** The fingerprint to trust, as `ssh-keygen -lf key.pub -E sha256` prints it: "SHA256:<base64>". */
  readonly hostKeySha256: string;
}

export interface RemoteOptions {
  /** For the whole run: connecting, the command, and reading its output. */
  readonly timeoutMs: number;
}

/**
 * The most output (stdout and stderr together) kept of one command: a command that runs code from
 * an upload may write without end, for as long as its timeout, and all of it was held in memory.
 */
export const MAX_OUTPUT_BYTES = 16 * 1024 * 1024;

export interface RemoteResult {
  /** Exit status, or null when a signal ended the command. */
  readonly code: number | null;
  /** "SIGKILL" and the like, or null. */
  readonly signal: string | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** What went wrong with the node, as opposed to the command that ran on it. */
export type NodeProblem = "connect" | "host-key" | "auth" | "timeout" | "disconnected";

/**
 * The node could not run the command to its end: unreachable, an untrusted host key, a refused
 * user key, too slow, or gone mid-run. A caller keeps the work pending and retries later; a
 * result, whatever its exit status, comes back resolved instead.
 */
export class NodeUnreachable extends Error {
  constructor(
    readonly reason: NodeProblem,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "NodeUnreachable";
  }
}

/**
 * The command wrote more than it may (stdout and stderr together): its channel was closed there
 * and its output dropped. The command ran, so this is about the command, not the node.
 */
export class OutputTooLarge extends Error {
  constructor(readonly limitBytes: number) {
    super(`the command wrote more than ${limitBytes / (1024 * 1024)} MiB of output; it was cut off there`);
    this.name = "OutputTooLarge";
  }
}

/** OpenSSH's fingerprint of a raw public key blob: "SHA256:" and unpadded base64. */
export function fingerprintOfKeyBlob(blob: Buffer): string {
  return `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}

/** The fingerprint of an OpenSSH public key line ("ssh-ed25519 AAAA… comment"). */
export function fingerprintOfPublicKey(line: string): string {
  const blob = line.trim().split(/\s+/)[1];
  if (blob === undefined || !/^[A-Za-z0-9+/]+={0,2}$/.test(blob)) {
    throw new Error(`not an OpenSSH public key line: ${JSON.stringify(line.slice(0, 80))}`);
  }
  return fingerprintOfKeyBlob(Buffer.from(blob, "base64"));
}

/**
 * One string for the remote user's shell that runs exactly `argv`: each argument in single
 * quotes, an embedded single quote written as '\''. The arguments are our own constants, but
 * quoting them all keeps that true even if one day they are not.
 */
export function quoteForShell(argv: readonly string[]): string {
  if (argv.length === 0) throw new Error("quoteForShell: empty command");
  return argv
    .map((argument) => {
      if (argument.includes("\0")) throw new Error("quoteForShell: an argument holds a NUL byte");
      return `'${argument.replaceAll("'", `'\\''`)}'`;
    })
    .join(" ");
}

/**
 * Runs `command` on the node with `stdin` as its input and resolves with its exit status and
 * output, whatever the status. Rejects with NodeUnreachable when the node is the problem.
 */
export function runRemote(
  node: NodeConnection,
  command: readonly string[],
  stdin: string,
  options: RemoteOptions,
): Promise<RemoteResult> {
  const commandLine = quoteForShell(command);
  const where = `${node.host}:${node.port}`;
  const expected = normalizeFingerprint(node.hostKeySha256);
  const seconds = Math.round(options.timeoutMs / 100) / 10;

  return new Promise((resolve, reject) => {
    const client = new Client();
    let settled = false;
    let ready = false;
    let presented: string | undefined;

    const fail = (error: NodeUnreachable | OutputTooLarge): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      client.destroy();
      reject(error);
    };
    const succeed = (result: RemoteResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      client.end();
      resolve(result);
    };

    // Closing the connection does not stop a command that has no terminal, and sshd refuses
    // "signal" requests in root sessions: a command must carry its own, shorter, time limit
    // (check.py's "timeout"), which also lets it remove its folder.
    const timer = setTimeout(() => {
      const doing = ready ? `running ${command[0]} on ${where}` : `connecting to ${where}`;
      fail(new NodeUnreachable("timeout", `${doing} timed out after ${seconds} s`));
    }, options.timeoutMs);

    client.on("error", (error: SshError) => {
      fail(classify(error, { node, ready, expected, presented }));
    });
    client.on("close", () => {
      const problem = ready ? "before the command finished" : "during the handshake";
      fail(new NodeUnreachable(ready ? "disconnected" : "connect", `the connection to ${where} closed ${problem}`));
    });
    client.on("ready", () => {
      ready = true;
      client.exec(commandLine, (error, channel) => {
        if (error) {
          const message = `${where} refused to start the command: ${error.message}`;
          fail(new NodeUnreachable("disconnected", message, { cause: error }));
          return;
        }
        collect(channel, stdin, MAX_OUTPUT_BYTES, succeed, (tooLarge) =>
          fail(tooLarge ? new OutputTooLarge(MAX_OUTPUT_BYTES) : new NodeUnreachable("disconnected", `the connection to ${where} closed before the command finished`)),
        );
      });
    });

    try {
      client.connect({
        host: node.host,
        port: node.port,
        username: node.username,
        privateKey: node.privateKey,
        readyTimeout: options.timeoutMs,
        // A node that vanishes without closing the connection is noticed in ~15 s, not at the timeout.
        keepaliveInterval: 5_000,
        keepaliveCountMax: 3,
        hostVerifier: (key: Buffer): boolean => {
          presented = fingerprintOfKeyBlob(key);
          return presented === expected;
        },
      });
    } catch (error) {
      // ssh2 parses the private key synchronously.
      const detail = error instanceof Error ? error.message : String(error);
      const message = `cannot use the private key for ${node.username}@${where}: ${detail}`;
      fail(new NodeUnreachable("auth", message, { cause: error }));
    }
  });
}

// Feeds stdin, gathers both streams up to `limitBytes` together, and reports once the channel
// closes: with the exit status if the server sent one, else as a lost connection. Past the limit
// the channel is closed at once and nothing more is kept (`lost(true)`): the command on the node
// is left to its own time limit, as when the connection times out.
function collect(channel: ClientChannel, stdin: string, limitBytes: number, done: (result: RemoteResult) => void, lost: (tooLarge: boolean) => void): void {
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  let kept = 0;
  let tooLarge = false;
  let exit: { code: number | null; signal: string | null } | undefined;
  const keep = (into: Buffer[]) => (chunk: Buffer) => {
    if (tooLarge) return;
    kept += chunk.length;
    if (kept <= limitBytes) return void into.push(chunk);
    tooLarge = true;
    stdout.length = 0;
    stderr.length = 0;
    lost(true);
  };
  channel.on("data", keep(stdout));
  channel.stderr.on("data", keep(stderr));
  channel.on("exit", (code: number | null, signal?: string) => {
    exit = { code: code ?? null, signal: signal ?? null };
  });
  channel.on("close", () => {
    if (tooLarge) return;
    if (exit === undefined) {
      lost(false);
      return;
    }
    done({
      ...exit,
      stdout: Buffer.concat(stdout).toString("utf8"),
      stderr: Buffer.concat(stderr).toString("utf8"),
    });
  });
  channel.end(stdin);
}

function normalizeFingerprint(fingerprint: string): string {
  const trimmed = fingerprint.trim().replace(/=+$/, "");
  return trimmed.startsWith("SHA256:") ? trimmed : `SHA256:${trimmed}`;
}

/** ssh2 marks its errors with a level; Node's socket errors carry a code. */
type SshError = Error & { level?: string; code?: string };

interface ErrorContext {
  readonly node: NodeConnection;
  /** Whether the handshake and login had succeeded. */
  readonly ready: boolean;
  readonly expected: string;
  /** The fingerprint the server showed, once it has. */
  readonly presented: string | undefined;
}

function classify(error: SshError, context: ErrorContext): NodeUnreachable {
  const { node, ready, expected, presented } = context;
  const where = `${node.host}:${node.port}`;
  if (presented !== undefined && presented !== expected) {
    const message = `the host key of ${where} does not match: expected ${expected}, the server presented ${presented}`;
    return new NodeUnreachable("host-key", message, { cause: error });
  }
  if (error.level === "client-authentication") {
    const message = `authentication failed for ${node.username}@${where}: the server accepted none of our keys`;
    return new NodeUnreachable("auth", message, { cause: error });
  }
  if (ready) {
    const message = `lost the connection to ${where} during the command: ${describe(error)}`;
    return new NodeUnreachable("disconnected", message, { cause: error });
  }
  return new NodeUnreachable("connect", `cannot connect to ${where}: ${describe(error)}`, { cause: error });
}

// Node's socket errors carry the useful part as a code ("ECONNREFUSED"); ssh2's own errors do not.
function describe(error: Error & { code?: string }): string {
  return error.code ?? error.message;
}
