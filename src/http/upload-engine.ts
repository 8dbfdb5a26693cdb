import busboy from "busboy";
import type { IncomingMessage } from "node:http";
import type { Readable } from "node:stream";
import type { RequestHandler } from "express";
import { AppError, badRequest, clientClosed, tooLarge } from "../core/errors.js";
import type { Staging, StagedSet } from "../services/staging.js";
import type { Staged } from "../store/blobs.js";

/** What one upload route accepts: every limit is enforced while the body streams in. */
export interface FormPolicy {
  /** The file fields and how many parts each may carry; any other file part is refused. */
  fileFields: Record<string, number>;
  maxFileBytes: number;
  maxFields: number;
  /** All text fields together, names included: they are held in memory. */
  maxFieldBytes: number;
  /** The whole body as it arrives, whatever the framing (Content-Length or chunked). */
  maxBodyBytes: number;
  /** Keep `../x.tar.gz` as sent so the filename check refuses it (busboy would strip it to `x.tar.gz`). */
  preservePath?: boolean;
}

export interface ReceivedFile {
  field: string;
  filename: string;
  staged: Staged;
}

/** Text fields (repeated ones as arrays, as twine sends classifiers) and the staged files. */
export interface ReceivedForm {
  fields: Record<string, string | string[]>;
  files: ReceivedFile[];
}

declare module "express-serve-static-core" {
  interface Locals {
    form: ReceivedForm;
  }
}

/**
 * Receive a multipart form into `response.locals.form`. Mount it after the checks of who may
 * upload, so nothing is stored for a refused request. The staged files belong to a set that is
 * closed when the response closes: success, refusal, error or a client that went away.
 */
export function multipartForm(staging: Staging, policy: FormPolicy): RequestHandler {
  return async (request, response, next) => {
    if (!request.is("multipart/form-data")) throw badRequest("Malformed upload: the body must be multipart/form-data, as twine and setup.py send it");
    const declared = Number(request.headers["content-length"] ?? 0);
    if (declared > policy.maxBodyBytes) throw bodyTooLarge(policy);
    staging.requireRoom();
    const set = staging.open();
    response.once("close", () => set.close());
    try {
      response.locals.form = await receive(request, set, policy);
    } catch (error) {
      // Before the answer: a client that reads it may find no staged file of its refused form left.
      set.close();
      throw error;
    }
    next();
  };
}

function receive(request: IncomingMessage, set: StagedSet, policy: FormPolicy): Promise<ReceivedForm> {
  return new Promise((resolve, reject) => {
    let parser: busboy.Busboy;
    try {
      parser = busboy({
        headers: request.headers,
        preservePath: policy.preservePath ?? false,
        limits: { fields: policy.maxFields, fieldSize: policy.maxFieldBytes, files: maxFiles(policy), parts: policy.maxFields + maxFiles(policy), headerPairs: 20 },
      });
    } catch (error) {
      return reject(badRequest(`Malformed upload: ${(error as Error).message}`));
    }
    new FormReceiver(request, parser, set, policy, resolve, reject).start();
  });
}

/** One form being received: counts what arrives, stages file parts, and settles exactly once. */
class FormReceiver {
  private readonly form: ReceivedForm = { fields: Object.create(null) as ReceivedForm["fields"], files: [] };
  private readonly pending: Promise<void>[] = [];
  private readonly fileCounts = new Map<string, number>();
  private bodyBytes = 0;
  private fieldBytes = 0;
  private settled = false;

  constructor(
    private readonly request: IncomingMessage,
    private readonly parser: busboy.Busboy,
    private readonly set: StagedSet,
    private readonly policy: FormPolicy,
    private readonly resolve: (form: ReceivedForm) => void,
    private readonly reject: (error: unknown) => void,
  ) {}

