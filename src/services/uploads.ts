import { badRequest } from "../core/errors.js";
import type { ArtifactKind } from "../core/types.js";
import type { Staged } from "../store/blobs.js";
import type { Principal } from "./access.js";
import type { Ingest, IngestResult } from "./ingest.js";

/** The text fields of a legacy-API upload (twine, `setup.py upload`); repeated fields are arrays. */
export type UploadForm = Record<string, string | string[] | undefined>;

const FILETYPES: Record<string, ArtifactKind> = { sdist: "sdist", bdist_wheel: "wheel", bdist_egg: "egg" };
const DIGESTS = [
  ["md5_digest", "md5"],
  ["sha256_digest", "sha256"],
  ["blake2_256_digest", "blake2b256"],
] as const;

/** The rules of the legacy upload API on top of ingest: action, protocol, file type, digests. */
export class Uploads {
  constructor(private readonly ingest: Ingest) {}

  async upload(principal: Principal, form: UploadForm, file: { filename: string; staged: Staged } | undefined): Promise<IngestResult> {
    const action = field(form, ":action");
    if (action !== "file_upload") throw badRequest(`Unsupported :action ${JSON.stringify(action ?? "")}: this index only accepts file_upload`);
    const protocol = field(form, "protocol_version") ?? "1";
    if (protocol !== "1") throw badRequest(`Unsupported protocol_version ${protocol}: use 1`);
    if (!file) throw badRequest("Missing file: the upload has no 'content' part");
    const name = required(form, "name");
    const version = required(form, "version");
    const filetype = required(form, "filetype");
    checkFiletype(filetype, file.filename);
    checkDigests(form, file.staged);
    return this.ingest.ingest({ staged: file.staged, filename: file.filename, principal, origin: "upload", claimedName: name, claimedVersion: version });
  }
}

/** One of the single-valued fields this index reads; twine repeats only list fields (classifiers). */
function field(form: UploadForm, name: string): string | undefined {
  const text = form[name];
  // Which copy counts is a guess: a wrong digest must not pass because a right one came first.
  if (Array.isArray(text)) throw badRequest(`Malformed upload: form field '${name}' is given ${text.length} times; send it once`);
  return text === undefined || text.trim() === "" || text === "UNKNOWN" ? undefined : text.trim();
}

function required(form: UploadForm, name: string): string {
  const value = field(form, name);
  if (value === undefined) throw badRequest(`Missing form field '${name}'`);
  return value;
}

function checkFiletype(filetype: string, filename: string): void {
  const kind = FILETYPES[filetype];
  if (!kind) throw badRequest(`Unsupported filetype ${filetype}: use sdist, bdist_wheel or bdist_egg`);
  const actual: ArtifactKind = filename.endsWith(".whl") ? "wheel" : filename.endsWith(".egg") ? "egg" : "sdist";
  if (kind !== actual) throw badRequest(`Filetype mismatch: filetype ${filetype} does not match ${filename}`);
}

function checkDigests(form: UploadForm, staged: Staged): void {
  const supplied = DIGESTS.filter(([formField]) => field(form, formField) !== undefined);
  if (supplied.length === 0) throw badRequest("Missing digest: send md5_digest, sha256_digest or blake2_256_digest");
  for (const [formField, key] of supplied) {
    if (field(form, formField)!.toLowerCase() !== staged[key]) {
      throw badRequest(`The digest supplied does not match a digest calculated from the uploaded file (${formField})`);
    }
  }
}
