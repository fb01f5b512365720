#!/usr/bin/env python3
# Restyle for GIMP 3.0: neural style transfer on the active layer, computed by
# a local Restyle server (`deno task serve`), one new layer per preview.
#
# Filters > Artistic > Restyle… sends the active layer and a style (one of the
# server's catalogue, an image file, or another open layer) to the server's
# HTTP API (/v1/jobs), follows the job's event stream, and inserts every
# preview as a new layer inside a layer group placed above the source layer,
# at the source's offsets, masked by the selection when there is one. The
# whole run is one undo step.
#
# Only the Python standard library and GIMP's own introspected libraries are
# used. The option arguments and the built-in styles come from fields.json next
# to this file, written from the server's options table by
# `deno task plugin-options`. Written for the GIMP 3.0 API.

import json
import os
import sys
import tempfile
import time
import struct
import urllib.error
import urllib.parse
import urllib.request
import uuid
import zlib

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("Gegl", "0.4")
from gi.repository import Gegl, Gimp, GLib, GObject, Gio  # noqa: E402

PROC_NAME = "plug-in-restyle"
DEFAULT_URL = "http://127.0.0.1:8787"
HERE = os.path.dirname(os.path.abspath(__file__))
# fields.json: the options the plug-ins show and the built-in styles.
with open(os.path.join(HERE, "fields.json"), encoding="utf-8") as fields_file:
    FIELDS = json.load(fields_file)
# Each option is an argument named as the CLI's flag (the kebab-case of the API's name).
OPTIONS = FIELDS["options"]
STYLE_FROM_FILE = "file"
STYLE_FROM_LAYER = "layer"
PNG_FORMAT = "R'G'B'A u8"


class RestyleError(Exception):
    """A failure to report to the user as it is: no traceback."""


# --- settings -----------------------------------------------------------------


def server_url(configured):
    """The server URL: the procedure argument, else $RESTYLE_URL, else the default."""
    url = (configured or "").strip() or os.environ.get("RESTYLE_URL", "") or DEFAULT_URL
    return url.rstrip("/")


def server_token(configured):
    """The bearer token: the procedure argument, else $RESTYLE_TOKEN, else none."""
    return (configured or "").strip() or os.environ.get("RESTYLE_TOKEN", "")


# --- HTTP ---------------------------------------------------------------------


