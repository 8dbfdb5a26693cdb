import { createServer, type Server } from "node:http";
import express, { type Express } from "express";
import type { Access } from "../services/access.js";
import type { Accounts } from "../services/accounts.js";
import type { Agents } from "../services/agents.js";
import type { Catalog } from "../services/catalog.js";
import type { Checks } from "../services/checks.js";
import type { JobStream } from "../services/job-stream.js";
import type { Jobs } from "../services/jobs.js";
import type { Downloads } from "../services/downloads.js";
import type { Operations } from "../services/operations.js";
import type { Pages } from "../services/pages.js";
import type { Releases } from "../services/releases.js";
import type { Sessions } from "../services/sessions.js";
import type { Waivers } from "../services/waivers.js";
import type { Uploads } from "../services/uploads.js";
import type { Staging } from "../services/staging.js";
import type { SmokeChecks } from "../services/smoke-checks.js";
import { errorHandler } from "./errors.js";
import { identify } from "./identify.js";
import { refuseCrossSite } from "./cross-site.js";
import { downloadFastPath } from "./download-fast-path.js";
import { indexFastPath } from "./index-fast-path.js";
import { Metrics } from "./metrics.js";
import { adminRoutes } from "./routes/admin.js";
import { checkRoutes } from "./routes/checks.js";
import { farmRoutes } from "./routes/farm.js";
import { fileRoutes } from "./routes/files.js";
import { gateRoutes } from "./routes/gate.js";
import { legacyRoutes, type UploadLimits } from "./routes/legacy.js";
import { operationRoutes } from "./routes/operations.js";
import { simpleRoutes } from "./routes/simple.js";
import { uiRoutes } from "./routes/ui/router.js";

export interface HttpDependencies {
  access: Access;
  accounts: Accounts;
  agents: Agents;
  jobs: Jobs;
  jobStream: JobStream;
  checks: Checks;
  pages: Pages;
  downloads: Downloads;
  uploads: Uploads;
  releases: Releases;
  staging: Staging;
  catalog: Catalog;
  sessions: Sessions;
  waivers: Waivers;
  smokeChecks: SmokeChecks;
  /** See settings: server.public_url (install lines name it; else the request's host). */
  publicUrl?: string;
  uploadLimits: UploadLimits;
  operations: Operations;
  longPollMs: number;
  /** See settings: server.trusted_proxy. */
  trustedProxy?: string;
  timeouts: { headersMs: number; requestMs: number; idleMs: number };
  log: (message: string) => void;
}

/** Middleware order: identify, the cross-site refusal, routers, then the one error handler. */
export function createHttpApp(deps: HttpDependencies, metrics = new Metrics(deps.operations, deps.jobStream)): Express {
  const app = express();
  app.disable("x-powered-by");
  app.disable("etag");
  app.use(identify(deps.accounts, deps.agents, deps.jobs, deps.checks, deps.trustedProxy));
  app.use(refuseCrossSite(deps.publicUrl, deps.trustedProxy));
  app.use(simpleRoutes(deps.pages));
  app.use(fileRoutes(deps.downloads, deps.trustedProxy, deps.log));
  app.use(legacyRoutes(deps.access, deps.uploads, deps.staging, deps.uploadLimits));
  app.use(adminRoutes(deps.releases));
  app.use(gateRoutes(deps.waivers, deps.smokeChecks));
  app.use(farmRoutes(deps));
  app.use(checkRoutes(deps.checks));
  app.use(operationRoutes(deps.operations, metrics));
  app.use(uiRoutes(deps));
  app.use((request, response) => {
    response.statusMessage = "Not Found";
    response.status(404).type("text/plain").send(`Not found: ${request.path}\n`);
  });
  app.use(errorHandler(deps.log));
  return app;
}

/**
 * The HTTP server: the index and download fast paths first, the Express app for everything else.
 * Every answer is counted here, around all three, so the fast paths themselves stay as they are
 * (a download ends after its last byte, hence the 'finish' listener there too). Clients that drip
 * headers, stall an upload or hold an idle connection are cut off by the timeouts.
 */
export function createHttpServer(deps: HttpDependencies): Server {
  const metrics = new Metrics(deps.operations, deps.jobStream);
  const app = createHttpApp(deps, metrics);
  const fastPath = indexFastPath(deps.pages);
  const fastDownload = downloadFastPath(deps.downloads, deps.trustedProxy, app, deps.log);
  const { headersMs, requestMs, idleMs } = deps.timeouts;
  // Node checks the header and request timeouts only this often (30 s by default).
  const server = createServer({ headersTimeout: headersMs, requestTimeout: requestMs, connectionsCheckingInterval: Math.min(1000, headersMs) }, (request, response) => {
    const startedAt = process.hrtime.bigint();
    if (fastPath(request, response)) return metrics.finished(request, response, startedAt, true);
    if (fastDownload(request, response)) return void response.once("finish", () => metrics.finished(request, response, startedAt, true));
    response.once("finish", () => metrics.finished(request, response, startedAt, false));
    app(request, response);
  });
  // No 'timeout' listener: Node destroys a socket idle for this long.
  server.timeout = idleMs;
  return server;
}
