// A real browser for the UI tests: Debian's chromium (installed by global-setup.ts like the
// suite's other Debian packages), driven headless by playwright-core, which ships no browser of
// its own. Pages keep what went wrong in them (uncaught errors, console errors, failed requests)
// so a test can insist there was nothing, and screenshots land in test/.screenshots/ (ignored
// by git) for a person to look at after the run.
import { existsSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type Page } from "playwright-core";

const CHROMIUM = "/usr/bin/chromium";
export const SCREENSHOTS = join(dirname(fileURLToPath(import.meta.url)), "..", ".screenshots");

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: the suite's global setup installs Debian's chromium package (run the tests as root)`);
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // The suite runs as root (it adds users, starts sshd, builds as other users), and Chromium
    // refuses to start as root with its sandbox on: the sandbox cannot drop privileges that root
    // keeps. The browser here only opens pages of a test server on 127.0.0.1.
    args: process.getuid?.() === 0 ? ["--no-sandbox"] : [],
  });
}

export interface PageOptions {
  /** Width × height in CSS pixels; default a laptop screen. 375 × 740 is a phone. */
  viewport?: { width: number; height: number };
}

const problems = new WeakMap<Page, string[]>();

/** A page in a fresh context (no cookies, no cache shared with other pages) that records its problems. */
export async function openPage(browser: Browser, options: PageOptions = {}): Promise<Page> {
  const context = await browser.newContext({ viewport: options.viewport ?? { width: 1280, height: 800 } });
  const page = await context.newPage();
  const found: string[] = [];
  problems.set(page, found);
  page.on("pageerror", (error) => found.push(`uncaught: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error") found.push(`console: ${message.text()}`);
  });
  page.on("requestfailed", (request) => {
    const reason = request.failure()?.errorText;
    // The page itself let go of it (EventSource.close(), an aborted fetch, a navigation): not a failure.
    if (reason !== "net::ERR_ABORTED") found.push(`request failed: ${request.method()} ${request.url()}: ${reason}`);
  });
  return page;
}

/** What went wrong in the page so far: uncaught errors, console errors, failed requests (not those the page aborted). */
export function pageProblems(page: Page): string[] {
  return [...(problems.get(page) ?? [])];
}

/** A full-page PNG as test/.screenshots/<name>.png; returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const file = join(SCREENSHOTS, `${name.replace(/[^A-Za-z0-9._-]+/g, "-")}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}
