import busboy from "busboy";
import type { IncomingMessage } from "node:http";
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
    const set = staging.open();
    response.once("close", () => set.close());
    response.locals.form = await receive(request, set, policy);
    next();
  };
}

function receive(request: IncomingMessage, set: StagedSet, policy: FormPolicy): Promise<ReceivedForm> {
  return new Promise((resolve, reject) => {
    const form: ReceivedForm = { fields: Object.create(null) as ReceivedForm["fields"], files: [] };
    const pending: Promise<void>[] = [];
    const fileCounts = new Map<string, number>();
    const maxFiles = Object.values(policy.fileFields).reduce((sum, count) => sum + count, 0);
    let bodyBytes = 0;
    let fieldBytes = 0;
    let settled = false;
    let parser: busboy.Busboy;
    try {
      parser = busboy({
        headers: request.headers,
        preservePath: policy.preservePath ?? false,
        limits: { fields: policy.maxFields, fieldSize: policy.maxFieldBytes, files: maxFiles, parts: policy.maxFields + maxFiles, headerPairs: 20 },
      });
    } catch (error) {
      reject(badRequest(`Malformed upload: ${(error as Error).message}`));
      return;
    }
    const fail = (error: unknown) => {
      if (settled) return;
      settled = true;
      request.unpipe(parser);
      request.off("data", countBody);
      // Destroying the parser ends the file part being staged, which then removes its temporary file.
      parser.on("error", () => {});
      parser.destroy();
      reject(error);
    };
    const countBody = (chunk: Buffer) => {
      bodyBytes += chunk.length;
      if (bodyBytes > policy.maxBodyBytes) fail(bodyTooLarge(policy));
    };
    request.on("data", countBody);
    request.once("close", () => {
      if (!request.complete) fail(clientClosed());
    });
    // A throw inside a busboy listener would escape through request.pipe() and end the process.
    const guarded =
      <A extends unknown[]>(listener: (...args: A) => void) =>
      (...args: A) => {
        try {
          listener(...args);
        } catch (error) {
          fail(error);
        }
      };
    parser.on("field", guarded((name, value, info) => {
      // busboy passes a part whose Content-Disposition has no name on with name undefined.
      if ((name as string | undefined) === undefined) return fail(badRequest("Malformed upload: a form field without a name"));
      fieldBytes += Buffer.byteLength(name) + Buffer.byteLength(value);
      if (info.valueTruncated || fieldBytes > policy.maxFieldBytes) {
        return fail(tooLarge(`Form fields too large: the text fields of an upload may take ${policy.maxFieldBytes} bytes together`));
      }
      const previous = form.fields[name];
      form.fields[name] = previous === undefined ? value : [previous, value].flat();
    }));
    parser.on("file", guarded((name, stream, info) => {
      // Destroying the parser errors the open part; the stage reading it reports that, or has stopped.
      stream.on("error", () => {});
      if (settled) return stream.resume();
      if ((name as string | undefined) === undefined) {
        stream.resume();
        return fail(badRequest("Malformed upload: a file part without a name"));
      }
      const count = (fileCounts.get(name) ?? 0) + 1;
      fileCounts.set(name, count);
      const allowed = policy.fileFields[name];
      if (allowed === undefined || count > allowed) {
        stream.resume();
        return fail(badRequest(allowed === undefined ? `Malformed upload: unexpected file field '${name}'` : `Malformed upload: at most ${allowed} file(s) in '${name}'`));
      }
      const staging = set.stage(stream, policy.maxFileBytes).then((staged) => {
        form.files.push({ field: name, filename: info.filename ?? "", staged });
      });
      pending.push(staging.catch(fail));
    }));
    parser.on("fieldsLimit", () => fail(tooLarge(`Too many form fields: an upload may have at most ${policy.maxFields}`)));
    parser.on("filesLimit", () => fail(badRequest(`Malformed upload: at most ${maxFiles} file(s)`)));
    parser.on("partsLimit", () => fail(badRequest(`Malformed upload: too many parts`)));
    parser.on("error", (error: Error) => fail(badRequest(`Malformed upload: ${error.message}`)));
    parser.on("close", () => {
      void Promise.all(pending).then(() => {
        if (settled) return;
        settled = true;
        resolve(form);
      });
    });
    request.pipe(parser);
  });
}

function bodyTooLarge(policy: FormPolicy): AppError {
  return tooLarge(`File too large: the limit is ${policy.maxFileBytes} bytes (the whole upload may take ${policy.maxBodyBytes})`);
}
