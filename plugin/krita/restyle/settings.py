"""One run's parameters: the options of fields.json (the server's options table, written
by `deno task plugin-options`), with the same names as the API, the CLI and GIMP."""

import json
import os
import re

from .restyle_client import MASK_RESULT, PAINT_INSIDE, PER_MASK, server_token, server_url


def _read_fields():
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fields.json")
    with open(path, encoding="utf-8") as file:
        return json.load(file)


FIELDS = _read_fields()
# The options the docker shows, in the table's order: name, label, help, kind, default, ….
OPTIONS = FIELDS["options"]
# Shown when the server cannot be asked for its catalogue: its built-in styles.
FALLBACK_STYLES = [(s["id"], s["title"]) for s in FIELDS["styles"]]
DEFAULT_STYLE = FALLBACK_STYLES[0][0]
# What a selection does (the docker's Selection choice; the plug-in's, not a server option).
MASK_MODES = [
    (PAINT_INSIDE, "Paint inside it (sent as the style's mask)"),
    (MASK_RESULT, "Mask the result (the whole area is restyled)"),
    (PER_MASK, "One style per selection mask (named after styles)"),
]


def snake_case(name):
    """The Python name of an API option: `previewEvery` -> `preview_every`."""
    return re.sub(r"[A-Z]", lambda m: "_" + m.group(0).lower(), name)


def option_value(option, value):
    """`value` as the API takes it: a number of the option's kind, or a choice's value."""
    if option["kind"] == "integer":
        return int(value)
    if option["kind"] == "number":
        return float(value)
    return value


class Settings:
    """What to restyle with. The style is exactly one of `style` (a server style id),
    `style_file` (a path) or `style_layer` (a Krita node of any open document). `mask_mode`
    says what a selection does: "paint-inside" (the default: it is sent as the style's mask),
    "mask-result" (the whole area is restyled, the selection only masks each preview) or
    "per-mask" (the style is ignored: each selection mask of the layer named after one of the
    server's styles paints that style). Every option of fields.json is a keyword argument
    named in snake_case (`preview_every`); those left out take the table's default."""

    def __init__(self, style=DEFAULT_STYLE, style_title=None, style_file=None,
                 style_layer=None, url="", token="", mask_mode=PAINT_INSIDE, **options):
        self.style = style
        self.style_title = style_title
        self.style_file = style_file
        self.style_layer = style_layer
        if mask_mode not in [mode for mode, _ in MASK_MODES]:
            raise TypeError("unknown mask_mode %r; it is one of: %s"
                            % (mask_mode, ", ".join(mode for mode, _ in MASK_MODES)))
        self.mask_mode = mask_mode
        self.url = server_url(url)
        self.token = server_token(token)
        known = {snake_case(o["name"]): o for o in OPTIONS}
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise TypeError("unknown option %s; options are: %s"
                            % (", ".join(unknown), ", ".join(known)))
        self.option_values = {
            o["name"]: option_value(o, options.get(key, o["default"]))
            for key, o in known.items()
        }

    @property
    def iterations(self):
        return self.option_values["iterations"]

    def options(self):
        """The job's `options` field: the API's names, as the other plug-ins send them."""
        return dict(self.option_values)

    def options_json(self):
        return json.dumps(self.options())

    def style_name(self):
        """A short name for layer names: the style's title, file or layer name."""
        if self.style_layer is not None:
            return self.style_layer.name()
        if self.style_file:
            return os.path.splitext(os.path.basename(self.style_file))[0]
        return self.style_title or self.style
