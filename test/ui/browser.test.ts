// The web UI clicked through in a real browser (Debian's chromium through playwright-core), on a
// real farm: twine uploads an sdist, the project page shows its build pending, a real agent
// builds it while the job page streams the log live and turns its status without a reload, the
// checker verifies the wheel on a real sshd node and the badge turns verified; an uploaded wheel
// that fails its import check shows the reason; a signed-in admin yanks a release through the
// form and pip no longer picks it. Every page is saved as a screenshot in test/.screenshots/.
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { launchBrowser, openPage, pageProblems, screenshot } from "../support/browser.js";
import { makeEnvironment, pipInstall, type PythonEnvironment } from "../support/clients.js";
import { expectOk } from "../support/commands.js";
import { buildFixture, checkerToml, nodeSettings } from "../support/checker.js";
import { waitFor } from "../support/farm-api.js";
import { Farm, FARM_TEST_TIMEOUT_MS } from "../support/farm.js";
import { buildSdist } from "../support/packages.js";
import { startSshd, type SshdNode } from "../support/sshd.js";
import { sharedPython } from "../support/unprivileged.js";

const WAIT_MS = 240_000;
const PHONE = { width: 375, height: 740 };

describe("the web UI in chromium, on a farm with an agent and a clean node", { timeout: FARM_TEST_TIMEOUT_MS }, () => {
  let node: SshdNode;
  let farm: Farm;
  let browser: Browser;
  let page: Page;
  let environment: PythonEnvironment;

  beforeAll(async () => {
    node = await startSshd();
    farm = await Farm.start({}, { config: checkerToml([nodeSettings(node, { interpreters: [sharedPython("3.11")] })], { sweep_seconds: 2, retry_seconds: 2, check_timeout_seconds: 120 }) });
    browser = await launchBrowser();
    page = await openPage(browser);
    environment = await makeEnvironment("3.11");
  });

  afterAll(async () => {
    await browser?.close();
    await farm?.stop();
    await node?.dispose();
    await environment?.cleanup();
  });

  /** Reloads the page until `selector` is there (the project and matrix pages do not stream). */
  async function reloadUntil(what: string, selector: string): Promise<void> {
    await waitFor(
      what,
      async () => {
        await page.reload();
        return (await page.locator(selector).count()) > 0 ? true : undefined;
      },
      { timeoutMs: WAIT_MS, intervalMs: 1000, describe: async () => (await page.locator("main").innerText()).slice(0, 4000) },
    );
  }

  test("an uploaded sdist: pending, built with its log live, verified on the node", async () => {
    // The agent says what it builds for, then stops: the upload's job waits for it, pending. The
    // server starts again too, or the dead agent's long poll (still open there) would take the job.
    await farm.startAgent("builder", { pythons: [sharedPython("3.11")] });
    await farm.killAgent("builder");
    await farm.restartServer();
    await farm.upload(await buildSdist("slow-build", { version: "1.0" }));
    await page.goto(`${farm.url}/ui/projects/slow-build`);
    await expect.poll(() => page.locator(".pending").innerText()).toBe("1 build(s) pending");
    await screenshot(page, "project-pending");

    await page.goto(`${farm.url}/ui/`);
    await page.getByLabel("Search projects by name or summary").fill("slow");
    await page.getByRole("button", { name: "Search" }).click();
    await page.locator(".results").getByRole("link", { name: "slow-build" }).click();
    await page.getByRole("link", { name: "Build and check matrix" }).click();
    await screenshot(page, "matrix-pending");

    await farm.startAgent("builder", { pythons: [sharedPython("3.11")] });
    const job = await farm.waitForJob("the build of slow-build 1.0 leased", "slow-build", (row) => row.status === "leased");
    await page.goto(`${farm.url}/ui/jobs/${job.id}`);
    await page.evaluate(() => ((window as unknown as { sameDocument: boolean }).sameDocument = true));
    // The first line comes while the build sleeps: streamed into the page, the job still running.
    await farm.waitForLog(job.id, "slow-build: sleeping");
    await page.locator("#job-log", { hasText: "slow-build: sleeping" }).waitFor({ timeout: WAIT_MS });
    expect(await page.locator("#job-status").getAttribute("data-status")).toBe("leased");
    await screenshot(page, "job-live");
    await page.locator('#job-status[data-status="succeeded"]').waitFor({ timeout: WAIT_MS });
    expect(await page.locator("#job-log").innerText()).toContain("slow-build: awake, building");
    expect(await page.locator("#job-reason").innerText()).toMatch(/^built slow_build-1\.0-py3-none-any\.whl$/);
    expect(await page.evaluate(() => (window as unknown as { sameDocument?: boolean }).sameDocument)).toBe(true);
    await screenshot(page, "job-done");

    await page.goto(`${farm.url}/ui/projects/slow-build/releases/1.0`);
    await reloadUntil("the wheel verified on Python 3.11", ".verdicts .badge-verified");
    await screenshot(page, "matrix-verified");
    await page.getByRole("link", { name: /^check #\d+ log$/ }).first().click();
    await expect.poll(() => page.locator("h1").innerText()).toMatch(/^Check #\d+: slow_build-1\.0-py3-none-any\.whl$/);
    await screenshot(page, "check-verified");
    await page.goto(`${farm.url}/ui/projects/slow-build`);
    expect(await page.locator("table.files tr", { hasText: "slow_build-1.0-py3-none-any.whl" }).locator(".badge").innerText()).toBe("verified");
    await screenshot(page, "project-verified");
    expect(pageProblems(page)).toEqual([]);
  });

  test("a wheel whose import fails shows why", async () => {
    await farm.upload(await buildFixture({ fixture: "import-fails" }));
    await page.goto(`${farm.url}/ui/projects/import-fails/releases/1.0`);
    await reloadUntil("the import-fails wheel failed its check", ".verdicts .badge-failed");
    expect(await page.locator(".verdicts .reason").first().innerText()).toBe("import import_fails failed: RuntimeError: import_fails: the fixture refuses to be imported");
    await screenshot(page, "matrix-failed");
    await page.getByRole("link", { name: /^check #\d+ log$/ }).first().click();
    expect(await page.locator("#check-reason").innerText()).toBe("import import_fails failed: RuntimeError: import_fails: the fixture refuses to be imported");
    expect(await page.locator("pre.log").innerText()).toContain("RuntimeError: import_fails: the fixture refuses to be imported");
    await screenshot(page, "check-failed");
    await page.goto(`${farm.url}/ui/`);
    expect(await page.locator("section", { has: page.locator("#failures") }).innerText()).toContain("import_fails-1.0-py3-none-any.whl");
    await screenshot(page, "home");
    expect(pageProblems(page)).toEqual([]);
  });

  test("a signed-in admin yanks a release and pip no longer picks it", async () => {
    await farm.upload(await buildSdist("slow-build", { version: "2.0" }));
    await farm.settled("slow-build", 2);
    const wheel = "slow_build-2.0-py3-none-any.whl";
    await page.goto(`${farm.url}/ui/projects/slow-build`);
    await reloadUntil("slow-build 2.0 verified", `table.files tr:has-text("${wheel}") .badge-verified`);
    expect(expectOk(await pipInstall(environment, farm.index, ["--dry-run", "slow-build"])).stdout).toContain("Would install slow-build-2.0");

    await page.goto(`${farm.url}/ui/sign-in`);
    await screenshot(page, "sign-in");
    await page.getByLabel("Password or API token").fill("not-a-token");
    await page.getByRole("button", { name: "Sign in" }).click();
    expect(await page.getByRole("alert").innerText()).toBe("Invalid or revoked API token");
    await screenshot(page, "sign-in-refused");
    await page.getByLabel("Password or API token").fill(farm.adminToken);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.goto(`${farm.url}/ui/projects/slow-build`);
    expect(await page.locator(".account").innerText()).toContain("Signed in as admin");
    await page.getByLabel("Reason to yank 2.0").fill("broken on purpose");
    await page.getByRole("button", { name: "Yank 2.0" }).click();
    expect(await page.locator("#release-2-0 .badge-yanked").innerText()).toBe("yanked");
    expect(await page.locator(".reason", { hasText: "Yanked: broken on purpose" }).count()).toBe(1);
    await screenshot(page, "project-yanked");

    const installed = expectOk(await pipInstall(environment, farm.index, ["slow-build"]));
    expect(installed.stdout).toContain("Successfully installed slow-build-1.0");

    for (const [name, path] of [["agents", "/ui/agents"], ["nodes", "/ui/nodes"]] as const) {
      await page.goto(`${farm.url}${path}`);
      expect(await page.locator("h1").innerText()).toBe(name === "agents" ? "Build agents" : "Clean nodes");
      await screenshot(page, name);
    }
    expect(await page.locator("table").innerText()).toContain("healthy");
    const phone = await openPage(browser, { viewport: PHONE });
    await phone.goto(`${farm.url}/ui/projects/slow-build`);
    const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow).toBe(0);
    await screenshot(phone, "project-phone");
    // The one refused sign-in answered 401 on purpose; the browser logs that status, nothing else may appear.
    const refused = "console: Failed to load resource: the server responded with a status of 401 (Invalid or revoked API token)";
    expect([...pageProblems(page), ...pageProblems(phone)].filter((problem) => problem !== refused)).toEqual([]);
  });
});
