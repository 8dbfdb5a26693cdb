import { mapConcurrently } from "../core/concurrency.js";
import { AppError, badRequest } from "../core/errors.js";
import { checkWheelFile } from "../core/core-metadata.js";
import { distributionSlot, parseDistInfoFolder, parseFilename, type ArtifactName } from "../core/filenames.js";
import { isValidName, normalize, parseProjectName } from "../core/names.js";
import type { Sha256 } from "../core/types.js";
import { compareVersions, equalityKey, normalizeVersion, parseVersion } from "../core/versions.js";
import type { AccountStore } from "../store/accounts.js";
import type { Blobs, Staged } from "../store/blobs.js";
import { tx, type Db } from "../store/db.js";
import type { BuildProvenance, FileRow, FileStore, Origin } from "../store/files.js";
import type { HistoryStore } from "../store/history.js";
import type { ProjectStore } from "../store/projects.js";
import type { WakeUps } from "../store/wakeups.js";
import type { BuildFacts, Holds } from "./holds.js";
import type { Staging } from "./staging.js";
import { actorName, type Access, type Principal } from "./access.js";
import { readArtifactMetadata, type ArtifactMetadata, type WheelLayout } from "./metadata.js";

/** A batch's files read for their metadata at once (read-only: the checks record nothing). */
const CONCURRENT_CHECKS = 8;

export interface IngestRequest {
  staged: Staged;
  /** The staged file's bytes when the caller read it whole (an import's small files): the metadata is read from them, not from disk again. */
  content?: Buffer;
  filename: string;
  principal: Principal;
  origin: Origin;
  /** What the client claimed (upload form `name` / `version`): must agree with filename and metadata. */
  claimedName?: string;
  claimedVersion?: string;
  /**
   * For build results: where the file came from, the libraries its native modules link, the
   * build log's lines (to tell a degraded build) and its target (whose last listed file tells a
   * regressed one).
   */
  build?: BuildFacts & { provenance: BuildProvenance; linkedLibraries: string[] };
}

/** A request checked and ready to record, or the identical file already stored under its name. */
type Prepared = { existing: FileRow } | { name: ArtifactName; metadata: ArtifactMetadata };

/** A name published inside a transaction, to undo if the transaction does not commit. */
interface Link {
  staged: Staged;
  project: string;
  filename: string;
}

export interface IngestResult {
  file: FileRow;
  /** False when identical bytes were already stored under this name (a harmless re-upload). */
  created: boolean;
}

/** The one path from staged bytes to a recorded, published artifact (upload, import, build result). */
export class Ingest {
  constructor(
    private readonly db: Db,
    private readonly projects: ProjectStore,
    private readonly files: FileStore,
    private readonly accounts: AccountStore,
    private readonly history: HistoryStore,
    private readonly blobs: Blobs,
    private readonly staging: Staging,
    private readonly access: Access,
    private readonly wakeUps: WakeUps,
    private readonly holds: Holds,
    private readonly now: () => string,
  ) {}

  /**
   * The caller's staged set keeps owning `request.staged`. A file becomes visible under files/ only
   * in the transaction that records it, and is unlinked again when that transaction fails to
   * commit (ENOSPC, EIO): visible ⇔ committed.
   */
  async ingest(request: IngestRequest): Promise<IngestResult> {
    return (await this.ingestWhole([request], () => undefined)).results[0];
  }

  /**
   * Several files taken whole or not at all, with `alongside` run in the same transaction after
   * they are recorded (a build result and the end of its job's lease): every file is recorded and
   * `alongside` done, or nothing is. Every file is checked before the first is recorded.
   */
  async ingestWhole<T>(requests: IngestRequest[], alongside: () => T): Promise<{ results: IngestResult[]; alongside: T }> {
    const prepared: Prepared[] = [];
    for (const request of requests) prepared.push(await this.prepare(request));
    return this.staging.within(async (set) => {
      const coreMetadata = prepared.map((ready) => ("metadata" in ready && ready.metadata.coreMetadataFile ? set.stageBytes(ready.metadata.coreMetadataFile) : null));
      const links: Link[] = [];
      let outcome: { results: IngestResult[]; alongside: T };
      try {
        outcome = tx(this.db, () => {
          const results = prepared.map((ready, index) =>
            "existing" in ready ? { file: ready.existing, created: false } : this.record(requests[index], ready.name, ready.metadata, coreMetadata[index], links),
          );
          return { results, alongside: alongside() };
        });
      } catch (error) {
        for (const link of links) this.unlink(link);
        throw error;
      }
      if (outcome.results.some((result) => result.created)) this.wakeUps.notify();
      return outcome;
    });
  }

