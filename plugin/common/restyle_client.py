"""Restyle's HTTP API (v1) for the GIMP and Krita plug-ins: one client for both.

Standard library only (urllib), Python 3 as GIMP 3 and Krita ship it, so it runs
in either program and on a worker thread. The installers copy this file next to
each plug-in (`deno task install-gimp`, `deno task install-krita`), with an
`install.json` naming the token file of the Restyle folder they ran from. Every
failure becomes a `RestyleError` whose text is meant for the user as it is.

    client = Client(server_url(""), server_token(""), where="the Restyle dialog")
    job = client.submit([("style", style_id)], [("content", "layer.png", png)])
    outcome = client.follow(job, add_layer, show_progress)  # "done" or "cancelled"

A selection goes to the server as a `mask` file (`mask_png`, `mask_file`): where the style
paints. `pair_styles` turns masks named after styles (GIMP's channels, Krita's selection
masks) into one style and one mask each.
"""

import http.client
import json
import os
import struct
import time
import urllib.error
import urllib.request
import uuid
import zlib

# What the plug-ins do with a selection (their "Selection" choice; not a server option).
# Paint inside it: it is sent as the style's mask, so the style is matched inside it alone.
PAINT_INSIDE = "paint-inside"
# Mask the result: the whole layer is restyled and the selection only masks each preview.
MASK_RESULT = "mask-result"
# One style per mask: each channel (GIMP) or selection mask (Krita) named after a style
# paints that style.
PER_MASK = "per-mask"

DEFAULT_URL = "http://127.0.0.1:8787"
# Written by the installers: {"tokenFile": where `deno task serve --generate-token` keeps it}.
INSTALL_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "install.json")


class RestyleError(Exception):
    """A failure to show the user as it is: never a traceback."""


# --- where the server is, and its token ------------------------------------------


def server_url(configured=""):
    """The server URL: the plug-in's setting, else $RESTYLE_URL, else the default."""
    url = (configured or "").strip() or os.environ.get("RESTYLE_URL", "").strip()
    return (url or DEFAULT_URL).rstrip("/")


def token_file():
    """Where `deno task serve --generate-token` keeps the token, as the server finds it:
    $RESTYLE_DATA/token, else $RESTYLE_HOME/data/token, else the token file of the
    Restyle folder the plug-in was installed from (install.json); None if unknown."""
    data = os.environ.get("RESTYLE_DATA", "").strip()
    if data:
        return os.path.join(data, "token")
    home = os.environ.get("RESTYLE_HOME", "").strip()
    if home:
        return os.path.join(home, "data", "token")
    try:
        with open(INSTALL_FILE, encoding="utf-8") as file:
            return json.load(file).get("tokenFile") or None
    except (OSError, ValueError, AttributeError):
        return None


def server_token(configured=""):
    """The bearer token: the plug-in's setting, else $RESTYLE_TOKEN, else the token file's
    contents (see `token_file`), else none."""
    token = (configured or "").strip() or os.environ.get("RESTYLE_TOKEN", "").strip()
    if token:
        return token
    path = token_file()
    if not path:
        return ""
    try:
        with open(path, encoding="utf-8") as file:
            return file.read().strip()
    except (OSError, UnicodeDecodeError):
        return ""  # no token file: the server needs no token, or the user types it


# --- messages ---------------------------------------------------------------------


def unreachable_message(base, reason, where):
    return (
        "Cannot reach the Restyle server at %s (%s).\n"
        "Start it in the Restyle folder with:  deno task serve\n"
        "or set the server URL in %s (or the RESTYLE_URL environment variable) to where "
        "it runs." % (base, reason, where)
    )


def http_error_message(code, reason, body, where):
    """An HTTP error as one sentence, from the server's problem+json when there is one."""
    try:
        problem = json.loads(body.decode("utf-8"))
        text = problem.get("title") or reason
        if problem.get("detail"):
            text = "%s: %s" % (text, problem["detail"])
    except (ValueError, AttributeError, UnicodeDecodeError):
        text = reason
    if code == 401:
        text += (" (set the token in %s, or RESTYLE_TOKEN; the server's --generate-token "
                 "keeps it in %s)" % (where, token_file() or "<RESTYLE_HOME>/data/token"))
    return "The Restyle server answered %d: %s" % (code, text)


def problem_text(problem):
    """The text of a job's error: a problem object, a string, or nothing useful."""
    if isinstance(problem, dict):
        return problem.get("detail") or problem.get("title") or json.dumps(problem)
    return str(problem or "unknown error")


# --- request bodies and the event stream ----------------------------------------------


