/**
 * @module The API docs page at `/docs`: Swagger UI on the app's OpenAPI document.
 *
 * Swagger UI's script and style sheet are served by the app itself from the
 * `swagger-ui-dist` npm package (not from a CDN), so the page also works on a
 * machine without internet.
 */
import type { OpenAPIHono } from "@hono/zod-openapi";
import { swaggerUI } from "@hono/swagger-ui";
import getAbsoluteFSPath from "swagger-ui-dist/absolute-path.js";
import { staticFiles } from "./static.ts";

/** Where the docs page loads Swagger UI's files from (`<ASSET_BASE>/swagger-ui-dist/<file>`). */
const ASSET_BASE = "/docs/assets";
/** The only files of `swagger-ui-dist` the page needs, and the only ones served. */
const ASSET_FILES = ["swagger-ui.css", "swagger-ui-bundle.js"];

/** Adds `GET /docs` (Swagger UI on `specUrl`) and its local assets under `/docs/assets/`. */
export function addDocsRoutes(app: OpenAPIHono, specUrl: string): void {
  const dir: string = getAbsoluteFSPath();
  const prefix = `${ASSET_BASE}/swagger-ui-dist/`;
  for (const file of ASSET_FILES) app.get(prefix + file, staticFiles(dir, prefix));
  app.get("/docs", swaggerUI({ url: specUrl, baseUrl: ASSET_BASE, title: "Restyle API" }));
}