  /**
   * Many files with the durability work of one, for imports: the callers stage them with
   * `sync: false`; one syncfs makes every staged byte durable, then one transaction records and
   * links them all, a second syncfs makes every folder it linked into durable, and it commits
   * once. Visible ⇔ committed as in ingest(): links are made inside the transaction and undone if
   * it does not commit. A file refused by the checks, or by its own record (a savepoint each, so a name
   * taken meanwhile refuses that file only), comes back as its AppError; results in request order.
   */
  async ingestBatch(requests: IngestRequest[]): Promise<(IngestResult | AppError)[]> {
    const results: (IngestResult | AppError)[] = [];
    const pending: { index: number; request: IngestRequest; name: ArtifactName; metadata: ArtifactMetadata }[] = [];
    const prepared = await mapConcurrently(requests, CONCURRENT_CHECKS, (request) =>
      this.prepare(request).then((ready) => ({ ready, error: null }), (error: unknown) => ({ ready: null, error })),
    );
    prepared.forEach(({ ready, error }, index) => {
      if (!ready) {
        if (!(error instanceof AppError)) throw error;
        results[index] = error;
      } else if ("existing" in ready) results[index] = { file: ready.existing, created: false };
      else pending.push({ index, request: requests[index], ...ready });
    });
    if (pending.length === 0) return results;
    return this.staging.within(async (set) => {
      const coreMetadata = await Promise.all(pending.map(({ metadata }) => (metadata.coreMetadataFile ? set.stageBytesUnsynced(metadata.coreMetadataFile) : null)));
      const note = await this.blobs.noteBatch(
        pending.flatMap(({ request, name }, position) => {
          const metadataFile = coreMetadata[position];
          const planned: { staged: Staged; project: string; filename: string }[] = [{ staged: request.staged, project: name.project, filename: name.filename }];
          if (metadataFile) planned.push({ staged: metadataFile, project: name.project, filename: `${name.filename}.metadata` });
          return planned;
        }),
      );
      await this.blobs.syncFileSystemAsync();
      const links: Link[] = [];
      // A link whose undo fails leaves its line of the note for the start-up sweep.
      let keepNote = false;
      const undo = (link: Link) => {
        if (!this.unlink(link)) keepNote = true;
      };
      try {
        tx(this.db, () => {
          pending.forEach(({ index, request, name, metadata }, position) => {
            const own: Link[] = [];
            try {
              results[index] = this.db.transaction(() => this.record(request, name, metadata, coreMetadata[position], own, true))();
              links.push(...own);
            } catch (error) {
              own.forEach(undo);
              if (!(error instanceof AppError) || keepNote) throw error;
              results[index] = error;
            }
          });
          this.blobs.syncFileSystem();
        });
      } catch (error) {
        links.forEach(undo);
        throw error;
      } finally {
        if (!keepNote) this.blobs.forgetNote(note);
      }
      if (results.some((result) => !(result instanceof AppError) && result.created)) this.wakeUps.notify();
      return results;
    });
  }

  /** Name, access and metadata checks; an identical file already stored short-cuts the rest. */
  private async prepare(request: IngestRequest): Promise<Prepared> {
    const name = this.checkName(request);
    this.access.canUpload(request.principal, this.projects.byName(name.project));
    const existing = this.files.byFilename(name.filename);
    if (existing) return { existing: this.sameBytes(existing, request.staged.sha256) };
    let metadata: ArtifactMetadata;
    try {
      metadata = await readArtifactMetadata(request.content ?? request.staged.path, name.kind, name.filename);
    } finally {
      // A file its request discarded meanwhile was no archive fault (ENOENT read as a corrupt archive).
      this.staging.requireHeld(request.staged);
    }
    checkMetadata(name, metadata);
    return { name, metadata };
  }