def form_data(fields, files):
    """A multipart/form-data body from [(name, text)] and [(name, filename, bytes)]."""
    boundary = "restyle-" + uuid.uuid4().hex
    chunks = []
    for name, value in fields:
        chunks += [
            ('--%s\r\nContent-Disposition: form-data; name="%s"\r\n\r\n' % (boundary, name))
            .encode("utf-8"),
            value.encode("utf-8"),
            b"\r\n",
        ]
    for name, filename, data in files:
        kind = "image/png" if filename.lower().endswith(".png") else "application/octet-stream"
        chunks += [
            ('--%s\r\nContent-Disposition: form-data; name="%s"; filename="%s"\r\n'
             "Content-Type: %s\r\n\r\n" % (boundary, name, filename, kind)).encode("utf-8"),
            data,
            b"\r\n",
        ]
    chunks.append(("--%s--\r\n" % boundary).encode())
    return b"".join(chunks), "multipart/form-data; boundary=" + boundary


def rgba_png(width, height, rgba):
    """8-bit RGBA PNG (filter 0 on every row) from packed RGBA bytes."""
    stride = width * 4
    raw = b"".join(b"\x00" + rgba[y * stride:(y + 1) * stride] for y in range(height))

    def chunk(kind, payload):
        return (struct.pack(">I", len(payload)) + kind + payload
                + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def mask_png(width, height, values):
    """A mask as the server reads it, from one byte a pixel (0 untouched, 255 fully styled):
    an opaque grey PNG, whose luminance is the mask."""
    values = bytes(values)
    if len(values) != width * height:
        raise RestyleError("A mask of %dx%d needs %d values, got %d."
                           % (width, height, width * height, len(values)))
    rgba = bytearray(width * height * 4)
    rgba[0::4] = rgba[1::4] = rgba[2::4] = values
    rgba[3::4] = b"\xff" * (width * height)
    return rgba_png(width, height, bytes(rgba))


def mask_file(index, png):
    """The `mask` part of a job, the `index`th (the server pairs masks with the styles in
    order: the `style` ids, then the `styleImage` files)."""
    return ("mask", "mask-%d.png" % index, png)


def pair_styles(named_masks, styles, what="channel"):
    """One style and one mask for each mask named after one of the server's `styles`
    ({id, title}, as `Client.styles()` lists them): by its id or its title, ignoring case.
    `named_masks` is [(name, png)]. Returns (form fields, files, style titles); masks whose
    name is no style are left out, and none matching is a RestyleError that lists both."""
    by_name = {}
    for style in styles:
        for key in (style.get("id"), style.get("title")):
            if key:
                by_name.setdefault(key.strip().casefold(), style)
    fields, files, titles = [], [], []
    for name, png in named_masks:
        style = by_name.get((name or "").strip().casefold())
        if style is None:
            continue
        fields.append(("style", style["id"]))
        files.append(mask_file(len(files), png))
        titles.append(style.get("title") or style["id"])
    if not files:
        names = ", ".join("'%s'" % name for name, _ in named_masks) or "none"
        ids = ", ".join(s["id"] for s in styles) or "none"
        raise RestyleError(
            "One style per %s: name each %s after one of the server's styles, by its id or "
            "its title. The %ss here: %s. The server's styles: %s."
            % (what, what, what, names, ids))
    return fields, files, titles


def style_image_file(path):
    """The `styleImage` part for a style image file: (name, file name, bytes)."""
    try:
        with open(path, "rb") as file:
            data = file.read()
    except OSError as error:
        raise RestyleError("Cannot read the style file %s: %s" % (path, error.strerror)) from None
    return ("styleImage", os.path.basename(path.replace("\\", "/")), data)


def read_events(lines):
    """(event, data) pairs of a text/event-stream, from an iterable of byte lines."""
    name, data = "message", []
    for raw in lines:
        line = raw.decode("utf-8").rstrip("\r\n")
        if line == "":
            if data:
                yield name, "\n".join(data)
            name, data = "message", []
            continue
        if line.startswith(":"):
            continue  # a comment (the server's keep-alive)
        field, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if field == "event":
            name = value
        elif field == "data":
            data.append(value)
    if data:
        yield name, "\n".join(data)


# --- the client ------------------------------------------------------------------------


class Client:
    """Restyle's HTTP API at `base`, with an optional bearer token. `where` names the place
    the user sets the URL and the token ("the Restyle dialog"), for the messages."""

    def __init__(self, base, token="", where="the Restyle plug-in's settings"):
        self.base = base.rstrip("/")
        self.token = token
        self.where = where
        # No proxies: a proxy setting must never route the local server elsewhere.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def url(self, path):
        return path if "://" in path else self.base + "/" + path.lstrip("/")

    def request(self, path, data=None, headers=None, method=None, timeout=30):
        """An open response; raises RestyleError with a message for the user."""
        req = urllib.request.Request(self.url(path), data=data, method=method)
        for key, value in (headers or {}).items():
            req.add_header(key, value)
        if self.token:
            req.add_header("Authorization", "Bearer " + self.token)
        try:
            return self._opener.open(req, timeout=timeout)
        except urllib.error.HTTPError as error:
            raise RestyleError(http_error_message(error.code, error.reason, error.read(),
                                                  self.where)) from None
        except (urllib.error.URLError, OSError) as error:
            raise RestyleError(unreachable_message(self.base, getattr(error, "reason", error),
                                                   self.where)) from None

    def get_json(self, path, timeout=30):
        with self.request(path, headers={"Accept": "application/json"}, timeout=timeout) as r:
            return json.loads(r.read().decode("utf-8"))

    def styles(self, timeout=5):
        """The server's styles: [{id, title, artist, year, ...}]."""
        return self.get_json("/v1/styles", timeout=timeout).get("styles", [])

    def submit(self, fields, files):
        """POST /v1/jobs; the created job ({id, links, ...})."""
        body, content_type = form_data(fields, files)
        headers = {"Content-Type": content_type, "Accept": "application/json"}
        with self.request("/v1/jobs", data=body, headers=headers, method="POST",
                          timeout=120) as response:
            job = json.loads(response.read().decode("utf-8"))
        if not job.get("id"):
            raise RestyleError("The Restyle server did not return a job id: %r" % (job,))
        return job

    def job(self, job_id):
        return self.get_json("/v1/jobs/" + job_id)

    def events(self, job):
        """The job's event stream as (event, data) pairs, until the server ends it."""
        path = (job.get("links") or {}).get("events") or "/v1/jobs/%s/events" % job["id"]
        with self.request(path, headers={"Accept": "text/event-stream"}, timeout=600) as response:
            for pair in read_events(response):
                yield pair

    def image(self, url):
        """The PNG bytes of a preview."""
        with self.request(url, headers={"Accept": "image/png"}, timeout=120) as response:
            return response.read()

    def cancel(self, job_id):
        """Asks the server to stop a job; a failure to ask is not an error."""
        try:
            self.request("/v1/jobs/" + job_id, method="DELETE", timeout=10).close()
        except RestyleError:
            pass

    def follow(self, job, on_preview, on_progress=None):
        """Follows `job` until it ends and returns "done" or "cancelled"; raises RestyleError
        when it failed. Calls `on_preview(iteration, png)` once per preview, oldest first, and
        `on_progress(iteration, iterations, tile)` as it advances (`tile` is (done, of) within
        a big layer's next iteration, else None; `iterations` 0 when unknown). Reads the event
        stream, then the job's state (polled while the job runs, when the stream cannot be
        had or breaks), which brings any preview the stream missed."""
        seen = set()

        def preview(iteration, url):
            if iteration not in seen:
                seen.add(iteration)
                on_preview(iteration, self.image(url))

        def progress(iteration, iterations, tile=None):
            if on_progress is not None:
                on_progress(iteration, iterations or 0, tile)

        stream = iter(self.events(job))
        while True:
            try:
                event, data = next(stream)
            except StopIteration:
                break
            except (RestyleError, OSError, http.client.HTTPException):
                break  # the stream broke: the job's state tells the rest
            payload = json.loads(data) if data.startswith("{") else {}
            if event in ("progress", "iteration") and "iteration" in payload:
                progress(payload["iteration"], payload.get("iterations"))
            if event == "iteration" and payload.get("url"):
                preview(payload["iteration"], payload["url"])
            elif event == "tile" and "tile" in payload:
                progress(payload["iteration"] - 1, payload.get("iterations"),
                         (payload["tile"], payload.get("tiles") or 1))
            elif event == "error":
                raise RestyleError("Restyle failed: " + problem_text(payload))
            elif event in ("done", "cancelled"):
                break  # the job's state has every preview the stream may have missed
        while True:
            state = self.job(job["id"])
            for image in state.get("images", []):
                preview(image["iteration"], image["url"])
            status = state.get("status")
            if status in ("done", "cancelled"):
                return status
            if status == "failed":
                raise RestyleError("Restyle failed: " + problem_text(state.get("error")))
            progress(state.get("iteration") or 0, state.get("iterations"))
            time.sleep(0.5)