class Client:
    """The few calls of Restyle's HTTP API (v1) the plug-in needs."""

    def __init__(self, base, token=""):
        self.base = base
        self.token = token
        # An empty ProxyHandler: a proxy setting must never route 127.0.0.1.
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def url(self, path):
        if path.startswith(("http://", "https://")):
            return path
        return self.base + "/" + path.lstrip("/")

    def open(self, path, data=None, headers=None, method=None, timeout=30):
        request = urllib.request.Request(self.url(path), data=data, method=method)
        for key, value in (headers or {}).items():
            request.add_header(key, value)
        if self.token:
            request.add_header("Authorization", "Bearer " + self.token)
        try:
            return self.opener.open(request, timeout=timeout)
        except urllib.error.HTTPError as error:
            raise RestyleError(describe_http_error(error)) from None
        except (urllib.error.URLError, ConnectionError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise RestyleError(
                "Cannot reach the Restyle server at %s (%s).\n"
                "Start it in the Restyle folder with:  deno task serve\n"
                "or set the server URL in the Restyle dialog (or the RESTYLE_URL "
                "environment variable) to where it runs." % (self.base, reason)
            ) from None

    def json(self, path, **kwargs):
        with self.open(path, headers={"Accept": "application/json"}, **kwargs) as response:
            return json.loads(response.read().decode("utf-8"))

    def styles(self, timeout=3):
        return self.json("/v1/styles", timeout=timeout).get("styles", [])

    def submit(self, fields, files):
        body, content_type = multipart(fields, files)
        with self.open("/v1/jobs", data=body, method="POST", timeout=120,
                       headers={"Content-Type": content_type,
                                "Accept": "application/json"}) as response:
            return json.loads(response.read().decode("utf-8"))

    def image(self, url):
        with self.open(url, headers={"Accept": "image/png"}, timeout=120) as response:
            return response.read()

    def cancel(self, job_id):
        try:
            self.open("/v1/jobs/" + job_id, method="DELETE", timeout=5).close()
        except RestyleError:
            pass


def describe_http_error(error):
    """An HTTP error as one sentence, from the server's problem+json when it sent one."""
    try:
        problem = json.loads(error.read().decode("utf-8"))
        title = problem.get("title") or error.reason
        detail = problem.get("detail")
        text = "%s: %s" % (title, detail) if detail else str(title)
    except Exception:
        text = str(error.reason)
    if error.code == 401:
        text += " (set the token in the Restyle dialog or RESTYLE_TOKEN)"
    return "Restyle server answered %d — %s" % (error.code, text)


def multipart(fields, files):
    """multipart/form-data body: fields [(name, text)], files [(name, filename, bytes)]."""
    boundary = "restyle-" + uuid.uuid4().hex
    parts = []
    for name, value in fields:
        parts.append(
            ('--%s\r\nContent-Disposition: form-data; name="%s"\r\n\r\n' % (boundary, name))
            .encode() + value.encode("utf-8") + b"\r\n")
    for name, filename, data in files:
        kind = "image/png" if filename.lower().endswith(".png") else "application/octet-stream"
        parts.append(
            ('--%s\r\nContent-Disposition: form-data; name="%s"; filename="%s"\r\n'
             "Content-Type: %s\r\n\r\n" % (boundary, name, filename, kind)).encode()
            + data + b"\r\n")
    parts.append(("--%s--\r\n" % boundary).encode())
    return b"".join(parts), "multipart/form-data; boundary=" + boundary


def sse_events(response):
    """Yield (event, data) from a text/event-stream response until it ends."""
    event, data = "message", []
    for raw in response:
        line = raw.decode("utf-8").rstrip("\r\n")
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = "message", []
        elif line.startswith(":"):
            continue
        else:
            key, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if key == "event":
                event = value
            elif key == "data":
                data.append(value)
    if data:
        yield event, "\n".join(data)


# --- pixels -------------------------------------------------------------------


def encode_png(width, height, rgba):
    """8-bit RGBA PNG (filter 0 on every row) from packed RGBA bytes."""
    stride = width * 4
    raw = b"".join(b"\x00" + rgba[y * stride:(y + 1) * stride] for y in range(height))

    def chunk(kind, payload):
        return (struct.pack(">I", len(payload)) + kind + payload
                + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def drawable_png(drawable):
    """The drawable's pixels (its own size, non-linear RGBA 8-bit) as PNG bytes."""
    width, height = drawable.get_width(), drawable.get_height()
    buffer = drawable.get_buffer()
    pixels = buffer.get(Gegl.Rectangle.new(0, 0, width, height), 1.0, PNG_FORMAT,
                        Gegl.AbyssPolicy.CLAMP)
    return encode_png(width, height, bytes(pixels))


def load_png_layer(image, png, name):
    """A new (not yet inserted) layer of `image` decoded from PNG bytes by GIMP's own loader."""
    handle, path = tempfile.mkstemp(prefix="restyle-", suffix=".png")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(png)
        layer = Gimp.file_load_layer(Gimp.RunMode.NONINTERACTIVE, image,
                                     Gio.File.new_for_path(path))
    finally:
        os.unlink(path)
    if layer is None:
        raise RestyleError("GIMP could not read the preview image the server sent.")
    layer.set_name(name)
    return layer


# --- the procedure ------------------------------------------------------------


def style_choice(styles):
    """A Gimp.Choice of catalogue styles plus the two other sources."""
    choice = Gimp.Choice.new()
    for index, (nick, label) in enumerate(styles):
        choice.add(nick, index, label, "")
    choice.add(STYLE_FROM_FILE, len(styles), "Style image file (below)", "")
    choice.add(STYLE_FROM_LAYER, len(styles) + 1, "Another open layer (below)", "")
    return choice


def style_label(style):
    label = style.get("title") or style["id"]
    if style.get("artist"):
        label += " — " + style["artist"]
    if style.get("year"):
        label += " (%s)" % style["year"]
    return label


def catalogue(timeout):
    """[(id, label)] of the server's styles, or the built-in list when it cannot be asked."""
    built_in = [(s["id"], style_label(s)) for s in FIELDS["styles"]]
    try:
        client = Client(server_url(""), server_token(""))
        styles = [(s["id"], style_label(s)) for s in client.styles(timeout=timeout)]
        return styles or built_in
    except Exception:
        return built_in


def add_option_argument(procedure, option, flags):
    """One argument of `procedure` for an option of fields.json, by its kind."""
    name, label, blurb = option["flag"], "_" + option["label"], option["help"]
    kind = option["kind"]
    if kind == "integer":
        procedure.add_int_argument(name, label, blurb, option["minimum"], option["maximum"],
                                   option["default"], flags)
    elif kind == "number":
        procedure.add_double_argument(name, label, blurb, float(option["minimum"]),
                                      float(option["maximum"]), float(option["default"]), flags)
    else:
        choice = Gimp.Choice.new()
        default = option["choices"][0]["nick"]
        for index, entry in enumerate(option["choices"]):
            choice.add(entry["nick"], index, entry["label"], "")
            if entry["value"] == option["default"] and type(entry["value"]) is type(
                    option["default"]):
                default = entry["nick"]
        procedure.add_choice_argument(name, label, blurb, choice, default, flags)


def option_value(option, value):
    """An argument's value as the API takes it (a choice's nick back to its value)."""
    if option["kind"] == "choice":
        return next((c["value"] for c in option["choices"] if c["nick"] == value), value)
    return int(value) if option["kind"] == "integer" else float(value)


class Restyle(Gimp.PlugIn):
    def do_query_procedures(self):
        return [PROC_NAME]

    def do_set_i18n(self, name):
        return False

    def do_create_procedure(self, name):
        procedure = Gimp.ImageProcedure.new(self, name, Gimp.PDBProcType.PLUGIN, self.run, None)
        procedure.set_image_types("RGB*, GRAY*")
        procedure.set_sensitivity_mask(Gimp.ProcedureSensitivityMask.DRAWABLE)
        procedure.set_menu_label("Restyle…")
        procedure.add_menu_path("<Image>/Filters/Artistic/")
        procedure.set_documentation(
            "Neural style transfer of the active layer with a local Restyle server",
            "Sends the active layer and a style to the Restyle server (deno task serve) "
            "and inserts every preview it sends back as a new layer in a layer group "
            "above the source layer, masked by the selection if there is one.",
            name)
        procedure.set_attribution("Restyle", "Restyle", "2025")

        rw = GObject.ParamFlags.READWRITE
        styles = catalogue(timeout=0.5)
        procedure.add_choice_argument("style", "_Style", "Style: the server's catalogue, "
                                      "an image file, or another open layer",
                                      style_choice(styles), styles[0][0], rw)
        procedure.add_file_argument("style-file", "Style _file", "Style image file "
                                    "(used when Style is 'Style image file')",
                                    Gimp.FileChooserAction.OPEN, True, None, rw)
        procedure.add_layer_argument("style-layer", "Style _layer", "Layer of any open image "
                                     "(used when Style is 'Another open layer')", True, rw)
        for option in OPTIONS:
            add_option_argument(procedure, option, rw)
        procedure.add_string_argument("server-url", "Server _URL", "Restyle server; empty: "
                                      "$RESTYLE_URL or " + DEFAULT_URL, "", rw)
        procedure.add_string_argument("token", "T_oken", "Bearer token, if the server "
                                      "requires one; empty: $RESTYLE_TOKEN", "", rw)
        return procedure

    def run(self, procedure, run_mode, image, drawables, config, data):
        if len(drawables) != 1 or not isinstance(drawables[0], Gimp.Layer) \
                or drawables[0].is_group():
            return fail(procedure, "Restyle works on one pixel layer: select exactly one "
                        "layer (not a layer group or a mask).")
        if run_mode == Gimp.RunMode.INTERACTIVE and not show_dialog(procedure, config):
            return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())
        Gimp.progress_init("Restyle: sending the layer…")
        image.undo_group_start()
        try:
            restyle(image, drawables[0], Settings(config))
        except RestyleError as error:
            return fail(procedure, str(error))
        finally:
            image.undo_group_end()
            Gimp.progress_end()
            Gimp.displays_flush()
        return procedure.new_return_values(Gimp.PDBStatusType.SUCCESS, GLib.Error())


def fail(procedure, message):
    print("restyle: " + message, file=sys.stderr, flush=True)
    return procedure.new_return_values(Gimp.PDBStatusType.EXECUTION_ERROR,
                                       GLib.Error.new_literal(GLib.quark_from_string("restyle"),
                                                              message, 0))


def show_dialog(procedure, config):
    """The procedure dialog, its style list refreshed from the server. True on OK."""
    gi.require_version("GimpUi", "3.0")
    from gi.repository import GimpUi

    GimpUi.init(PROC_NAME)
    try:  # add the server's styles (user uploads too) to the registered choice
        choice = Gimp.param_spec_choice_get_choice(procedure.find_argument("style"))
        known = set(choice.list_nicks())
        styles = Client(server_url(config.get_property("server-url")),
                        server_token(config.get_property("token"))).styles(timeout=2)
        for index, style in enumerate(styles):
            if style["id"] not in known:
                choice.add(style["id"], 1000 + index, style_label(style), "")
    except Exception:
        pass  # server down: the registered list stays; running reports the error
    dialog = GimpUi.ProcedureDialog.new(procedure, config, "Restyle")
    dialog.fill(None)
    accepted = dialog.run()
    dialog.destroy()
    return accepted


def catalogue_title(config, nick):
    """The title part of a catalogue style's label ("The Starry Night"), else its id."""
    try:
        choice = Gimp.param_spec_choice_get_choice(config.find_property("style"))
        return choice.get_label(nick).split(" — ")[0] or nick
    except Exception:
        return nick


class Settings:
    """The run's parameters, read once from the procedure config."""

    def __init__(self, config):
        get = config.get_property
        self.style = get("style")
        self.style_title = catalogue_title(config, self.style)
        self.style_file = get("style-file")
        self.style_layer = get("style-layer")
        # The job's `options`, by the API's names (strength 50 keeps the network's balance).
        self.option_values = {o["name"]: option_value(o, get(o["flag"])) for o in OPTIONS}
        self.iterations = self.option_values["iterations"]
        self.url = server_url(get("server-url"))
        self.token = server_token(get("token"))

    def options(self):
        return dict(self.option_values)


def style_request(settings):
    """(form fields, files, short name) for the chosen style."""
    if settings.style == STYLE_FROM_FILE:
        if settings.style_file is None or not settings.style_file.get_path():
            raise RestyleError("Style is 'Style image file' but no style file was chosen.")
        path = settings.style_file.get_path()
        try:
            with open(path, "rb") as file:
                data = file.read()
        except OSError as error:
            raise RestyleError("Cannot read the style file %s: %s" % (path, error.strerror))
        name = os.path.splitext(os.path.basename(path))[0]
        return [], [("styleImage", os.path.basename(path), data)], name
    if settings.style == STYLE_FROM_LAYER:
        if settings.style_layer is None:
            raise RestyleError("Style is 'Another open layer' but no style layer was chosen.")
        layer = settings.style_layer
        return [], [("styleImage", "style-layer.png", drawable_png(layer))], layer.get_name()
    return [("style", settings.style)], [], settings.style_title


def restyle(image, source, settings):
    """Run one job for `source` and insert its previews; the caller holds the undo group."""
    client = Client(settings.url, settings.token)
    fields, files, style_name = style_request(settings)
    content = drawable_png(source)
    fields.append(("options", json.dumps(settings.options())))
    job = client.submit(fields, [("content", "layer.png", content)] + files)
    job_id = job.get("id")
    if not job_id:
        raise RestyleError("The Restyle server did not return a job id: %r" % job)
    Gimp.progress_set_text("Restyle: %s, waiting for the first preview…" % style_name)
    previews = Previews(image, source, style_name)
    finished = False
    try:
        follow(client, job, settings.iterations, previews)
        finished = True
    finally:
        if not finished:
            client.cancel(job_id)
    if not previews.inserted:
        raise RestyleError("The Restyle job finished without any preview image.")


def follow(client, job, iterations, previews):
    """Insert each preview as the job reports it: its event stream, else polling."""
    job_id = job["id"]
    links = job.get("links") or {}
    events = links.get("events") or "/v1/jobs/%s/events" % job_id
    try:
        response = client.open(events, headers={"Accept": "text/event-stream"}, timeout=600)
    except RestyleError:
        response = None
    if response is not None:
        with response:
            for event, data in sse_events(response):
                payload = json.loads(data) if data.startswith("{") else {}
                if event == "iteration" and payload.get("url"):
                    previews.add(client, payload["iteration"], payload["url"])
                    progress(payload["iteration"], payload.get("iterations") or iterations)
                elif event == "tile" and "tile" in payload:
                    # A big layer's iteration runs tile by tile: show it moving.
                    progress(payload["iteration"] - 1, payload.get("iterations") or iterations,
                             (payload["tile"], payload.get("tiles") or 1))
                elif event == "error":
                    raise RestyleError("Restyle failed: %s" % (
                        payload.get("detail") or payload.get("error") or payload.get("message")
                        or data))
                elif event == "cancelled":
                    raise RestyleError("The Restyle job was cancelled on the server.")
                elif event == "done":
                    break
    # Catch up from the job's state: previews missed by (or without) the stream.
    while True:
        state = client.json("/v1/jobs/" + job_id)
        for image in state.get("images", []):
            previews.add(client, image["iteration"], image["url"])
        status = state.get("status")
        if status == "done":
            return
        if status == "failed":
            raise RestyleError("Restyle failed: %s" % state.get("error", "unknown error"))
        if status == "cancelled":
            raise RestyleError("The Restyle job was cancelled on the server.")
        progress(state.get("iteration") or 0, state.get("iterations") or iterations)
        time.sleep(0.5)


def progress(iteration, iterations, tile=None):
    """Iterations done of `iterations`; `tile` = (done, of) within the next, when it is tiled."""
    done = iteration + (tile[0] / max(1, tile[1]) if tile else 0)
    Gimp.progress_update(min(1.0, done / max(1, iterations)))
    if tile:
        Gimp.progress_set_text("Restyle: iteration %d of %d, tile %d of %d"
                               % (iteration + 1, iterations, tile[0], tile[1]))
    else:
        Gimp.progress_set_text("Restyle: iteration %d of %d" % (iteration, iterations))


class Previews:
    """The layer group above the source, and one layer per preview inserted into it."""

    def __init__(self, image, source, style_name):
        self.image = image
        self.source = source
        self.style_name = style_name
        self.inserted = set()
        self.group = None
        _, self.x, self.y = source.get_offsets()
        selection = Gimp.Selection.is_empty(image)
        self.masked = not selection

    def ensure_group(self):
        if self.group is None:
            self.group = Gimp.GroupLayer.new(self.image, "Restyle: " + self.style_name)
            parent = self.source.get_parent()
            position = self.image.get_item_position(self.source)
            self.image.insert_layer(self.group, parent, position)
        return self.group

    def add(self, client, iteration, url):
        if iteration in self.inserted:
            return
        png = client.image(url)
        name = "%s — iteration %d" % (self.style_name, iteration)
        layer = load_png_layer(self.image, png, name)
        width, height = self.source.get_width(), self.source.get_height()
        if layer.get_width() != width or layer.get_height() != height:
            layer.scale(width, height, False)
        self.image.insert_layer(layer, self.ensure_group(), 0)
        layer.set_offsets(self.x, self.y)
        if self.masked:
            layer.add_mask(layer.create_mask(Gimp.AddMaskType.SELECTION))
        self.inserted.add(iteration)
        Gimp.displays_flush()


Gimp.main(Restyle.__gtype__, sys.argv)
