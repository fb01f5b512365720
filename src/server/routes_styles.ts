/**
 * @module The style routes: list, image, thumbnail, upload.
 */
import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import { IMAGE_MIME_TYPES, readImageHeader } from "../image/header.ts";
import type { StyleInfo, StyleStore } from "../styles/store.ts";
import { StyleError } from "../styles/store.ts";
import { Problem, styleProblem } from "./problem.ts";
import {
  problemResponses,
  StyleListSchema,
  StyleParamsSchema,
  StyleSchema,
  StyleUploadSchema,
} from "./schemas.ts";
import { decodeUpload, readForm } from "./upload.ts";

const png = { "image/png": { schema: { type: "string" as const, format: "binary" } } };

function withLinks(style: StyleInfo) {
  return {
    ...style,
    image: `/v1/styles/${style.id}/image`,
    thumbnail: `/v1/styles/${style.id}/thumbnail`,
  };
}

/** Adds the style routes to `app`. */
export function addStyleRoutes(app: OpenAPIHono, styles: StyleStore, maxPixels: number): void {
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/styles",
      summary: "Built-in and uploaded styles",
      responses: {
        200: {
          description: "styles",
          content: { "application/json": { schema: StyleListSchema } },
        },
      },
    }),
    async (c) => c.json({ styles: (await styles.list()).map(withLinks) }, 200),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/styles/{id}/image",
      summary: "The style image as stored (JPEG or PNG…)",
      request: { params: StyleParamsSchema },
      responses: {
        200: { description: "the image", content: png },
        ...problemResponses(404, 503),
      },
    }),
    async (c) => {
      const bytes = await styles.bytes(c.req.valid("param").id);
      const type = IMAGE_MIME_TYPES[readImageHeader(bytes).format];
      return c.body(bytes as Uint8Array<ArrayBuffer>, 200, {
        "Content-Type": type,
        "Cache-Control": "private, max-age=86400",
      });
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/styles/{id}/thumbnail",
      summary: "A small PNG of the style",
      request: { params: StyleParamsSchema },
      responses: {
        200: { description: "PNG thumbnail", content: png },
        ...problemResponses(404, 503),
      },
    }),
    async (c) => {
      const bytes = await styles.thumbnail(c.req.valid("param").id);
      return c.body(bytes as Uint8Array<ArrayBuffer>, 200, {
        "Content-Type": "image/png",
        "Cache-Control": "private, max-age=86400",
      });
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/v1/styles/{id}",
      summary: "Delete an uploaded style (built-in ones stay)",
      request: { params: StyleParamsSchema },
      responses: {
        204: { description: "deleted" },
        ...problemResponses(403, 404),
      },
    }),
    async (c) => {
      await styles.remove(c.req.valid("param").id);
      return c.body(null, 204);
    },
  );

  app.openAPIRegistry.registerPath({
    method: "post",
    path: "/v1/styles",
    summary: "Add a style of your own (kept across restarts)",
    request: {
      body: { required: true, content: { "multipart/form-data": { schema: StyleUploadSchema } } },
    },
    responses: {
      201: { description: "created", content: { "application/json": { schema: StyleSchema } } },
      ...problemResponses(400, 409, 413, 415, 422),
    },
    description: "An image already stored, or a full store (count or bytes), is a 409.",
  });
  app.post("/v1/styles", async (c) => {
    const form = await readForm(c.req.raw, ["image", "title"]);
    const title = form.get("title");
    if (typeof title !== "string" || title.trim().length === 0 || title.length > 100) {
      throw new Problem(422, "title is required: 1 to 100 characters of text", {
        type: "invalid-field",
        errors: [{ field: "title", message: "required, 1 to 100 characters" }],
      });
    }
    const image = form.get("image");
    if (image === null) {
      throw new Problem(422, "image is required: the style picture (PNG, JPEG, GIF or TIFF)", {
        type: "invalid-field",
        errors: [{ field: "image", message: "required: a PNG, JPEG, GIF or TIFF file" }],
      });
    }
    const { bytes } = await decodeUpload(image, "image", maxPixels);
    const style = withLinks(
      await styles.add(bytes, title.trim()).catch((error) => {
        throw error instanceof StyleError ? styleProblem(error, "image") : error;
      }),
    );
    c.header("Location", `/v1/styles/${style.id}`);
    return c.json(style, 201);
  });
}
