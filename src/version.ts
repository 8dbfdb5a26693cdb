import { createRequire } from "node:module";

/** This program's version (package.json): the server accepts agents of a compatible one. */
export const VERSION: string = createRequire(import.meta.url)("../package.json").version;