  private checkName(request: IngestRequest): ArtifactName {
    const known = request.claimedName === undefined ? undefined : parseProjectName(request.claimedName);
    const name = parseFilename(request.filename, known);
    if (request.claimedVersion !== undefined && parseVersion(request.claimedVersion) !== name.version) {
      throw badRequest(`Version mismatch: the form says ${request.claimedVersion}, the filename ${request.filename} says ${name.version}`);
    }
    return name;
  }

  /** PyPI's rule: the same name with the same bytes is a no-op; anything else is refused. */
  private sameBytes(existing: FileRow, sha256: Sha256): FileRow {
    if (existing.deletedAt) {
      throw badRequest(`File already exists: ${existing.filename} was used by a file that has since been deleted; use a new version or build tag`);
    }
    if (existing.sha256 !== sha256) {
      throw badRequest(`File already exists ('${existing.filename}', with sha256 hash '${existing.sha256}'); use a new version or build tag`);
    }
    return existing;
  }

  /** `batched`: the batch's note is written ahead and its folders are synced once, before its commit. */
  private record(request: IngestRequest, name: ArtifactName, metadata: ArtifactMetadata, coreMetadata: Staged | null, links: Link[], batched = false): IngestResult {
    this.staging.requireHeld(request.staged);
    const existing = this.files.byFilename(name.filename);
    if (existing) return { file: this.sameBytes(existing, request.staged.sha256), created: false };
    const now = this.now();
    let project = this.projects.byName(name.project);
    this.access.canUpload(request.principal, project);
    if (project) this.checkOneName(project.id, name);
    else {
      project = this.projects.create(name.project, metadata.name, now);
      if (request.principal.kind === "user") this.accounts.setRole(project.id, request.principal.userId, "admin");
    }
    const { staged } = request;
    const { degraded, heldFor, waiver } = this.holds.decide(name, metadata.nativeModules, request.build ?? null);
    // An admin's degraded waiver for this release accepts the hold before it is made.
    const holdReason = waiver ? "" : heldFor;
    this.files.insert(project.id, name.version, {
      filename: name.filename,
      kind: name.kind,
      pythonTag: name.pythonTag,
      abiTag: name.abiTag,
      platform: name.platform,
      buildTag: name.buildTag,
      size: staged.size,
      sha256: staged.sha256,
      md5: staged.md5,
      blake2b256: staged.blake2b256,
      metadataSha256: coreMetadata?.sha256 ?? null,
      requiresPython: metadata.requiresPython,
      requiresDist: metadata.requiresDist,
      summary: metadata.summary,
      jobId: request.build?.provenance.jobId ?? null,
      provenance: request.build?.provenance ?? null,
      nativeModules: metadata.nativeModules,
      linkedLibraries: request.build?.linkedLibraries ?? [],
      degraded: degraded !== null,
      holdReason,
      uploadedAt: now,
      uploader: actorName(request.principal),
      origin: request.origin,
    });
    this.projects.touch(project.id);
    this.projects.setSummary(project.id, metadata.summary);
    this.history.record(now, { actor: actorName(request.principal), action: `file.${request.origin}`, project: project.name, subject: name.filename });
    if (heldFor) {
      const detail = waiver ? `${heldFor} (not held: waiver #${waiver.id})` : heldFor;
      this.history.record(now, { actor: actorName(request.principal), action: "file.held", project: project.name, subject: name.filename, detail });
    }
    // Noted before linking: a link made just before a failure (its directory fsync, say) is undone too.
    const options = { syncDirectory: !batched, noted: batched };
    links.push({ staged, project: project.name, filename: name.filename });
    this.blobs.publish(staged, project.name, name.filename, options);
    if (coreMetadata) {
      links.push({ staged: coreMetadata, project: project.name, filename: `${name.filename}.metadata` });
      this.blobs.publish(coreMetadata, project.name, `${name.filename}.metadata`, options);
    }
    const file = this.files.byFilename(name.filename)!;
    // Without a gate a build is listed at once, and may be the baseline of a later build that came first.
    if (request.build) this.holds.listed(file);
    return { file, created: true };
  }

