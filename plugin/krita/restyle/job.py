"""One restyle of a Krita paint layer, without any user interface.

`RestyleRun` reads the layer's pixels (inside the selection's bounds when there
is a selection), sends them with the style to the Restyle server on a worker
thread, and adds every preview the server sends back as a new paint layer in a
group directly above the source, at the same position and size, with the
selection as a transparency mask. (Krita 5.1's scripting API cannot make masks:
there the selection is applied to each preview's own transparency instead.) By
default the selection is also sent as the style's mask, so the style is painted
inside it; or each selection mask of the layer named after a style is sent with
that style (`Settings.mask_mode`).
Layers are only touched on the thread that created the run (Krita's UI thread),
through queued Qt signals, so Krita stays responsive while the server works.

`restyle_layer()` is the blocking form for scripts (and the tests): it runs a
local Qt event loop until the job ends.
"""

import sys
import threading
import traceback

from krita import Selection
from PyQt5.QtCore import QEventLoop, QObject, QRect, QTimer, pyqtSignal

from .pixels import bgra_to_png, multiply_alpha, png_to_bgra
from .restyle_client import (PAINT_INSIDE, PER_MASK, Client, RestyleError, mask_file, mask_png,
                             pair_styles, style_image_file)

# Where the messages tell the user to set the server URL and token.
WHERE = "the Restyle docker's Server section"


def _layer_message(node):
    return ("Restyle works on a paint layer; the active layer '%s' is a %s. Click a paint "
            "layer in the Layers docker." % (node.name(), node.type()))


def check_paint_layer(node, role="layer"):
    """Raises RestyleError unless `node` is an 8-bit RGBA paint layer."""
    if node is None:
        raise RestyleError("There is no active layer: click a paint layer in the Layers docker.")
    if node.type() != "paintlayer":
        raise RestyleError(_layer_message(node) if role == "layer" else
                           "The style layer '%s' is a %s, not a paint layer."
                           % (node.name(), node.type()))
    if node.colorModel() != "RGBA" or node.colorDepth() != "U8":
        raise RestyleError(
            "Restyle needs 8-bit RGB/Alpha pixels; the %s '%s' is %s %s. Convert it with "
            "Image > Convert Image Color Space… (RGB/Alpha, 8-bit integer/channel)."
            % (role, node.name(), node.colorModel(), node.colorDepth()))


def source_region(document, node):
    """(QRect to send, selection or None): the layer's bounds within the canvas, cut to
    the selection's bounds when there is a selection."""
    region = node.bounds().intersected(document.bounds())
    selection = document.selection()
    if selection is not None and selection.width() > 0 and selection.height() > 0:
        region = region.intersected(
            QRect(selection.x(), selection.y(), selection.width(), selection.height()))
        if region.isEmpty():
            raise RestyleError("The selection does not overlap the layer '%s': select part of "
                               "it, or deselect (Select > Deselect)." % node.name())
    else:
        selection = None
    if region.isEmpty():
        raise RestyleError("The layer '%s' is empty inside the canvas: paint something "
                           "first." % node.name())
    return region, selection


def style_fields(settings):
    """(form fields, files) naming the style: a server style id, a file or a layer."""
    if settings.style_layer is not None:
        layer = settings.style_layer
        check_paint_layer(layer, "style layer")
        bounds = layer.bounds()
        if bounds.isEmpty():
            raise RestyleError("The style layer '%s' is empty." % layer.name())
        data = layer.pixelData(bounds.x(), bounds.y(), bounds.width(), bounds.height())
        png = bgra_to_png(data, bounds.width(), bounds.height())
        return [], [("styleImage", "style-layer.png", png)]
    if settings.style_file:
        return [], [style_image_file(settings.style_file)]
    if not settings.style:
        raise RestyleError("Choose a style, a style image file, or another open layer.")
    return [("style", settings.style)], []


def named_selection_masks(node, region):
    """[(name, mask PNG)] of the selection masks on `node`, over `region` (a QRect)."""
    r = region
    return [(child.name(), mask_png(r.width(), r.height(),
                                    child.pixelData(r.x(), r.y(), r.width(), r.height())))
            for child in node.childNodes() if child.type() == "selectionmask"]


