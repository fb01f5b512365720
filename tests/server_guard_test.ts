/**
 * The local-server guards against a real server: Host (DNS rebinding), Origin
 * and CORS, the bearer token, and the refusal to bind off loopback without one.
 */
import assert from "node:assert/strict";
import { startServer } from "../src/server/serve.ts";
import { rawRequest, testServer } from "./_server.ts";

function portOf(url: string): number {
  return Number(new URL(url).port);
}

Deno.test("a Host that is not a loopback name is refused with 403 (DNS rebinding)", async () => {
  const server = await testServer();
  const port = portOf(server.url);
  try {
    for (const host of ["localhost", `localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`]) {
      const ok = await rawRequest(port, ["GET /v1/health HTTP/1.1", `Host: ${host}`]);
      assert.equal(ok.status, 200, host);
    }
    for (
      const host of ["evil.example", `evil.example:${port}`, "127.0.0.1.nip.io", "192.168.1.5"]
    ) {
      const refused = await rawRequest(port, ["GET /v1/health HTTP/1.1", `Host: ${host}`]);
      assert.equal(refused.status, 403, host);
      assert.match(refused.headers, /application\/problem\+json/);
      assert.match(refused.body, /loopback/);
    }
    const page = await rawRequest(port, ["GET / HTTP/1.1", "Host: rebind.attacker.test"]);
    assert.equal(page.status, 403);
  } finally {
    await server.shutdown();
  }
});

Deno.test("cross-origin calls pass only from Photopea and configured origins, with CORS", async () => {
  const server = await testServer({ allowedOrigins: ["http://localhost:5173"] });
  try {
    const from = (origin: string, init: RequestInit = {}) =>
      fetch(`${server.url}/v1/styles`, {
        ...init,
        headers: { origin, ...(init.headers ?? {}) },
      });

    const photopea = await from("https://www.photopea.com");
    assert.equal(photopea.status, 200);
    assert.equal(photopea.headers.get("access-control-allow-origin"), "https://www.photopea.com");
    await photopea.body?.cancel();
    const configured = await from("http://localhost:5173");
    assert.equal(configured.headers.get("access-control-allow-origin"), "http://localhost:5173");
    await configured.body?.cancel();
    const same = await from(server.url);
    assert.equal(same.status, 200);
    await same.body?.cancel();

    for (const origin of ["https://evil.example", "null", "http://127.0.0.1:1"]) {
      const refused = await from(origin);
      assert.equal(refused.status, 403, origin);
      assert.equal(refused.headers.get("access-control-allow-origin"), null);
      assert.match((await refused.json()).detail, /not allowed/);
    }

    const preflight = await from("https://photopea.com", {
      method: "OPTIONS",
      headers: {
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type",
        "access-control-request-private-network": "true",
      },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get("access-control-allow-origin"), "https://photopea.com");
    assert.match(preflight.headers.get("access-control-allow-methods")!, /POST/);
    assert.equal(preflight.headers.get("access-control-allow-private-network"), "true");
    await preflight.body?.cancel();
    const badPreflight = await from("https://evil.example", {
      method: "OPTIONS",
      headers: { "access-control-request-method": "POST" },
    });
    assert.equal(badPreflight.status, 403);
    await badPreflight.body?.cancel();
  } finally {
    await server.shutdown();
  }
});

Deno.test("with a token, /v1 needs Authorization: Bearer (or ?access_token=) and the page stays open", async () => {
  const server = await testServer({ token: "s3cret" });
  try {
    const none = await fetch(`${server.url}/v1/health`);
    assert.equal(none.status, 401);
    assert.match(none.headers.get("www-authenticate")!, /^Bearer/);
    assert.match((await none.json()).detail, /bearer token/);
    const wrong = await fetch(`${server.url}/v1/health`, {
      headers: { authorization: "Bearer nope" },
    });
    assert.equal(wrong.status, 401);
    await wrong.body?.cancel();
    const right = await fetch(`${server.url}/v1/health`, {
      headers: { authorization: "Bearer s3cret" },
    });
    assert.equal(right.status, 200);
    await right.body?.cancel();
    const query = await fetch(`${server.url}/v1/styles?access_token=s3cret`);
    assert.equal(query.status, 200);
    await query.body?.cancel();
    const page = await fetch(`${server.url}/`);
    assert.equal(page.status, 200);
    await page.body?.cancel();
  } finally {
    await server.shutdown();
  }
});

Deno.test("binding a non-loopback address without a token is refused", async () => {
  await assert.rejects(
    () => startServer({ hostname: "0.0.0.0", port: 0 }),
    /without a token.*--token/,
  );
});
