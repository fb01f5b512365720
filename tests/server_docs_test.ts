/**
 * What the server publishes besides the API: the OpenAPI document generated
 * from the route schemas, the docs page, the web page and the Photopea plug-in page. A fake
 * runner stands in for the engine.
 */
import assert from "node:assert/strict";
import { fakeRunner, testServer } from "./_server.ts";

Deno.test("/openapi.json documents every v1 route, the multipart job form and problem responses", async () => {
  const server = await testServer({ run: fakeRunner(1, 0) });
  try {
    const doc = await (await fetch(`${server.url}/openapi.json`)).json();
    assert.match(doc.openapi, /^3\./);
    const routes = Object.entries(doc.paths as Record<string, Record<string, unknown>>)
      .flatMap(([path, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${path}`))
      .sort();
    assert.deepEqual(routes, [
      "DELETE /v1/jobs/{id}",
      "DELETE /v1/styles/{id}",
      "GET /v1/health",
      "GET /v1/jobs",
      "GET /v1/jobs/{id}",
      "GET /v1/jobs/{id}/events",
      "GET /v1/jobs/{id}/images/{n}",
      "GET /v1/styles",
      "GET /v1/styles/{id}/image",
      "GET /v1/styles/{id}/thumbnail",
      "POST /v1/jobs",
      "POST /v1/styles",
      "POST /v1/stylize",
    ]);
    const post = doc.paths["/v1/jobs"].post;
    const form = post.requestBody.content["multipart/form-data"].schema;
    assert.equal(form.$ref, "#/components/schemas/JobForm");
    const jobForm = doc.components.schemas.JobForm;
    assert.deepEqual(Object.keys(jobForm.properties).sort(), [
      "content",
      "initImage",
      "mask",
      "options",
      "style",
      "styleImage",
    ]);
    assert.ok(jobForm.properties.options.properties.iterations, "options schema is published");
    assert.deepEqual(Object.keys(post.responses).sort(), [
      "202",
      "400",
      "404",
      "413",
      "415",
      "422",
      "429",
      "503",
    ]);
    assert.ok(doc.components.schemas.Problem.properties.detail);
    const list = doc.paths["/v1/jobs"].get.responses["200"].content["application/json"].schema;
    assert.equal(list.$ref, "#/components/schemas/JobList");
    const summary = doc.components.schemas.JobSummary.properties;
    for (const field of ["id", "status", "progress", "createdAt", "links"]) {
      assert.ok(summary[field], `JobSummary.${field}`);
    }
  } finally {
    await server.shutdown();
  }
});

Deno.test("the docs page, the web page and the Photopea plug-in page are served", async () => {
  const server = await testServer({ run: fakeRunner(1, 0) });
  try {
    const docs = await (await fetch(`${server.url}/docs`)).text();
    assert.match(docs, /openapi\.json/);
    assert.doesNotMatch(docs, /https?:\/\//, "Swagger UI comes from the server, not a CDN");
    for (
      const [file, type] of [["swagger-ui.css", "text/css"], [
        "swagger-ui-bundle.js",
        "text/javascript",
      ]]
    ) {
      const url = `/docs/assets/swagger-ui-dist/${file}`;
      assert.ok(docs.includes(url), `the docs page loads ${url}`);
      const asset = await fetch(`${server.url}${url}`);
      assert.equal(asset.status, 200);
      assert.match(asset.headers.get("content-type") ?? "", new RegExp(`^${type}`));
      assert.ok((await asset.arrayBuffer()).byteLength > 10_000);
    }
    const other = await fetch(`${server.url}/docs/assets/swagger-ui-dist/index.html`);
    assert.equal(other.status, 404, "only the two files the page needs are served");
    await other.body?.cancel();
    const page = await fetch(`${server.url}/`);
    assert.equal(page.headers.get("content-type"), "text/html; charset=utf-8");
    assert.match(await page.text(), /<title>Restyle/);
    const script = await fetch(`${server.url}/app.js`);
    assert.equal(script.headers.get("content-type"), "text/javascript; charset=utf-8");
    await script.body?.cancel();
    // The browser client of the web page and the Photopea panel; only it, of plugin/common/.
    const client = await fetch(`${server.url}/plugin/common/restyle_client.js`);
    assert.equal(client.headers.get("content-type"), "text/javascript; charset=utf-8");
    assert.match(await client.text(), /export class RestyleClient/);
    const python = await fetch(`${server.url}/plugin/common/restyle_client.py`);
    assert.equal(python.status, 404);
    await python.body?.cancel();
    const plugin = await fetch(`${server.url}/plugin/photopea/`);
    assert.equal(plugin.status, 200);
    assert.match(await plugin.text(), /<html/i);
    const traversal = await fetch(`${server.url}/plugin/photopea/..%2F..%2Fdeno.json`);
    assert.equal(traversal.status, 404);
    await traversal.body?.cancel();
  } finally {
    await server.shutdown();
  }
});
