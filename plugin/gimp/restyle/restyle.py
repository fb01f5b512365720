#!/usr/bin/env python3
# Restyle for GIMP 3.0: neural style transfer on the active layer, computed by
# a local Restyle server (`deno task serve`), one new layer per preview.
#
# Filters > Artistic > Restyle… sends the active layer and a style (one of the
# server's catalogue, an image file, or another open layer) to the server's
# HTTP API (/v1/jobs), follows the job's event stream, and inserts every
# preview as a new layer inside a layer group placed above the source layer,
# at the source's offsets, masked by the selection when there is one. By
# default the selection is also sent as the style's mask, so the style is
# painted inside it ("Selection: paint inside"); "mask the result" restyles the
# whole layer; "one style per channel" sends each channel named after a style
# as that style's mask. The whole run is one undo step.
#
# Only the Python standard library and GIMP's own introspected libraries are
# used. The HTTP API is called through restyle_client.py (the Krita plug-in's
# client too), which `deno task install-gimp` copies beside this file. The
# option arguments and the built-in styles come from fields.json next to this
# file, written from the server's options table by `deno task plugin-options`.
# Written for the GIMP 3.0 API.

import json
import os
import sys
import tempfile

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("Gegl", "0.4")
from gi.repository import Gegl, Gimp, GLib, GObject, Gio  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)  # restyle_client.py, installed beside this file
from restyle_client import (DEFAULT_URL, MASK_RESULT, PAINT_INSIDE, Client,  # noqa: E402
                            RestyleError, mask_file, mask_png, pair_styles, rgba_png,
                            server_token, server_url, style_image_file)

PROC_NAME = "plug-in-restyle"
# Where the messages tell the user to set the server URL and token.
WHERE = "the Restyle dialog"
# fields.json: the options the plug-ins show and the built-in styles.
with open(os.path.join(HERE, "fields.json"), encoding="utf-8") as fields_file:
    FIELDS = json.load(fields_file)
# Each option is an argument named as the CLI's flag (the kebab-case of the API's name).
OPTIONS = FIELDS["options"]
STYLE_FROM_FILE = "file"
STYLE_FROM_LAYER = "layer"
PNG_FORMAT = "R'G'B'A u8"


# The Selection choice: what the selection (or the image's channels) does.
SELECTION_MODES = [
    (PAINT_INSIDE, "Paint inside the selection (sent as the style's mask)"),
    (MASK_RESULT, "Mask the result (the whole layer is restyled)"),
    ("per-channel", "One style per channel (channels named after styles)"),
]
PER_CHANNEL = SELECTION_MODES[2][0]


# --- pixels -------------------------------------------------------------------


def drawable_png(drawable):
    """The drawable's pixels (its own size, non-linear RGBA 8-bit) as PNG bytes."""
    width, height = drawable.get_width(), drawable.get_height()
    buffer = drawable.get_buffer()
    pixels = buffer.get(Gegl.Rectangle.new(0, 0, width, height), 1.0, PNG_FORMAT,
                        Gegl.AbyssPolicy.CLAMP)
    return rgba_png(width, height, bytes(pixels))


def channel_values(channel, layer):
    """A channel (the selection, or a saved channel) over `layer`'s area, one byte a pixel:
    0 unselected, 255 selected; nothing outside the channel is selected."""
    _, cx, cy = channel.get_offsets()
    _, x, y = layer.get_offsets()
    rect = Gegl.Rectangle.new(x - cx, y - cy, layer.get_width(), layer.get_height())
    return bytes(channel.get_buffer().get(rect, 1.0, "Y u8", Gegl.AbyssPolicy.NONE))


def channel_mask_png(channel, layer):
    """`channel_values` as a mask PNG of the layer's size."""
    return mask_png(layer.get_width(), layer.get_height(), channel_values(channel, layer))


