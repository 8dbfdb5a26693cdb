// The live job log in a real browser (Debian's chromium): a tiny page, served by this test on the
// farm's own origin, follows GET /api/farm/jobs/<id>/events with EventSource while a real agent
// builds slow-build, which sleeps between two lines of output. The first line shows while the
// build still sleeps, and the page ends with the whole log and the final status. When the server
// is killed and started again mid-build, the browser's own reconnection (Last-Event-ID) carries
// on where it left off, no line twice. No sign-in yet: the index lets anonymous visitors read.
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { launchBrowser, openPage, pageProblems, screenshot } from "../support/browser.js";
import { Farm, FARM_TEST_TIMEOUT_MS } from "../support/farm.js";
import { buildSdist } from "../support/packages.js";
import { sharedPython } from "../support/unprivileged.js";

const SLEEPING = "slow-build: sleeping";
const AWAKE = "slow-build: awake, building";
const WAIT_MS = 240_000;

/** Shows each line as it comes and the status; closes the EventSource at a final status, as a page must. */
const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>live log</title></head>
<body><main><h1>Job <span id="job"></span>: <span id="status">connecting</span></h1><ol id="log"></ol></main>
<script>
  const id = new URLSearchParams(location.search).get("job");
  document.getElementById("job").textContent = id;
  const source = new EventSource("/api/farm/jobs/" + id + "/events");
  window.liveLog = { source, opened: 0 };
  source.addEventListener("open", () => window.liveLog.opened++);
  source.addEventListener("log", (event) => {
    const line = JSON.parse(event.data);
    const item = document.createElement("li");
    item.dataset.id = line.id;
    item.textContent = line.stream + ": " + line.text;
    document.getElementById("log").append(item);
  });
  source.addEventListener("status", (event) => {
    const state = JSON.parse(event.data);
    const status = document.getElementById("status");
    status.textContent = state.status;
    status.dataset.status = state.status;
    if (state.status !== "queued" && state.status !== "leased") source.close();
  });
</script></body></html>`;

describe("a build's log, live in chromium", { timeout: FARM_TEST_TIMEOUT_MS }, () => {
  let farm: Farm;
  let browser: Browser;

  beforeAll(async () => {
    browser = await launchBrowser();
    farm = await Farm.start();
    await farm.startAgent("builder", { pythons: [sharedPython("2.7")] });
  });

  afterAll(async () => {
    await browser?.close();
    await farm?.stop();
  });

  /** Uploads slow-build VERSION and opens the live page on its job; returns both. */
  async function follow(version: string): Promise<{ page: Page; jobId: number }> {
    await farm.upload(await buildSdist("slow-build", { version }));
    const job = await farm.waitForJob(`the job of slow-build ${version}`, "slow-build", (row) => row.version === version);
    const page = await openPage(browser);
    // Served on the farm's own origin, so EventSource reaches the API without any CORS.
    await page.route(`${farm.url}/live-log-test.html*`, (route) => route.fulfill({ contentType: "text/html; charset=utf-8", body: PAGE }));
    await page.goto(`${farm.url}/live-log-test.html?job=${job.id}`);
    return { page, jobId: job.id };
  }

  const lines = (page: Page) => page.locator("#log li").evaluateAll((items) => items.map((item) => [Number((item as HTMLElement).dataset.id), item.textContent]));
  const logOf = async (jobId: number) => (await farm.job(jobId)).log.map((line) => [line.id, `${line.stream}: ${line.text}`]);

  test("the first line shows while the build sleeps; the page ends with every line once and the final status", async () => {
    const { page, jobId } = await follow("1.0");
    await page.locator("#log li", { hasText: SLEEPING }).waitFor({ timeout: WAIT_MS });
    // Still asleep: running, the next line not written yet, and the page says so.
    const during = await farm.job(jobId);
    expect(during.job.status).toBe("leased");
    expect(during.log.some((line) => line.text.includes(AWAKE))).toBe(false);
    expect(await page.locator("#status").textContent()).toBe("leased");
    await screenshot(page, "live-log-running");

    await page.locator('#status[data-status="succeeded"]').waitFor({ timeout: WAIT_MS });
    expect(await lines(page)).toEqual(await logOf(jobId));
    expect(await page.evaluate(() => (window as unknown as { liveLog: { source: EventSource } }).liveLog.source.readyState)).toBe(2); // CLOSED
    await screenshot(page, "live-log-finished");
    expect(pageProblems(page)).toEqual([]);
  });

  test("the server killed and started again mid-build: EventSource reconnects with Last-Event-ID and no line shows twice", async () => {
    const { page, jobId } = await follow("2.0");
    await page.locator("#log li", { hasText: SLEEPING }).waitFor({ timeout: WAIT_MS });
    expect(await page.evaluate(() => (window as unknown as { liveLog: { opened: number } }).liveLog.opened)).toBe(1);
    await farm.restartServer();

    await page.locator('#status[data-status="succeeded"]').waitFor({ timeout: WAIT_MS });
    expect(await lines(page)).toEqual(await logOf(jobId));
    expect(await page.evaluate(() => (window as unknown as { liveLog: { opened: number } }).liveLog.opened)).toBeGreaterThanOrEqual(2);
    await screenshot(page, "live-log-after-restart");
    // The stream the kill cut off, and reconnections tried while the server was down, are all that
    // went wrong (chromium reports each as a failed request and on the console).
    const problems = pageProblems(page);
    expect(problems.some((problem) => problem.includes("net::ERR_INCOMPLETE_CHUNKED_ENCODING")), problems.join("\n")).toBe(true);
    expect(problems.every((problem) => /net::ERR_(INCOMPLETE_CHUNKED_ENCODING|CONNECTION_REFUSED)$/.test(problem)), problems.join("\n")).toBe(true);
  });
});
