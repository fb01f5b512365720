"""One run's parameters, with the same option names as the GIMP and Photopea plug-ins."""

import json
import os

from .client import server_token, server_url

NETWORKS = [
    ("squeezenet", "SqueezeNet (fast)"),
    ("googlenet", "GoogLeNet"),
    ("vgg16", "VGG16 (the paper's; fetch its weights first)"),
]
STARTS = [
    ("content", "The layer itself"),
    ("noise", "Noise (the paper's choice)"),
]
# Shown when the server cannot be asked for its catalogue: its built-in styles.
FALLBACK_STYLES = [
    ("starry-night", "The Starry Night"),
    ("great-wave", "The Great Wave off Kanagawa"),
    ("the-scream", "The Scream"),
    ("shipwreck-minotaur", "The Shipwreck of the Minotaur"),
    ("composition-vii", "Composition VII"),
    ("monet-san-giorgio", "San Giorgio Maggiore at Dusk"),
    ("wheat-field-cypresses", "Wheat Field with Cypresses"),
]
# (name, lowest, highest, default) of the integer options, as the server accepts them.
LIMITS = {
    "iterations": (1, 2000, 100),
    "previewEvery": (1, 2000, 10),
    "maxSize": (16, 2048, 512),
    "strength": (0, 100, 50),
}


class Settings:
    """What to restyle with. The style is exactly one of `style` (a server style id),
    `style_file` (a path) or `style_layer` (a Krita node of any open document)."""

    def __init__(self, style="starry-night", style_title=None, style_file=None,
                 style_layer=None, network="squeezenet", iterations=100, preview_every=10,
                 max_size=512, strength=50, preserve_colors=False, init="content",
                 url="", token=""):
        self.style = style
        self.style_title = style_title
        self.style_file = style_file
        self.style_layer = style_layer
        self.network = network
        self.iterations = int(iterations)
        self.preview_every = int(preview_every)
        self.max_size = int(max_size)
        self.strength = float(strength)
        self.preserve_colors = bool(preserve_colors)
        self.init = init
        self.url = server_url(url)
        self.token = server_token(token)

    def options(self):
        """The job's `options` field: the API's names, as the other plug-ins send them."""
        return {
            "network": self.network,
            "iterations": self.iterations,
            "previewEvery": self.preview_every,
            "maxSize": self.max_size,
            # 50 keeps the network's tuned style weight; the server scales it.
            "strength": self.strength,
            "preserveColors": self.preserve_colors,
            "init": self.init,
        }

    def options_json(self):
        return json.dumps(self.options())

    def style_name(self):
        """A short name for layer names: the style's title, file or layer name."""
        if self.style_layer is not None:
            return self.style_layer.name()
        if self.style_file:
            return os.path.splitext(os.path.basename(self.style_file))[0]
        return self.style_title or self.style
