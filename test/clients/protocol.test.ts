// Which form of the index each real client asks for and gets, and the quirks of
// python-index-protocols.md §10/§11 that only the real clients can show: PEP 691 JSON for
// pip >= 22.2 (and no `dist-info-metadata` key, which would crash pip 23.0.1), plain text/html
// for older pips and for easy_install (which sends no Accept at all), PEP 658 `.metadata` for
// pip >= 23.2, and `data-yanked=""` honoured by the html.parser-based pips.
// A request log between client and server records what was asked and answered.
import { basename } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectOk } from "../support/clients.js";
import { startRequestLog, type LoggedRequest, type RequestLog } from "../support/request-log.js";
import { startTestServer, type TestServer } from "../support/server.js";
import {
  EASY_INSTALL,
  Environments,
  HTML_PAGE,
  PIP_18,
  PIP_19,
  PIP_23,
  PIP_23_0,
  PIP_24,
  installedDemoVersion,
  meetsRequiresPython,
  seedIndex,
  type Client,
  type SeededIndex,
} from "./matrix.js";

const CLIENTS: readonly Client[] = [PIP_18, PIP_19, PIP_23_0, PIP_23, PIP_24, EASY_INSTALL];
/** The pips that ask for JSON first, and so read HTML only from an index that offers nothing else. */
const JSON_READERS = CLIENTS.filter((client) => client.accept?.startsWith("application/vnd.pypi.simple.v1+json"));

let server: TestServer;
let seeded: SeededIndex;
/** Passes requests through untouched. */
let log: RequestLog;
/** Turns every index page request into `Accept: text/html`, like an HTML-only mirror would serve. */
let htmlOnly: RequestLog;
const environments = new Environments();

beforeAll(async () => {
  server = await startTestServer();
  seeded = await seedIndex(server);
  log = await startRequestLog(server.url);
  htmlOnly = await startRequestLog(server.url, { forceAccept: "text/html" });
});

afterAll(async () => {
  await environments.cleanup();
  await log?.stop();
  await htmlOnly?.stop();
  await server?.stop();
});

/** Index pages the client got (redirects left out). */
function pagesServed(requests: readonly LoggedRequest[]): LoggedRequest[] {
  return requests.filter((request) => request.path.startsWith("/simple/") && request.status === 200);
}

function acceptLabel(client: Client): string {
  if (client.accept === undefined) return "no Accept header";
  return client.accept.startsWith("application/vnd.pypi.simple.v1+json") ? "its JSON-first Accept" : `Accept: ${client.accept}`;
}

function metadataFetches(requests: readonly LoggedRequest[]): string[] {
  return requests.filter((request) => request.path.endsWith(".metadata")).map((request) => `${request.status} ${request.path}`);
}

// Concurrent: each test has its own environment, and a client's requests are told apart in
// the shared log by its User-Agent (each client appears once per log).
describe.concurrent.each(CLIENTS)("$name", (client) => {
  it(`gets ${client.pageType} for ${acceptLabel(client)} and installs from it`, async () => {
    const env = await environments.fresh(client.python);
    expectOk(await client.install(env, log.index, "Demo_Pkg==1.0"));
    expect(await installedDemoVersion(env)).toBe("1.0");

    const requests = log.from(client.userAgent);
    const pages = pagesServed(requests);
    expect(pages.map((page) => page.path)).toContain("/simple/demo-pkg/");
    for (const page of pages) {
      expect(page.accept).toBe(client.accept);
      expect(page.contentType).toBe(client.pageType);
    }
    const metadata = `200 /files/demo-pkg/${basename(seeded.files.demoWheel)}.metadata`;
    expect(metadataFetches(requests)).toEqual(client.readsCoreMetadata ? [metadata] : []);
  });
});

describe.concurrent.each(JSON_READERS)("$name, reading the HTML form", (client) => {
  it('skips the release yanked with data-yanked="" and uses data-core-metadata if it knows PEP 658', async () => {
    const env = await environments.fresh(client.python);
    expectOk(await client.install(env, htmlOnly.index, "Demo_Pkg"));
    // 2.1 is yanked with an empty reason, 2.0 with "broken": the newest one left is 1.5.
    expect(await installedDemoVersion(env)).toBe(meetsRequiresPython(client) ? "1.5" : "1.0");

    const requests = htmlOnly.from(client.userAgent);
    expect(pagesServed(requests).map((page) => page.contentType)).toEqual([HTML_PAGE]);
    const metadata = `200 /files/demo-pkg/${basename(seeded.files.demo15)}.metadata`;
    expect(metadataFetches(requests)).toEqual(client.readsCoreMetadata ? [metadata] : []);
  });
});

describe("the HTML a pip >= 22 parses with html.parser", () => {
  it('marks a release yanked without a reason with data-yanked="", never a bare attribute', async () => {
    const answer = await fetch(`${server.index}demo-pkg/`, { headers: { Accept: "text/html" } });
    const html = await answer.text();
    const anchor = new RegExp(`<a [^>]*>${basename(seeded.files.demo21).replace(/\./g, "\\.")}</a>`).exec(html);
    expect(anchor?.[0]).toContain(' data-yanked=""');
  });
});
