import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import cron from "node-cron";
import { parse as parseToml } from "smol-toml";
import { z } from "zod";
import { AppError } from "./core/errors.js";

const GiB = 1024 ** 3;

/** Every setting, its type and default. Unknown keys are errors. */
const schema = z
  .object({
    server: z
      .object({
        host: z.string().min(1).default("127.0.0.1"),
        port: z.number().int().min(0).max(65535).default(8080),
        /** Absolute base URL when behind a proxy that rewrites paths; links stay relative without it. */
        public_url: z.url().optional(),
        /** A client must send its request headers within this time (slow-header dripping). */
        headers_timeout_seconds: z.number().int().positive().default(30),
        /** A client must send its whole request, body included, within this time (an upload at ~300 kB/s for 1 GiB). */
        request_timeout_seconds: z.number().int().positive().default(3600),
        /** A connection with nothing sent either way for this long is closed (a stalled upload); must exceed farm.long_poll_seconds. */
        idle_timeout_seconds: z.number().int().positive().default(60),
        /** nginx's address as pydepot sees it: only a request from there has its X-Real-IP (the login throttle counts per client), X-Forwarded-Proto and X-Forwarded-Host believed. */
        trusted_proxy: z.string().min(1).optional(),
      })
      .strict()
      .prefault({}),
    storage: z
      .object({
        path: z.string().min(1).default("./storage"),
        /** Below this much free space on the storage filesystem, uploads and build results get 507 and /healthz 503. */
        min_free_bytes: z.number().int().nonnegative().default(GiB),
      })
      .strict()
      .prefault({}),
    uploads: z
      .object({
        max_bytes: z.number().int().positive().default(GiB),
        /** Text fields of one upload form (twine sends one per classifier). */
        max_fields: z.number().int().positive().default(1000),
        /** All text fields of one upload together, names included: they are held in memory. */
        max_field_bytes: z.number().int().positive().default(8 * 1024 * 1024),
      })
      .strict()
      .prefault({}),
    access: z
      .object({ anonymous_read: z.boolean().default(true) })
      .strict()
      .prefault({}),
    /** Password guessing: failed sign-ins lock a user name or a client address out for a while. */
    logins: z
      .object({
        max_failures_per_user: z.number().int().positive().default(5),
        /** Behind a proxy every client has the proxy's address: raise this there. */
        max_failures_per_address: z.number().int().positive().default(50),
        /** The first lockout; each further one doubles, up to a day. */
        lockout_seconds: z.number().int().positive().default(60),
      })
      .strict()
      .prefault({}),
    farm: z
      .object({
        /** An agent that has not reported for this long loses its job to the queue. */
        lease_seconds: z.number().int().positive().default(60),
        max_attempts: z.number().int().positive().default(3),
        build_timeout_seconds: z.number().int().positive().default(1800),
        /** What one job's log may hold (MiB of text): later lines of a build that prints for ever are dropped. */
        max_log_mib: z.number().positive().default(32),
        /** How long a lease request waits for work before answering "nothing yet". */
        long_poll_seconds: z.number().int().positive().default(25),
      })
      .strict()
      .prefault({}),
    checker: z
      .object({
        /** The URL clean nodes use to reach this server (its staging index and files). */
        server_url: z.url().optional(),
        /** The safety-net sweep for new artifacts, besides the wake-up after each upload. */
        sweep_seconds: z.number().int().positive().default(30),
        /** node-cron schedule of the full re-verification of every verified artifact. */
        reverify_schedule: z.string().default("0 3 * * *"),
        check_timeout_seconds: z.number().int().positive().default(600),
        /** A check that could not reach its node waits this long before it is tried again. */
        retry_seconds: z.number().int().positive().default(60),
      })
      .strict()
      .prefault({}),
    backup: z
      .object({
        /** Where `serve` writes scheduled backups (as `pydepot backup DEST`); none without it. */
        destination: z.string().min(1).optional(),
        /** node-cron schedule of the backups. */
        schedule: z
          .string()
          .refine((value) => cron.validate(value), "not a node-cron schedule (minute hour day month weekday, an optional seconds field first)")
          .default("30 2 * * *"),
        /** How many backups to keep in the destination; older ones are removed after each new one. */
        keep: z.number().int().positive().default(7),
      })
      .strict()
      .prefault({}),
    /** Clean nodes checks run on. With none, no check runs and the index lists every file. */
    nodes: z
      .array(
        z
          .object({
            name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/),
            host: z.string().min(1),
            port: z.number().int().min(1).max(65535).default(22),
            user: z.string().min(1),
            private_key_file: z.string().min(1),
            /** The node's host key fingerprint as `ssh-keygen -lf` prints it: `SHA256:…`. */
            host_key: z.string().regex(/^SHA256:[A-Za-z0-9+/]{43}=?$/),
            interpreters: z.array(z.string().regex(/^\/[A-Za-z0-9._/+-]+$/)).min(1),
            parallel: z.number().int().positive().default(1),
            /**
             * Checks run untrusted code as the login: as root it can change the interpreters
             * every later check relies on. Refused unless set, and then warned about at every start.
             */
            allow_root_login: z.boolean().default(false),
            /**
             * The login runs nothing but this node's checks, one at a time: after each check every
             * other process of the login is killed, wherever it hid (POSIX ps, any system).
             * Without it a daemon a check left is found by its environment, on Linux only.
             */
            exclusive_login: z.boolean().default(false),
          })
          .strict()
          .refine((node) => !node.exclusive_login || node.parallel === 1, {
            message: "exclusive_login = true needs parallel = 1: the checks would kill each other",
          }),
      )
      .superRefine((nodes, context) => {
        const seen = new Set<string>();
        nodes.forEach((node, index) => {
          if (seen.has(node.name)) {
            context.addIssue({ code: "custom", path: [index, "name"], message: `a second node named ${node.name}: each node needs a name of its own` });
          }
          seen.add(node.name);
        });
      })
      .default([]),
  })
  .strict()
  .refine((settings) => settings.server.idle_timeout_seconds > settings.farm.long_poll_seconds, {
    message: "server.idle_timeout_seconds must be longer than farm.long_poll_seconds, or lease requests are cut off while they wait",
    path: ["server", "idle_timeout_seconds"],
  })
  .refine((settings) => settings.server.headers_timeout_seconds <= settings.server.request_timeout_seconds, {
    message: "server.headers_timeout_seconds must not exceed server.request_timeout_seconds",
    path: ["server", "headers_timeout_seconds"],
  });