  /**
   * One release per PEP 440 version and one file per slot of a release: a file under another
   * spelling (`DEMO-1.0-…`, `demo-1.00-…`, `demo-1.0.0-…`, a second sdist format) would be listed
   * beside the published one and could be installed in its place, with other bytes.
   */
  private checkOneName(projectId: number, name: ArtifactName): void {
    const key = equalityKey(name.version);
    const release = this.files
      .releases(projectId)
      .find((row) => row.version !== name.version && equalityKey(row.version) === key && compareVersions(row.version, name.version) === 0);
    if (release) {
      throw badRequest(`Version ${name.version} of ${name.filename} is release ${release.version} of ${name.project} (PEP 440 compares them equal): spell it ${release.version}`);
    }
    const slot = distributionSlot(name);
    const twin = this.files.liveByRelease(projectId, name.version).find((file) => file.filename !== name.filename && distributionSlot(file) === slot);
    if (twin) {
      throw badRequest(`File already exists: ${name.filename} would stand for ${twin.filename} (the same release, kind and tags); use a new version or build tag`);
    }
  }

  /** Undo a link whose transaction did not commit; if even that fails (false), the start-up sweep will. */
  private unlink(link: Link): boolean {
    try {
      this.blobs.unpublish(link.staged, link.project, link.filename);
      return true;
    } catch {
      this.staging.retainForSweep(link.staged);
      return false;
    }
  }
}

function checkMetadata(name: ArtifactName, metadata: ArtifactMetadata): void {
  if (metadata.wheelLayout) checkWheelLayout(name, metadata.wheelLayout);
  // The Name becomes the project's display name (the index's project list, the web UI); JavaScript
  // lowercases the Kelvin sign to "k", so "\u212Aafka" would pass as kafka and show as its look-alike.
  if (!isValidName(metadata.name)) {
    // Spelled out: a reason phrase carries ASCII only, and the point is a letter that looks like another.
    const shown = metadata.name.replace(/[^\x20-\x7e]/gu, (character) => `<U+${character.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}>`);
    throw badRequest(`Invalid metadata in ${name.filename}: Name "${shown}" is no project name (ASCII letters, digits, '.', '_' and '-', starting and ending with a letter or digit)`);
  }
  if (normalize(metadata.name) !== name.project) {
    throw badRequest(`Name mismatch: ${name.filename} is for ${name.project}, but its metadata says Name: ${metadata.name}`);
  }
  if (normalizeVersion(metadata.version) !== name.version) {
    throw badRequest(`Version mismatch: ${name.filename} is version ${name.version}, but its metadata says Version: ${metadata.version}`);
  }
}

/**
 * A wheel pip can install, and installs as this distribution: installed, the `.dist-info` folder
 * is the distribution (pip list, uninstall, importlib.metadata), so `demo_utils-2.0.dist-info`
 * inside a demo wheel would overwrite and then stand for the project demo-utils. pip refuses a
 * wheel without WHEEL (or of a Wheel-Version it does not know) or RECORD only once it has chosen it.
 */
function checkWheelLayout(name: ArtifactName, layout: WheelLayout): void {
  const { folder } = layout;
  const named = parseDistInfoFolder(folder);
  if (!named || named.project !== name.project || compareVersions(named.version, name.version) !== 0) {
    const expected = `${name.filename.split("-").slice(0, 2).join("-")}.dist-info`;
    throw badRequest(`Invalid wheel ${name.filename}: its ${folder} folder is not ${name.project} ${name.version}'s, and pip would install the wheel as the distribution that folder names; name it ${expected}`);
  }
  if (!layout.wheelFile) throw badRequest(`Invalid wheel ${name.filename}: it has no ${folder}/WHEEL, so pip refuses to install it`);
  checkWheelFile(layout.wheelFile.toString("utf8"), `${folder}/WHEEL in ${name.filename}`);
  if (!layout.hasRecord) throw badRequest(`Invalid wheel ${name.filename}: it has no ${folder}/RECORD, so pip refuses to install it`);
}
