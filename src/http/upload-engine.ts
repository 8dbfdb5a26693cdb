import type { Request } from "express";
import type { StorageEngine } from "multer";
import type { Blobs, Staged } from "../store/blobs.js";

export interface StagedUpload {
  field: string;
  filename: string;
  staged: Staged;
}

type Callback = (error?: unknown, info?: Partial<Express.Multer.File>) => void;

/** A multer storage engine that streams each file part into blobs.stage(): hashed, size-limited, never buffered. */
export class UploadEngine implements StorageEngine {
  constructor(
    private readonly blobs: Blobs,
    private readonly maxBytes: number,
  ) {}

  _handleFile(_request: Request, file: Express.Multer.File, callback: Callback): void {
    this.blobs.stage(file.stream, { maxBytes: this.maxBytes }).then(
      (staged) => callback(null, { size: staged.size, path: staged.path, staged } as Partial<Express.Multer.File>),
      (error) => callback(error),
    );
  }

  _removeFile(_request: Request, file: Express.Multer.File, callback: (error: Error | null) => void): void {
    const staged = (file as Express.Multer.File & { staged?: Staged }).staged;
    if (staged) this.blobs.discard(staged);
    callback(null);
  }
}

export function stagedFiles(request: Request): StagedUpload[] {
  const files = (request.files ?? {}) as Record<string, (Express.Multer.File & { staged: Staged })[]>;
  return Object.values(files)
    .flat()
    .map((file) => ({ field: file.fieldname, filename: file.originalname, staged: file.staged }));
}