export type Settings = Readonly<z.infer<typeof schema>>;

/** The sections of single values; `nodes` is a list, set in the file only. */
const SECTIONS = ["server", "storage", "uploads", "access", "logins", "farm", "checker", "backup"] as const;

/** Every `section.key` the schema knows, in schema order: each can be overridden from the environment. */
export const SETTING_KEYS: readonly string[] = SECTIONS.flatMap((section) =>
  Object.keys(schema.shape[section].unwrap().shape).map((key) => `${section}.${key}`),
);

type Section = (typeof SECTIONS)[number];
type Tree = Record<string, unknown>;

export interface LoadedSettings {
  settings: Settings;
  /** The configuration file read, as an absolute path; none when every value is a default or from the environment. */
  configPath?: string;
  /** Where each `section.key` came from: "default", the file path, or the env variable name. */
  sources: Record<string, string>;
}

export interface SettingsInput {
  /** Explicit config file; otherwise PYDEPOT_CONFIG, else ./pydepot.toml when it exists. */
  configPath?: string;
  env?: NodeJS.ProcessEnv;
  /** Values set by the caller (tests), applied last. */
  overrides?: { [S in Section]?: Partial<Settings[S]> } & { nodes?: Settings["nodes"] };
}

export function loadSettings(input: SettingsInput = {}): LoadedSettings {
  const env = input.env ?? process.env;
  const configPath = input.configPath ?? env.PYDEPOT_CONFIG ?? (existsSync("pydepot.toml") ? "pydepot.toml" : undefined);
  const namedBy = input.configPath !== undefined ? "--config" : env.PYDEPOT_CONFIG !== undefined ? "PYDEPOT_CONFIG" : "the default ./pydepot.toml";
  const tree: Tree = configPath ? readConfigFile(configPath, namedBy) : {};
  const sources: Record<string, string> = {};
  for (const [section, values] of Object.entries(tree)) {
    if (Array.isArray(values)) sources[section] = path.resolve(configPath!);
    else for (const key of Object.keys(values ?? {})) sources[`${section}.${key}`] = path.resolve(configPath!);
  }
  checkEnvNames(env);
  for (const settingKey of SETTING_KEYS) {
    const name = envName(settingKey);
    const raw = env[name];
    if (raw === undefined) continue;
    const [section, key] = settingKey.split(".");
    sectionOf(tree, section)[key] = fromEnv(raw);
    sources[settingKey] = name;
  }
  const { nodes, ...sections } = input.overrides ?? {};
  for (const [section, values] of Object.entries(sections)) {
    for (const [key, value] of Object.entries(values ?? {})) {
      sectionOf(tree, section)[key] = value;
      sources[`${section}.${key}`] = "override";
    }
  }
  if (nodes) {
    tree.nodes = nodes;
    sources.nodes = "override";
  }
  const result = schema.safeParse(tree);
  if (!result.success) throw new AppError(2, `Invalid configuration: ${result.error.issues.map((issue) => describeIssue(issue, sources, configPath)).join("; ")}`);
  const settings = result.data;
  settings.storage.path = path.resolve(settings.storage.path);
  for (const key of SETTING_KEYS) sources[key] ??= "default";
  return { settings: deepFreeze(settings), configPath: configPath && path.resolve(configPath), sources };
}

