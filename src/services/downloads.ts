import { notFound } from "../core/errors.js";
import type { Blobs } from "../store/blobs.js";
import type { FileStore } from "../store/files.js";
import type { ProjectStore } from "../store/projects.js";
import type { Access, Principal } from "./access.js";

export interface Download {
  path: string;
  /** Strong validator: the content's own SHA-256. */
  etag: string;
  /** `<project>/<filename>` under the files folder: where nginx finds it for an X-Accel-Redirect. */
  relative: string;
  /** Only for the reader who asked: shared caches must not keep it (see Access.answersArePublic). */
  private: boolean;
}

const METADATA_SUFFIX = ".metadata";

/** Which stored file a download URL names, if the principal may have it. */
export class Downloads {
  constructor(
    private readonly projects: ProjectStore,
    private readonly files: FileStore,
    private readonly blobs: Blobs,
    private readonly access: Access,
  ) {}

  locate(principal: Principal, project: string, filename: string): Download {
    const isMetadata = filename.endsWith(METADATA_SUFFIX);
    const artifact = isMetadata ? filename.slice(0, -METADATA_SUFFIX.length) : filename;
    const file = this.files.byFilename(artifact);
    const hash = isMetadata ? file?.metadataSha256 : file?.sha256;
    const found = file && !file.deletedAt && file.project === project && hash ? this.projects.byName(file.project) : undefined;
    this.access.canRead(principal, found, () => notFound(`No file ${filename} in project ${project}`));
    return { path: this.blobs.locate(file!.project, filename), etag: `"${hash}"`, relative: `${file!.project}/${filename}`, private: !this.access.answersArePublic() };
  }
}