def selection_mask_file(image, layer):
    """The selection over `layer`, as the job's (only) mask file."""
    values = channel_values(image.get_selection(), layer)
    if values.count(0) == len(values):  # nothing selected over the layer
        raise RestyleError("The selection does not overlap the layer '%s': select part of it, "
                           "or deselect (Select > None)." % layer.get_name())
    return mask_file(0, mask_png(layer.get_width(), layer.get_height(), values))


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
        client = Client(server_url(""), server_token(""), WHERE)
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
            "above the source layer, masked by the selection if there is one. The "
            "selection is sent as the style's mask unless Selection says otherwise.",
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
        modes = Gimp.Choice.new()
        for index, (nick, label) in enumerate(SELECTION_MODES):
            modes.add(nick, index, label, "")
        procedure.add_choice_argument(
            "selection-mode", "Se_lection", "What a selection does: paint the style inside it "
            "(it is sent as the style's mask), or restyle the whole layer and only mask the "
            "result; or ignore Style and paint one style per channel, each channel named "
            "after a style (its id or title). A selection masks each preview in every mode.",
            modes, PAINT_INSIDE, rw)
        for option in OPTIONS:
            add_option_argument(procedure, option, rw)
        procedure.add_string_argument("server-url", "Server _URL", "Restyle server; empty: "
                                      "$RESTYLE_URL or " + DEFAULT_URL, "", rw)
        procedure.add_string_argument("token", "T_oken", "Bearer token, if the server "
                                      "requires one; empty: $RESTYLE_TOKEN, else the token "
                                      "file of deno task serve --generate-token", "", rw)
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
                        server_token(config.get_property("token")), WHERE).styles(timeout=2)
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
        self.selection_mode = get("selection-mode")
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
        name = os.path.splitext(os.path.basename(path))[0]
        return [], [style_image_file(path)], name
    if settings.style == STYLE_FROM_LAYER:
        if settings.style_layer is None:
            raise RestyleError("Style is 'Another open layer' but no style layer was chosen.")
        layer = settings.style_layer
        return [], [("styleImage", "style-layer.png", drawable_png(layer))], layer.get_name()
    return [("style", settings.style)], [], settings.style_title


def channel_styles(image, source, client):
    """(form fields, files, short name) for "one style per channel": each channel of the
    image named after one of the server's styles, as that style and its mask."""
    channels = image.get_channels()
    if not channels:
        raise RestyleError("Selection is 'One style per channel' but the image has no "
                           "channels: save a selection as a channel (Select > Save to "
                           "Channel) and name it after a style, by its id or its title.")
    named = [(c.get_name(), channel_mask_png(c, source)) for c in channels]
    fields, files, titles = pair_styles(named, client.styles(timeout=30), "channel")
    return fields, files, " + ".join(titles)


def restyle(image, source, settings):
    """Run one job for `source` and insert its previews; the caller holds the undo group."""
    client = Client(settings.url, settings.token, WHERE)
    if settings.selection_mode == PER_CHANNEL:
        fields, files, style_name = channel_styles(image, source, client)
    else:
        fields, files, style_name = style_request(settings)
        if settings.selection_mode == PAINT_INSIDE and not Gimp.Selection.is_empty(image):
            files.append(selection_mask_file(image, source))
    content = drawable_png(source)
    fields.append(("options", json.dumps(settings.options())))
    job = client.submit(fields, [("content", "layer.png", content)] + files)
    Gimp.progress_set_text("Restyle: %s, waiting for the first preview…" % style_name)
    previews = Previews(image, source, style_name)
    outcome = None
    try:
        outcome = client.follow(job, previews.add, lambda iteration, iterations, tile: progress(
            iteration, iterations or settings.iterations, tile))
    finally:
        if outcome is None:
            client.cancel(job["id"])
    if outcome == "cancelled":
        raise RestyleError("The Restyle job was cancelled on the server.")
    if not previews.inserted:
        raise RestyleError("The Restyle job finished without any preview image.")


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

    def add(self, iteration, png):
        """Inserts the preview of `iteration` (PNG bytes) as the group's top layer."""
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