  start(): void {
    const { request, parser, policy } = this;
    request.on("data", this.countBody);
    request.once("close", () => {
      if (!request.complete) this.fail(clientClosed());
    });
    parser.on("field", this.guarded((name, value, info) => this.field(name, value, info)));
    parser.on("file", this.guarded((name, stream, info) => this.file(name, stream, info.filename)));
    parser.on("fieldsLimit", () => this.fail(tooLarge(`Too many form fields: an upload may have at most ${policy.maxFields}`)));
    parser.on("filesLimit", () => this.fail(badRequest(`Malformed upload: at most ${maxFiles(policy)} file(s)`)));
    parser.on("partsLimit", () => this.fail(badRequest("Malformed upload: too many parts")));
    parser.on("error", (error: Error) => this.fail(badRequest(`Malformed upload: ${error.message}`)));
    parser.on("close", () => void Promise.all(this.pending).then(() => this.settle()));
    request.pipe(parser);
  }

  private readonly countBody = (chunk: Buffer): void => {
    this.bodyBytes += chunk.length;
    if (this.bodyBytes > this.policy.maxBodyBytes) this.fail(bodyTooLarge(this.policy));
  };

  private field(name: string | undefined, value: string, info: busboy.FieldInfo): void {
    // busboy hands on a part whose Content-Disposition has no name with name undefined.
    if (name === undefined) return this.fail(badRequest("Malformed upload: a form field without a name"));
    this.fieldBytes += Buffer.byteLength(name) + Buffer.byteLength(value);
    if (info.valueTruncated || this.fieldBytes > this.policy.maxFieldBytes) {
      return this.fail(tooLarge(`Form fields too large: the text fields of an upload may take ${this.policy.maxFieldBytes} bytes together`));
    }
    const previous = this.form.fields[name];
    this.form.fields[name] = previous === undefined ? value : [previous, value].flat();
  }

  private file(name: string | undefined, stream: Readable, filename: string | undefined): void {
    // Destroying the parser errors the open part; the stage reading it reports that, or has stopped.
    stream.on("error", () => {});
    const count = (this.fileCounts.get(name ?? "") ?? 0) + 1;
    this.fileCounts.set(name ?? "", count);
    const allowed = name === undefined ? undefined : this.policy.fileFields[name];
    if (this.settled || name === undefined || allowed === undefined || count > allowed) {
      stream.resume();
      if (name === undefined) return this.fail(badRequest("Malformed upload: a file part without a name"));
      if (allowed === undefined) return this.fail(badRequest(`Malformed upload: unexpected file field '${name}'`));
      return this.fail(badRequest(`Malformed upload: at most ${allowed} file(s) in '${name}'`));
    }
    const staging = this.set.stage(stream, this.policy.maxFileBytes).then((staged) => {
      this.form.files.push({ field: name, filename: filename ?? "", staged });
    });
    this.pending.push(staging.catch((error: unknown) => this.fail(error)));
  }

  /** A throw inside a busboy listener would escape through request.pipe() and end the process. */
  private guarded<A extends unknown[]>(listener: (...args: A) => void): (...args: A) => void {
    return (...args) => {
      try {
        listener(...args);
      } catch (error) {
        this.fail(error);
      }
    };
  }

  private settle(): void {
    if (this.settled) return;
    this.settled = true;
    this.request.off("data", this.countBody);
    this.resolve(this.form);
  }

  private fail(error: unknown): void {
    if (this.settled) return;
    this.settled = true;
    this.request.unpipe(this.parser);
    this.request.off("data", this.countBody);
    // Destroying the parser ends the file part being staged, which then removes its temporary file;
    // a part staged whole by then is in the set. Either way the stage settles before the answer.
    this.parser.on("error", () => {});
    this.parser.destroy();
    void Promise.allSettled(this.pending).then(() => this.reject(error));
  }
}

function maxFiles(policy: FormPolicy): number {
  return Object.values(policy.fileFields).reduce((sum, count) => sum + count, 0);
}

function bodyTooLarge(policy: FormPolicy): AppError {
  return tooLarge(`File too large: the limit is ${policy.maxFileBytes} bytes (the whole upload may take ${policy.maxBodyBytes})`);
}
