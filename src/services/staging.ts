import type { Readable } from "node:stream";
import { clientClosed, insufficientStorage } from "../core/errors.js";
import type { Blobs, Staged } from "../store/blobs.js";

/**
 * The one owner of staged files, from arrival in storage/tmp to commit or discard: each upload
 * request or import opens a set, and closing the set discards whatever it still holds. Ingest
 * links what it keeps, so discarding after a commit only drops the temporary name.
 */
export class Staging {
  /** Staged files kept with their publish note for the start-up sweep, whatever set held them. */
  private readonly retained = new Set<string>();
  /** Staged files whose set was closed: gone from storage/tmp, so never to be published. */
  private readonly discarded = new WeakSet<Staged>();

  constructor(
    private readonly blobs: Blobs,
    /** See settings: storage.min_free_bytes. */
    private readonly minFreeBytes: number,
  ) {}

  /** The storage filesystem's free space against the floor uploads need (/healthz reports it too). */
  room(): { freeBytes: number; minFreeBytes: number; enough: boolean } {
    const freeBytes = this.blobs.freeBytes();
    return { freeBytes, minFreeBytes: this.minFreeBytes, enough: freeBytes >= this.minFreeBytes };
  }

  /**
   * An upload (twine, a build result) is refused before a byte of its body is stored while the
   * storage filesystem is below the floor: the database, its WAL and imports by the operator keep
   * that room, and the client hears why at once instead of after sending a large file.
   */
  requireRoom(): void {
    const { freeBytes, minFreeBytes, enough } = this.room();
    if (!enough) {
      throw insufficientStorage(
        `Insufficient storage: the server has ${freeBytes} bytes free, below storage.min_free_bytes (${minFreeBytes}); try again once an administrator has freed some`,
      );
    }
  }

  open(): StagedSet {
    return new StagedSet(this.blobs, this.retained, this.discarded);
  }

  /**
   * Refuse to go on with a staged file its request discarded: a client that leaves after sending
   * its whole upload closes the set while ingest still reads the archive, and publishing the
   * removed file then failed as an internal error, leaving its publish note in storage/tmp and an
   * empty project folder under files/. Called once the archive is read and again where the file is
   * recorded, inside the transaction: either way the request ends as the client's doing.
   */
  requireHeld(staged: Staged): void {
    if (this.discarded.has(staged)) throw clientClosed();
  }

  /**
   * Leave a staged file and its publish note for the start-up sweep: a published link whose undo
   * failed (EIO) must keep the evidence the sweep needs to remove it.
   */
  retainForSweep(staged: Staged): void {
    this.retained.add(staged.path);
  }

  /** Run work with a fresh set that is closed on every exit path. */
  async within<T>(work: (set: StagedSet) => Promise<T>): Promise<T> {
    const set = this.open();
    try {
      return await work(set);
    } finally {
      set.close();
    }
  }
}

export class StagedSet {
  private readonly held = new Set<Staged>();
  private closed = false;

  constructor(
    private readonly blobs: Blobs,
    private readonly retained: ReadonlySet<string>,
    private readonly discarded: WeakSet<Staged>,
  ) {}

  /** `sync: false` leaves the bytes to `Blobs.syncFileSystem()` (a batch). */
  async stage(source: AsyncIterable<Buffer> & Readable, maxBytes: number, sync = true): Promise<Staged> {
    return this.hold(await this.blobs.stage(source, { maxBytes, sync }));
  }

  stageBytes(bytes: Buffer): Staged {
    return this.hold(this.blobs.stageBytes(bytes));
  }

  /** Not fsynced: for a batch, which calls `Blobs.syncFileSystem()` before recording. */
  async stageBytesUnsynced(bytes: Buffer): Promise<Staged> {
    return this.hold(await this.blobs.stageBytesUnsynced(bytes));
  }

  /** Discard everything still held; a file staged after this (a request that ended early) goes at once. */
  close(): void {
    this.closed = true;
    for (const staged of this.held) {
      this.discarded.add(staged);
      if (!this.retained.has(staged.path)) this.discardOrLeave(staged);
    }
    this.held.clear();
  }

  /**
   * A set closes when its response does, where a throw would end the server, and a request whose
   * client left must end as that, not as an internal error: a file the disk will not let go of
   * now (EIO, EPERM) stays in storage/tmp for the start-up sweep.
   */
  private discardOrLeave(staged: Staged): void {
    try {
      this.blobs.discard(staged);
    } catch {
      // Left for the sweep, which removes every unrecorded file in storage/tmp.
    }
  }

  private hold(staged: Staged): Staged {
    if (this.closed) {
      this.discardOrLeave(staged);
      // The request ended (its client left) while the file's last bytes were being written.
      throw clientClosed();
    }
    this.held.add(staged);
    return staged;
  }
}
