import { Router } from "express";
import type { Operations } from "../../services/operations.js";
import type { Metrics } from "../metrics.js";

/** For the people who run pydepot: a health check for load balancers and Prometheus metrics. */
export function operationRoutes(operations: Operations, metrics: Metrics): Router {
  const router = Router();
  router.get("/healthz", (_request, response) => {
    const health = operations.health();
    response.status(health.ok ? 200 : 503).set("Cache-Control", "no-store").json(health);
  });
  router.get("/metrics", async (_request, response) => {
    operations.canSeeMetrics(response.locals.principal);
    response.set("Cache-Control", "no-store").type(metrics.contentType).send(await metrics.text());
  });
  return router;
}