class _Bridge(QObject):
    """Signals the worker thread emits; their slots run on the run's own thread."""

    preview = pyqtSignal(int, bytes)
    progress = pyqtSignal(int, int)
    ended = pyqtSignal(str, str)  # outcome ("done", "cancelled", "failed"), message


class RestyleRun(QObject):
    """A restyle of `node` in `document` with `settings` (a `Settings`).

    Call `start()` on Krita's UI thread; it raises RestyleError for a problem it
    can see before sending anything. Then `progressed(iteration, iterations)`,
    `previewAdded(layer, iteration)` and finally `finished(outcome, message)` are
    emitted, outcome being "done", "cancelled" or "failed" (message says why).
    """

    progressed = pyqtSignal(int, int)
    previewAdded = pyqtSignal(object, int)
    finished = pyqtSignal(str, str)

    def __init__(self, document, node, settings, parent=None):
        super().__init__(parent)
        self.document = document
        self.source = node
        self.settings = settings
        self.group = None
        self.layers = []
        self.outcome = None
        self.message = ""
        self._cancel = threading.Event()
        self.job_id = None  # the server's job id, once submitted
        self._previews_sent = 0  # counted on the worker thread
        self._pending = []  # previews received, not yet added
        self._inserting = False
        self._ended = None  # (outcome, message) that arrived while adding layers
        self._client = Client(settings.url, settings.token, WHERE)
        self._bridge = _Bridge()
        self._bridge.preview.connect(self._add_preview)
        self._bridge.progress.connect(self.progressed)
        self._bridge.ended.connect(self._end)

    # --- on the UI thread --------------------------------------------------

    def start(self):
        check_paint_layer(self.source)
        self.region, self.selection = source_region(self.document, self.source)
        r = self.region
        self.mask = None if self.selection is None else bytes(
            self.selection.pixelData(r.x(), r.y(), r.width(), r.height()))
        # Krita 5.2 made transparency masks scriptable; on 5.1 the selection is
        # applied to each preview's own transparency instead.
        self.masks_supported = hasattr(self.document, "createTransparencyMask")
        content = bgra_to_png(self.source.pixelData(r.x(), r.y(), r.width(), r.height()),
                              r.width(), r.height())
        # Paired with the server's styles on the worker thread (which asks for them).
        self._named_masks = None
        if self.settings.mask_mode == PER_MASK:
            self._named_masks = named_selection_masks(self.source, r)
            if not self._named_masks:
                raise RestyleError(
                    "Selection is 'One style per selection mask' but the layer '%s' has no "
                    "selection masks: add one per style (right-click the layer > Add > Local "
                    "Selection) and name it after the style, by its id or its title."
                    % self.source.name())
            fields, files = [], []
            self.style_name = "selection masks"
        else:
            fields, files = style_fields(self.settings)
            if self.settings.mask_mode == PAINT_INSIDE and self.mask is not None:
                files.append(mask_file(0, mask_png(r.width(), r.height(), self.mask)))
            self.style_name = self.settings.style_name()
        fields.append(("options", self.settings.options_json()))
        files.insert(0, ("content", "layer.png", content))
        worker = threading.Thread(target=self._work, args=(fields, files),
                                  name="restyle-job", daemon=True)
        worker.start()

    def cancel(self):
        """Asks the server to stop; `finished("cancelled", …)` follows. Previews stay."""
        self._cancel.set()
        if self.job_id:
            threading.Thread(target=self._client.cancel, args=(self.job_id,),
                             daemon=True).start()

    def _add_preview(self, iteration, bgra):
        # Krita's waitForDone() runs the event loop when a view is open, so the
        # next preview (or the end) can arrive while a layer is being added:
        # queue it, and let the outermost call add the layers in order.
        self._pending.append((iteration, bgra))
        if self._inserting:
            return
        self._inserting = True
        try:
            while self._pending and self.outcome is None:
                self._insert_layer(*self._pending.pop(0))
        except Exception as error:  # a Krita call failed: stop, with a message
            traceback.print_exc(file=sys.stderr)
            self.cancel()
            self._end("failed", "Could not add the preview layer: %s" % error)
        finally:
            self._inserting = False
        if self._ended is not None:
            self._end(*self._ended)

    def _insert_layer(self, iteration, bgra):
        doc, r = self.document, self.region
        # With a view open, Krita applies layer changes asynchronously: each step
        # waits for the last, and pixels are written before the layer is shown.
        if self.group is None:
            self.group = doc.createGroupLayer("Restyle: " + self.style_name)
            self.source.parentNode().addChildNode(self.group, self.source)
            doc.waitForDone()
        layer = doc.createNode("%s — iteration %d" % (self.style_name, iteration), "paintlayer")
        layer.setPixelData(bgra, r.x(), r.y(), r.width(), r.height())
        if self.mask is not None and self.masks_supported:
            selection = Selection()
            selection.setPixelData(self.mask, r.x(), r.y(), r.width(), r.height())
            mask = doc.createTransparencyMask("Selection")
            mask.setSelection(selection)
            layer.addChildNode(mask, None)
        top = self.group.childNodes()
        self.group.addChildNode(layer, top[-1] if top else None)
        doc.waitForDone()
        doc.refreshProjection()
        self.layers.append(layer)
        self.previewAdded.emit(layer, iteration)

    def _end(self, outcome, message):
        if self.outcome is not None:
            return
        if self._inserting:  # previews are still being added: end after them
            self._ended = (outcome, message)
            return
        self.outcome, self.message = outcome, message
        self.finished.emit(outcome, message)

    # --- on the worker thread ----------------------------------------------

    def _work(self, fields, files):
        bridge = self._bridge
        try:
            if self._named_masks is not None:
                styles = self._client.styles(timeout=30)
                paired, masks, titles = pair_styles(self._named_masks, styles, "selection mask")
                fields, files = paired + fields, files + masks
                self.style_name = " + ".join(titles)  # before any preview names a layer
            outcome = self._follow(self._client.submit(fields, files))
            count = self._previews_sent
            if outcome == "cancelled":
                bridge.ended.emit("cancelled", "Cancelled; %d preview layer(s) kept." % count)
            elif count == 0:
                bridge.ended.emit("failed", "The Restyle job finished without a preview image.")
            else:
                bridge.ended.emit("done", "Done: %d preview layer(s) added." % count)
        except RestyleError as error:
            bridge.ended.emit("failed", str(error))
        except Exception as error:  # never a traceback for the user; keep one in the log
            traceback.print_exc(file=sys.stderr)
            bridge.ended.emit("failed", "Restyle stopped unexpectedly: %s" % error)

    def _follow(self, job):
        """Sends each preview to the UI thread as the job reports it; returns how it ended."""
        self.job_id = job["id"]
        if self._cancel.is_set():
            self._client.cancel(self.job_id)
        return self._client.follow(job, self._send_preview, self._send_progress)

    def _send_progress(self, iteration, iterations, tile):
        if tile is None:  # the bar moves by whole iterations
            self._bridge.progress.emit(iteration, iterations)

    def _send_preview(self, iteration, png):
        r = self.region
        bgra = png_to_bgra(png, r.width(), r.height())
        if bgra is None:
            raise RestyleError("The preview of iteration %d is not an image Qt can read."
                               % iteration)
        if self.mask is not None and not self.masks_supported:
            bgra = multiply_alpha(bgra, self.mask, r.width(), r.height())
        self._previews_sent += 1
        self._bridge.preview.emit(iteration, bgra)


def restyle_layer(document, node, settings, timeout=None, on_progress=None):
    """Restyles `node` and waits: the blocking form of `RestyleRun`, for scripts.

    Runs a local Qt event loop (so previews are still added on this thread) and
    returns the finished run: `.outcome`, `.message`, `.group`, `.layers`.
    Problems found before sending (no paint layer, empty layer, …) and a server
    that cannot be reached come back as outcome "failed" with the message.
    """
    run = RestyleRun(document, node, settings)
    if on_progress is not None:
        run.progressed.connect(on_progress)
    loop = QEventLoop()
    run.finished.connect(lambda *_: loop.quit())
    try:
        run.start()
    except RestyleError as error:
        run._end("failed", str(error))
        return run
    if timeout is not None:
        QTimer.singleShot(int(timeout * 1000), loop.quit)
    if run.outcome is None:
        loop.exec_()
    if run.outcome is None:
        run.cancel()
        run._end("failed", "Restyle timed out after %s s." % timeout)
    return run