/** Variables pydepot reads besides PYDEPOT_<SECTION>_<KEY>: anything else starting PYDEPOT_ is a typo. */
const OTHER_VARIABLES: readonly string[] = [
  "PYDEPOT_CONFIG",
  "PYDEPOT_ENROLMENT_SECRET", // `pydepot agent`
  "PYDEPOT_TEST_PYTHONS", // the test suite
];

function envName(settingKey: string): string {
  return `PYDEPOT_${settingKey.replace(".", "_")}`.toUpperCase();
}

/** A misspelt variable would otherwise be ignored without a word, and the default used instead. */
function checkEnvNames(env: NodeJS.ProcessEnv): void {
  const known = [...SETTING_KEYS.map(envName), ...OTHER_VARIABLES];
  for (const name of Object.keys(env)) {
    if (!name.startsWith("PYDEPOT_") || known.includes(name)) continue;
    const nearest = known.reduce((best, candidate) => (distance(name, candidate) < distance(name, best) ? candidate : best));
    const hint = distance(name, nearest) <= 3 ? `did you mean ${nearest}?` : "`pydepot config` lists every setting";
    throw new AppError(2, `Unknown environment variable ${name}: ${hint} (pydepot reads PYDEPOT_CONFIG and PYDEPOT_<SECTION>_<KEY>; unset the variable to go on)`);
  }
}

/** Levenshtein distance, for "did you mean". */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    previous = current;
  }
  return previous[b.length];
}

/** One schema complaint, naming the key and where its value came from (the file, or the variable). */
function describeIssue(issue: z.core.$ZodIssue, sources: Record<string, string>, configPath: string | undefined): string {
  const key = issue.path.join(".");
  const file = configPath ? path.resolve(configPath) : "the configuration";
  if (issue.code === "unrecognized_keys") {
    const names = issue.keys.map((name) => (key ? `${key}.${name}` : name)).join(", ");
    return `${file}: unknown key${issue.keys.length > 1 ? "s" : ""} ${names} (\`pydepot config\` lists every setting)`;
  }
  const source = sources[key] ?? sources[String(issue.path[0])] ?? file;
  const where = source.startsWith("PYDEPOT_") ? `${source} (${key})` : source === "override" ? key : `${source}: ${key}`;
  return `${where}: ${issue.message}`;
}

function sectionOf(tree: Tree, section: string): Record<string, unknown> {
  return (tree[section] ??= {}) as Record<string, unknown>;
}

function readConfigFile(configPath: string, namedBy: string): Tree {
  try {
    return parseToml(readFileSync(configPath, "utf8")) as Tree;
  } catch (error) {
    throw new AppError(2, `Cannot read configuration ${configPath} (from ${namedBy}): ${(error as Error).message.split("\n")[0]}`);
  }
}

/** Environment values are strings; numbers and booleans are written the TOML way. */
function fromEnv(raw: string): unknown {
  if (raw === "true" || raw === "false") return raw === "true";
  if (/^-?\d+$/.test(raw)) return Number(raw);
  return raw;
}

function deepFreeze<T extends object>(value: T): T {
  for (const inner of Object.values(value)) if (inner && typeof inner === "object") deepFreeze(inner);
  return Object.freeze(value);
}
