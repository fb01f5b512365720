/**
 * The local-server guards against a real server: Host (DNS rebinding), Origin
 * and CORS, the bearer token, and the refusal to bind off loopback without one.
 */
import assert from "node:assert/strict";
import { startServer } from "../src/server/serve.ts";
import { tokenFromFile } from "../src/server/guard.ts";
import { StyleStore } from "../src/styles/store.ts";
import { dataDirWithCatalogue, fakeRunner, rawRequest, testServer } from "./_server.ts";

/** The routes and guards are the point here, not the engine. */
const run = fakeRunner(1, 0);

function portOf(url: string): number {
  return Number(new URL(url).port);
}

Deno.test("a Host that is not a loopback name is refused with 403 (DNS rebinding)", async () => {
  const server = await testServer({ run });
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

Deno.test("cross-origin calls pass only from configured origins, with CORS; Photopea only on its plug-in page", async () => {
  const server = await testServer({ run, allowedOrigins: ["http://localhost:5173"] });
  try {
    const from = (origin: string, init: RequestInit = {}, path = "/v1/styles") =>
      fetch(`${server.url}${path}`, {
        ...init,
        headers: { origin, ...(init.headers ?? {}) },
      });

    // Photopea (which runs scripts any embedding page sends) gets the plug-in page, not the API.
    const api = await from("https://www.photopea.com");
    assert.equal(api.status, 403);
    assert.equal(api.headers.get("access-control-allow-origin"), null);
    await api.body?.cancel();
    const page = await from("https://www.photopea.com", {}, "/plugin/photopea/");
    assert.equal(page.status, 200);
    assert.equal(page.headers.get("access-control-allow-origin"), "https://www.photopea.com");
    await page.body?.cancel();
    // Scripts and the GIMP plug-in send no Origin: allowed.
    const script = await fetch(`${server.url}/v1/styles`);
    assert.equal(script.status, 200);
    await script.body?.cancel();
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

    const preflight = await from("http://localhost:5173", {
      method: "OPTIONS",
      headers: {
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type",
        "access-control-request-private-network": "true",
      },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get("access-control-allow-origin"), "http://localhost:5173");
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

Deno.test("allowPhotopea gives Photopea's origins the API (opt-in)", async () => {
  const server = await testServer({ run, allowPhotopea: true });
  try {
    const response = await fetch(`${server.url}/v1/styles`, {
      headers: { origin: "https://photopea.com" },
    });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("access-control-allow-origin"), "https://photopea.com");
    await response.body?.cancel();
  } finally {
    await server.shutdown();
  }
});

Deno.test("pages may be framed only by our own origin; the Photopea plug-in page by Photopea too", async () => {
  const server = await testServer({ run });
  try {
    for (const path of ["/", "/docs", "/v1/health", "/no/such/route"]) {
      const response = await fetch(`${server.url}${path}`);
      await response.body?.cancel();
      assert.equal(response.headers.get("content-security-policy"), "frame-ancestors 'self'", path);
      assert.equal(response.headers.get("x-content-type-options"), "nosniff", path);
    }
    const plugin = await fetch(`${server.url}/plugin/photopea/`);
    await plugin.body?.cancel();
    assert.equal(
      plugin.headers.get("content-security-policy"),
      "frame-ancestors 'self' https://www.photopea.com https://photopea.com",
    );
  } finally {
    await server.shutdown();
  }
  // Origins allowed to call the API may also frame the plug-in page (and only it).
  const configured = await testServer({ run, allowedOrigins: ["http://localhost:5173"] });
  try {
    const csp = async (path: string) => {
      const response = await fetch(`${configured.url}${path}`);
      await response.body?.cancel();
      return response.headers.get("content-security-policy");
    };
    assert.match((await csp("/plugin/photopea/"))!, / http:\/\/localhost:5173$/);
    assert.equal(await csp("/"), "frame-ancestors 'self'");
  } finally {
    await configured.shutdown();
  }
});

Deno.test("a malformed URL is a 400, and a 5xx body carries a request id, never the error's message", async () => {
  const dir = await dataDirWithCatalogue();
  const store = await StyleStore.open({ dir });
  const broken = Object.create(store) as StyleStore;
  broken.list = () => {
    throw new Error(`${dir}/secret/records.json: wasm memory access out of bounds`);
  };
  const server = await testServer({ run, dir, styles: broken });
  const logged: unknown[][] = [];
  const error = console.error;
  console.error = (...args: unknown[]) => logged.push(args);
  try {
    const bad = await rawRequest(portOf(server.url), ["GET /%zz HTTP/1.1", "Host: 127.0.0.1"]);
    assert.equal(bad.status, 400, bad.body);
    assert.equal(JSON.parse(bad.body).errors[0].field, "url");
    const response = await fetch(`${server.url}/v1/styles`);
    const text = await response.text();
    assert.equal(response.status, 500);
    assert.doesNotMatch(text, /secret|wasm|memory|records\.json/);
    const body = JSON.parse(text);
    assert.match(body.requestId, /^[0-9a-f-]{36}$/);
    assert.equal(response.headers.get("x-request-id"), body.requestId);
    assert.ok(
      logged.some((args) => args.join(" ").includes(body.requestId)),
      "the error is logged under its id",
    );
  } finally {
    console.error = error;
    await server.shutdown();
  }
});

Deno.test("with a token, /v1 needs Authorization: Bearer (or ?access_token=) and the page stays open", async () => {
  const server = await testServer({ run, token: "s3cret" });
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

Deno.test("tokenFromFile() makes a 0600 token file once, reads it back, and refuses one others can read", async () => {
  const dir = await Deno.makeTempDir({ prefix: "restyle-token-" });
  try {
    const path = `${dir}/sub/token`;
    const token = await tokenFromFile(path);
    assert.match(token, /^[0-9a-f]{48}$/);
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    assert.equal((await Deno.stat(`${dir}/sub`)).mode! & 0o777, 0o700);
    assert.equal(await tokenFromFile(path), token, "the same token on the next start");
    await Deno.chmod(path, 0o644);
    await assert.rejects(tokenFromFile(path), /can be read by other users.*chmod 600/);
    await Deno.writeTextFile(`${dir}/short`, "abc", { mode: 0o600 });
    await assert.rejects(tokenFromFile(`${dir}/short`), /fewer than 16/);
    await assert.rejects(tokenFromFile(`${dir}/sub`), /not a regular file/);
    // The server then requires it.
    const server = await testServer({ run, token });
    try {
      const denied = await fetch(`${server.url}/v1/health`);
      assert.equal(denied.status, 401);
      await denied.body?.cancel();
      const ok = await fetch(`${server.url}/v1/health`, {
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(ok.status, 200);
      await ok.body?.cancel();
    } finally {
      await server.shutdown();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--socket replaces only a stale socket: never a file, a directory or a live server's socket", async () => {
  const dir = await Deno.makeTempDir({ prefix: "restyle-socket-" });
  try {
    const file = `${dir}/notes.txt`;
    await Deno.writeTextFile(file, "keep me");
    await assert.rejects(startServer({ socket: file }), /refusing to replace .*a file/);
    assert.equal(await Deno.readTextFile(file), "keep me");
    await Deno.mkdir(`${dir}/folder`);
    await assert.rejects(startServer({ socket: `${dir}/folder` }), /a directory/);

    // A socket nothing listens on any more (a killed server's) is replaced.
    const socket = `${dir}/restyle.sock`;
    const killed = new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `Deno.listen({ transport: "unix", path: ${JSON.stringify(socket)} }); console.log("up");` +
        "setTimeout(() => {}, 60000);",
      ],
      stdout: "piped",
    }).spawn();
    const reader = killed.stdout.getReader();
    await reader.read(); // "up"
    killed.kill("SIGKILL");
    await killed.status;
    reader.releaseLock();
    await killed.stdout.cancel();
    assert.ok((await Deno.lstat(socket)).isSocket, "a killed server leaves its socket behind");
    const server = await testServer({ run, socket });
    try {
      // While it listens, a second server may not take its socket.
      await assert.rejects(startServer({ socket }), /a server is listening on it/);
    } finally {
      await server.shutdown();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
