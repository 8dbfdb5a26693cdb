import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { buildServices, type Services } from "../../src/app.js";
import { parseFilename } from "../../src/core/filenames.js";
import type { Sha256 } from "../../src/core/types.js";
import type { Principal } from "../../src/services/access.js";
import { tx } from "../../src/store/db.js";
import { loadSettings } from "../../src/settings.js";
import { sdist } from "../support/artifacts.js";
import { metadataText, REQUIRES_PYTHON, SUMMARY, wheelBytes, wheelFilename, type WheelSpec } from "./wheels.js";

const BENCH: Principal = { kind: "system", name: "bench" };

export interface Population {
  files: number;
  projects: number;
  seconds: number;
  /** The project whose page has the most files. */
  bigProject: string;
}

/** Services on a storage folder, with settings from nothing but the path (no pydepot.toml, no env). */
export function openServices(storage: string): Services {
  return buildServices(loadSettings({ env: {}, configPath: "/dev/null", overrides: { storage: { path: storage } } }).settings);
}

export function projectName(index: number): string {
  return `bench-project-${String(index).padStart(4, "0")}`;
}

/** `projects` projects; the first has `bigProjectFiles` versions, each other one `filesPerProject`. */
export function plan(projects: number, filesPerProject: number, bigProjectFiles = filesPerProject): WheelSpec[] {
  const specs: WheelSpec[] = [];
  for (let index = 0; index < projects; index++) {
    const count = index === 0 ? bigProjectFiles : filesPerProject;
    for (let version = 0; version < count; version++) specs.push({ project: projectName(index), version: `1.0.${version}` });
  }
  return specs;
}

/** Every file through the real ingest path (stage, read metadata, one transaction each, publish). */
export async function populateByIngest(services: Services, specs: WheelSpec[]): Promise<Population> {
  const started = performance.now();
  for (const spec of specs) {
    const staged = services.blobs.stageBytes(await wheelBytes(spec));
    await services.ingest.ingest({ staged, filename: wheelFilename(spec), principal: BENCH, origin: "import" });
  }
  return summary(specs, started);
}

/**
 * BENCH-ONLY SHORTCUT, not a way to build state anywhere else: ingest costs a few fsyncs per file,
 * too slow for 100,000 files in a bench run. This writes the very rows and files ingest would
 * (same bytes, hashes and metadata, see wheels.ts) through the stores, in one transaction, without
 * fsyncs, history rows or the metadata checks.
 */
export async function populateByStores(services: Services, specs: WheelSpec[]): Promise<Population> {
  const started = performance.now();
  const files: ShortcutFile[] = [];
  for (const spec of specs) {
    files.push({
      displayName: spec.project,
      filename: wheelFilename(spec),
      bytes: await wheelBytes(spec),
      metadata: Buffer.from(metadataText(spec)),
      requiresPython: REQUIRES_PYTHON,
    });
  }
  recordByStores(services, files);
  return summary(specs, started);
}

/**
 * BENCH-ONLY SHORTCUT, as populateByStores, for sdists: tiny real `.tar.gz` files (PKG-INFO and a
 * setup.py, test/support/artifacts.ts). Only for a build queue of thousands of jobs (farm-leases).
 */
export async function populateSdistsByStores(services: Services, specs: WheelSpec[]): Promise<Population> {
  const started = performance.now();
  const files: ShortcutFile[] = [];
  for (const spec of specs) {
    const file = await sdist({ name: spec.project, version: spec.version });
    files.push({ displayName: spec.project, filename: file.filename, bytes: file.bytes, requiresPython: null });
  }
  recordByStores(services, files);
  return summary(specs, started);
}

/** What the shortcuts know of a file; names, versions and tags come from its filename, as in ingest. */
interface ShortcutFile {
  displayName: string;
  filename: string;
  bytes: Buffer;
  /** A wheel's METADATA, served as `<file>.metadata`. */
  metadata?: Buffer;
  requiresPython: string | null;
}

/** Files on disk first, then every row in one transaction. */
function recordByStores(services: Services, files: ShortcutFile[]): void {
  const now = new Date().toISOString();
  for (const file of files) {
    const directory = path.join(services.blobs.filesDir, parseFilename(file.filename).project);
    mkdirSync(directory, { recursive: true });
    writeFileSync(path.join(directory, file.filename), file.bytes);
    if (file.metadata) writeFileSync(path.join(directory, `${file.filename}.metadata`), file.metadata);
  }
  tx(services.db, () => {
    const { projects, files: fileStore } = services.stores;
    for (const file of files) {
      const name = parseFilename(file.filename);
      const project = projects.byName(name.project) ?? projects.create(name.project, file.displayName, now);
      fileStore.insert(project.id, name.version, {
        provenance: null,
        holdReason: "",
        filename: name.filename,
        kind: name.kind,
        pythonTag: name.pythonTag,
        abiTag: name.abiTag,
        platform: name.platform,
        buildTag: name.buildTag,
        size: file.bytes.length,
        sha256: sha256(file.bytes),
        md5: createHash("md5").update(file.bytes).digest("hex"),
        blake2b256: null,
        metadataSha256: file.metadata ? sha256(file.metadata) : null,
        requiresPython: file.requiresPython,
        requiresDist: [],
        summary: SUMMARY,
        jobId: null,
        nativeModules: [],
        linkedLibraries: [],
        degraded: false,
        uploadedAt: now,
        uploader: "bench",
        origin: "import",
      });
      projects.touch(project.id);
      projects.setSummary(project.id, SUMMARY);
    }
  });
}

/** A user and an API token for uploads, created before the server starts. */
export async function createUploader(services: Services): Promise<string> {
  await services.accounts.createUser("bench", null, true, "bench");
  return services.accounts.createToken("bench", "bench", "bench").token;
}

function sha256(bytes: Buffer): Sha256 {
  return createHash("sha256").update(bytes).digest("hex") as Sha256;
}

function summary(specs: WheelSpec[], started: number): Population {
  return {
    files: specs.length,
    projects: new Set(specs.map((spec) => spec.project)).size,
    seconds: (performance.now() - started) / 1000,
    bigProject: specs[0].project,
  };
}
