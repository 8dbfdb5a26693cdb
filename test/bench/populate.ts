import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { buildServices, type Services } from "../../src/app.js";
import { parseFilename } from "../../src/core/filenames.js";
import type { Filename, NormalizedName, Sha256, Version } from "../../src/core/types.js";
import type { Principal } from "../../src/services/access.js";
import { tx } from "../../src/store/db.js";
import { loadSettings } from "../../src/settings.js";
import { sdist } from "../support/artifacts.js";
import { distributionName, metadataText, REQUIRES_PYTHON, SUMMARY, wheelBytes, wheelFilename, type WheelSpec } from "./wheels.js";

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
  const now = new Date().toISOString();
  const rows: { spec: WheelSpec; filename: string; size: number; sha256: Sha256; md5: string; metadataSha256: Sha256 }[] = [];
  for (const spec of specs) {
    const bytes = await wheelBytes(spec);
    const filename = wheelFilename(spec);
    const metadata = Buffer.from(metadataText(spec));
    const directory = path.join(services.blobs.filesDir, spec.project);
    mkdirSync(directory, { recursive: true });
    writeFileSync(path.join(directory, filename), bytes);
    writeFileSync(path.join(directory, `${filename}.metadata`), metadata);
    rows.push({ spec, filename, size: bytes.length, sha256: sha256(bytes), md5: createHash("md5").update(bytes).digest("hex"), metadataSha256: sha256(metadata) });
  }
  tx(services.db, () => {
    const { projects, files } = services.stores;
    for (const row of rows) {
      const name = row.spec.project as NormalizedName;
      const project = projects.byName(name) ?? projects.create(name, row.spec.project, now);
      files.insert(project.id, row.spec.version as Version, {
        filename: row.filename as Filename,
        kind: "wheel",
        pythonTag: "py3",
        abiTag: "none",
        platform: "any",
        buildTag: null,
        size: row.size,
        sha256: row.sha256,
        md5: row.md5,
        blake2b256: null,
        metadataSha256: row.metadataSha256,
        requiresPython: REQUIRES_PYTHON,
        requiresDist: [],
        summary: SUMMARY,
        topLevel: [distributionName(row.spec.project)],
        jobId: null,
        nativeModules: [],
        linkedLibraries: [],
        degraded: false,
        uploadedAt: now,
        uploader: "bench",
        origin: "import",
      });
      projects.touch(project.id);
    }
  });
  return summary(specs, started);
}

/**
 * BENCH-ONLY SHORTCUT, as populateByStores, for sdists: tiny real `.tar.gz` files (PKG-INFO and a
 * setup.py, test/support/artifacts.ts) on disk and their rows, in one transaction, without
 * ingest's fsyncs and history rows. Only for a build queue of thousands of jobs (farm-leases).
 */
export async function populateSdistsByStores(services: Services, specs: WheelSpec[]): Promise<Population> {
  const started = performance.now();
  const now = new Date().toISOString();
  const rows: { spec: WheelSpec; name: ReturnType<typeof parseFilename>; size: number; sha256: Sha256; md5: string }[] = [];
  for (const spec of specs) {
    const file = await sdist({ name: spec.project, version: spec.version });
    const directory = path.join(services.blobs.filesDir, spec.project);
    mkdirSync(directory, { recursive: true });
    writeFileSync(path.join(directory, file.filename), file.bytes);
    rows.push({ spec, name: parseFilename(file.filename), size: file.bytes.length, sha256: sha256(file.bytes), md5: createHash("md5").update(file.bytes).digest("hex") });
  }
  tx(services.db, () => {
    const { projects, files } = services.stores;
    for (const { spec, name, size, sha256: digest, md5 } of rows) {
      const project = projects.byName(name.project) ?? projects.create(name.project, spec.project, now);
      files.insert(project.id, name.version, {
        filename: name.filename,
        kind: name.kind,
        pythonTag: name.pythonTag,
        abiTag: name.abiTag,
        platform: name.platform,
        buildTag: name.buildTag,
        size,
        sha256: digest,
        md5,
        blake2b256: null,
        metadataSha256: null,
        requiresPython: null,
        requiresDist: [],
        summary: SUMMARY,
        topLevel: [],
        jobId: null,
        nativeModules: [],
        linkedLibraries: [],
        degraded: false,
        uploadedAt: now,
        uploader: "bench",
        origin: "import",
      });
      projects.touch(project.id);
    }
  });
  return summary(specs, started);
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
