// The page files nginx serves: nginx's validator is the mtime in seconds and the size, so the
// store must never leave two different pages with the same pair, and must leave a page alone
// when its bytes did not change.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { gunzipSync } from "node:zlib";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { RenderedPages } from "../../src/store/rendered-pages.js";

let storage: string;
let pages: RenderedPages;

beforeEach(() => {
  storage = mkdtempSync(path.join(tmpdir(), "pydepot-rendered-pages-"));
  pages = new RenderedPages(storage);
});

afterEach(() => {
  rmSync(storage, { recursive: true, force: true });
});

const file = (...parts: string[]) => path.join(storage, "pages", "simple", ...parts);
const seconds = (name: string) => Math.floor(statSync(name).mtimeMs / 1000);

describe("page files", () => {
  test("a page of the same size rewritten within the second gets a later mtime, so nginx's ETag changes", () => {
    pages.write("demo", "index.html", Buffer.from("<a>one</a>"));
    const first = seconds(file("demo", "index.html"));
    pages.write("demo", "index.html", Buffer.from("<a>two</a>"));
    expect(seconds(file("demo", "index.html"))).toBeGreaterThanOrEqual(first + 1);
    expect(readFileSync(file("demo", "index.html"), "utf8")).toBe("<a>two</a>");
  });

  test("the same bytes again: nothing is rewritten (the ETag survives a restart)", () => {
    pages.write("demo", "index.json", Buffer.from("{}"));
    const before = statSync(file("demo", "index.json"));
    pages.write("demo", "index.json", Buffer.from("{}"));
    const after = statSync(file("demo", "index.json"));
    expect([after.ino, after.mtimeMs]).toEqual([before.ino, before.mtimeMs]);
  });

  test("each page has a gzip twin of the same bytes and mtime; a missing twin is written again", () => {
    pages.write(null, "index.html", Buffer.from("<html>root</html>"));
    expect(gunzipSync(readFileSync(file("index.html.gz"))).toString()).toBe("<html>root</html>");
    expect(seconds(file("index.html.gz"))).toBe(seconds(file("index.html")));
    rmSync(file("index.html.gz"));
    pages.write(null, "index.html", Buffer.from("<html>root</html>"));
    expect(gunzipSync(readFileSync(file("index.html.gz"))).toString()).toBe("<html>root</html>");
  });

  test("remove takes a project's folder, or /simple/'s own pages, and leaves no temporary files behind", () => {
    pages.write("demo", "index.html", Buffer.from("a"));
    pages.write(null, "index.json", Buffer.from("b"));
    expect(pages.projects()).toEqual(["demo"]);
    expect(readdirSync(file("demo")).sort()).toEqual(["index.html", "index.html.gz"]);
    pages.remove("demo");
    pages.remove(null);
    expect(existsSync(file("demo"))).toBe(false);
    expect(existsSync(file("index.json"))).toBe(false);
    expect(existsSync(file("index.json.gz"))).toBe(false);
    pages.clear();
    expect(existsSync(path.join(storage, "pages"))).toBe(false);
  });
});
