"""The Restyle docker: style, options, server settings, Start/Cancel and progress."""

import threading

from krita import DockWidget, Extension, Krita
from PyQt5.QtCore import QObject, Qt, pyqtSignal
from PyQt5.QtWidgets import (QComboBox, QDockWidget, QDoubleSpinBox, QFileDialog, QFormLayout,
                             QGroupBox, QHBoxLayout, QLabel, QLineEdit, QProgressBar,
                             QPushButton, QSlider, QSpinBox, QToolButton, QVBoxLayout, QWidget)

from .job import WHERE, RestyleRun
from .restyle_client import (DEFAULT_URL, PER_MASK, Client, RestyleError, server_token,
                             server_url)
from .settings import DEFAULT_STYLE, FALLBACK_STYLES, MASK_MODES, OPTIONS, Settings, snake_case

DOCKER_ID = "restyle_docker"
SETTINGS_GROUP = "restyle"
FROM_FILE = "\x00file"
FROM_LAYER = "\x00layer"


def _nick(option, value):
    """A choice's value as text (its nick in fields.json)."""
    return next((c["nick"] for c in option["choices"]
                 if c["value"] == value and type(c["value"]) is type(value)), str(value))


def style_label(style):
    label = style.get("title") or style["id"]
    if style.get("artist"):
        label += " — " + style["artist"]
    return label


class _StyleLoader(QObject):
    """Reads GET /v1/styles on a thread; `loaded(styles, error, url)` arrives on the UI thread."""

    loaded = pyqtSignal(list, str, str)

    def load(self, url, token):
        def work():
            try:
                styles = Client(url, token, WHERE).styles(timeout=5)
                self.loaded.emit([(s["id"], style_label(s)) for s in styles], "", url)
            except RestyleError as error:
                self.loaded.emit([], str(error), url)
            except Exception as error:  # a malformed answer: say so, keep the docker usable
                self.loaded.emit([], "Could not read the style list: %s" % error, url)
        threading.Thread(target=work, name="restyle-styles", daemon=True).start()


def open_paint_layers():
    """[(label, node)] of the paint layers of every open document."""
    found = []

    def walk(document, node):
        for child in node.childNodes():
            if child.type() == "paintlayer":
                found.append(("%s — %s" % (document.name() or "Untitled", child.name()), child))
            walk(document, child)

    for document in Krita.instance().documents():
        walk(document, document.rootNode())
    return found


class RestyleDocker(DockWidget):
    """Settings > Dockers > Restyle."""

    def __init__(self):
        super().__init__()
        self.setWindowTitle("Restyle")
        self.run = None
        self.styles_url = None  # the server the style list was last read from
        self.styles_error = ""
        self._styles_wanted = None
        self._styles = _StyleLoader()
        self._styles.loaded.connect(self._fill_styles)
        self._build()
        self._restore()
        self._list_styles(FALLBACK_STYLES)  # usable at once; the server's list replaces it
        self.refresh_styles()

    # --- layout ------------------------------------------------------------

    def _build(self):
        root = QWidget(self)
        column = QVBoxLayout(root)
        form = QFormLayout()
        column.addLayout(form)

        self.style = QComboBox()
        self.style.setToolTip("A painting from the server's catalogue, an image file, "
                              "or a layer of any open document")
        refresh = QToolButton()
        refresh.setText("↻")
        refresh.setToolTip("Read the style list from the server again")
        refresh.clicked.connect(self.refresh_styles)
        form.addRow("Style", self._row(self.style, refresh))

        self.style_file = QLineEdit()
        self.style_file.setPlaceholderText("an image file")
        browse = QToolButton()
        browse.setText("…")
        browse.clicked.connect(self._browse)
        self.style_file_row = self._row(self.style_file, browse)
        form.addRow("Style file", self.style_file_row)

        self.style_layer = QComboBox()
        self.style_layer.setToolTip("Any paint layer of any open document")
        layers = QToolButton()
        layers.setText("↻")
        layers.setToolTip("List the open documents' layers again")
        layers.clicked.connect(self.refresh_layers)
        self.style_layer_row = self._row(self.style_layer, layers)
        form.addRow("Style layer", self.style_layer_row)

        self.mask_mode = QComboBox()
        for value, label in MASK_MODES:
            self.mask_mode.addItem(label, value)
        self.mask_mode.setToolTip(
            "What a selection does: paint the style inside it (it is sent as the style's "
            "mask), or restyle the whole area and only mask the result; or ignore Style and "
            "paint one style per selection mask of the layer, each named after a style. A "
            "selection masks each preview in every case.")
        form.addRow("Selection", self.mask_mode)

        # One row per option of fields.json; each widget is also an attribute named in
        # snake_case (self.preview_every), as Settings takes it.
        self.option_widgets = {}
        for option in OPTIONS:
            widget, row = self._option_widget(option)
            self.option_widgets[option["name"]] = widget
            setattr(self, snake_case(option["name"]), widget)
            form.addRow(option["label"], row)

        server = QGroupBox("Server")
        server_form = QFormLayout(server)
        self.url = QLineEdit()
        self.url.setPlaceholderText(server_url(""))
        self.url.setToolTip("Empty: $RESTYLE_URL, else " + DEFAULT_URL)
        self.url.editingFinished.connect(self.refresh_styles)
        server_form.addRow("URL", self.url)
        self.token = QLineEdit()
        self.token.setEchoMode(QLineEdit.Password)
        self.token.setPlaceholderText("only if the server asks for one")
        self.token.setToolTip("Empty: $RESTYLE_TOKEN, else the token file of "
                              "deno task serve --generate-token")
        server_form.addRow("Token", self.token)
        column.addWidget(server)

        buttons = QHBoxLayout()
        self.start_button = QPushButton("Restyle the active layer")
        self.start_button.clicked.connect(lambda: self.start())
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.cancel_button)
        column.addLayout(buttons)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setValue(0)
        column.addWidget(self.progress)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextSelectableByMouse)
        column.addWidget(self.status)
        column.addStretch(1)

        self.style.currentIndexChanged.connect(self._style_changed)
        self.setWidget(root)
        self._style_changed()

    @staticmethod
    def _row(*widgets):
        row = QWidget()
        box = QHBoxLayout(row)
        box.setContentsMargins(0, 0, 0, 0)
        for index, widget in enumerate(widgets):
            box.addWidget(widget, 1 if index == 0 else 0)
        return row

    def _option_widget(self, option):
        """(widget, row) for an option: a spin box, a slider for a whole-number range, or a
        list of choices (their nicks as data)."""
        kind, default = option["kind"], option["default"]
        if kind == "choice":
            widget = QComboBox()
            for choice in option["choices"]:
                widget.addItem(choice["label"], choice["nick"])
            widget.setCurrentIndex(max(0, widget.findData(_nick(option, default))))
            row = widget
        elif kind == "number" and float(option["minimum"]).is_integer() \
                and float(option["maximum"]).is_integer():
            widget = QSlider(Qt.Horizontal)
            widget.setRange(int(option["minimum"]), int(option["maximum"]))
            widget.setValue(int(default))
            value = QLabel(str(int(default)))
            value.setMinimumWidth(24)
            widget.valueChanged.connect(lambda v, label=value: label.setText(str(v)))
            row = self._row(widget, value)
        else:
            widget = QSpinBox() if kind == "integer" else QDoubleSpinBox()
            widget.setRange(option["minimum"], option["maximum"])
            widget.setValue(default)
            row = widget
        widget.setToolTip(option["help"])
        return widget, row

    def _option_value(self, option):
        widget = self.option_widgets[option["name"]]
        if option["kind"] != "choice":
            return widget.value()
        nick = widget.currentData()
        return next((c["value"] for c in option["choices"] if c["nick"] == nick),
                    option["default"])

    def canvasChanged(self, canvas):
        pass

    # --- styles and layers --------------------------------------------------

    def refresh_styles(self):
        self._styles_wanted = server_url(self.url.text())
        self._styles.load(self._styles_wanted, server_token(self.token.text()))

    def _fill_styles(self, styles, error, url):
        if url != self._styles_wanted:
            return  # an answer to an earlier URL
        self._list_styles(styles or FALLBACK_STYLES)
        self.styles_url, self.styles_error = url, error
        if self.run is None:
            self._say(error, error=bool(error))

    def _list_styles(self, styles):
        current = self.style.currentData() or self._saved("style", DEFAULT_STYLE)
        self.style.blockSignals(True)
        self.style.clear()
        for value, label in styles:
            self.style.addItem(label, value)
        self.style.addItem("Style image file (below)", FROM_FILE)
        self.style.addItem("Another open layer (below)", FROM_LAYER)
        self.style.setCurrentIndex(max(0, self.style.findData(current)))
        self.style.blockSignals(False)
        self._style_changed()

    def refresh_layers(self):
        current = self.style_layer.currentText()
        self.style_layer.clear()
        for label, node in open_paint_layers():
            self.style_layer.addItem(label, node)
        self.style_layer.setCurrentIndex(max(0, self.style_layer.findText(current)))

    def _style_changed(self):
        choice = self.style.currentData()
        self.style_file_row.setVisible(choice == FROM_FILE)
        self.style_layer_row.setVisible(choice == FROM_LAYER)
        if choice == FROM_LAYER:
            self.refresh_layers()

    def _browse(self):
        path, _ = QFileDialog.getOpenFileName(self, "Style image", self.style_file.text(),
                                              "Images (*.png *.jpg *.jpeg *.gif *.tif *.tiff)")
        if path:
            self.style_file.setText(path)

    # --- settings -------------------------------------------------------------

    def settings(self):
        """The docker's current choices as a `Settings`."""
        choice = self.style.currentData()
        settings = Settings(
            url=self.url.text(),
            token=self.token.text(),
            mask_mode=self.mask_mode.currentData(),
            **{snake_case(o["name"]): self._option_value(o) for o in OPTIONS},
        )
        settings.style = None
        if settings.mask_mode == PER_MASK:
            pass  # the layer's selection masks name the styles
        elif choice == FROM_FILE:
            if not self.style_file.text().strip():
                raise RestyleError("Style is 'Style image file': choose the file with the "
                                   "… button next to Style file.")
            settings.style_file = self.style_file.text().strip()
        elif choice == FROM_LAYER:
            if self.style_layer.currentData() is None:
                raise RestyleError("Style is 'Another open layer', but no paint layer of an "
                                   "open document is listed: open one, then click ↻.")
            settings.style_layer = self.style_layer.currentData()
        else:
            settings.style = choice
            settings.style_title = self.style.currentText().split(" — ")[0]
        return settings

    def _saved(self, key, default):
        return Krita.instance().readSetting(SETTINGS_GROUP, key, str(default))

    def _restore(self):
        for option in OPTIONS:
            widget = self.option_widgets[option["name"]]
            saved = self._saved(option["name"], "")
            if option["kind"] == "choice":
                index = widget.findData(saved)
                if index >= 0:
                    widget.setCurrentIndex(index)
                continue
            try:
                widget.setValue(type(widget.value())(float(saved)))
            except ValueError:
                pass
        self.url.setText(self._saved("url", ""))
        self.style_file.setText(self._saved("styleFile", ""))
        mode = self.mask_mode.findData(self._saved("maskMode", ""))
        self.mask_mode.setCurrentIndex(max(0, mode))

    def _save(self):
        write = Krita.instance().writeSetting
        for option in OPTIONS:
            value = self._option_value(option)
            write(SETTINGS_GROUP, option["name"], _nick(option, value)
                  if option["kind"] == "choice" else str(value))
        write(SETTINGS_GROUP, "url", self.url.text().strip())
        write(SETTINGS_GROUP, "styleFile", self.style_file.text().strip())
        write(SETTINGS_GROUP, "maskMode", self.mask_mode.currentData())
        if self.style.currentData() not in (FROM_FILE, FROM_LAYER):
            write(SETTINGS_GROUP, "style", self.style.currentData() or "")

    # --- running ------------------------------------------------------------

    def start(self, document=None, node=None):
        """Restyles `node` of `document` (default: the active layer of the active document)."""
        if self.run is not None:
            return
        document = document or Krita.instance().activeDocument()
        if document is None:
            self._say("Open an image first, then click the layer to restyle.", error=True)
            return
        node = node or document.activeNode()
        try:
            settings = self.settings()
            self._save()
            run = RestyleRun(document, node, settings, self)
            run.start()
        except RestyleError as error:
            self._say(str(error), error=True)
            return
        self.run = run
        run.progressed.connect(self._progressed)
        run.finished.connect(self._finished)
        self.start_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress.setValue(0)
        self._say("Sending '%s' to %s…" % (node.name(), settings.url))

    def cancel(self):
        if self.run is not None:
            self.run.cancel()
            self._say("Cancelling…")

    def _progressed(self, iteration, iterations):
        total = iterations or self.iterations.value()
        self.progress.setValue(int(100 * iteration / max(1, total)))
        self._say("Iteration %d of %d: %d layer(s) added" % (iteration, total,
                                                             len(self.run.layers)))

    def _finished(self, outcome, message):
        self.run.deleteLater()  # the docker was its parent
        self.run = None
        self.start_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        if outcome == "done":
            self.progress.setValue(100)
        self._say(message, error=outcome == "failed")

    def _say(self, text, error=False):
        self.status.setStyleSheet("color: #d33;" if error else "")
        self.status.setText(text)


class ShowDockerExtension(Extension):
    """Tools > Scripts > Restyle: shows (and raises) the Restyle docker."""

    def setup(self):
        pass

    def createActions(self, window):
        action = window.createAction("restyle_show_docker", "Restyle", "tools/scripts")
        action.triggered.connect(self.show_docker)

    @staticmethod
    def show_docker():
        # The active window, not the one createActions was given: Krita does not
        # keep that wrapper alive.
        window = Krita.instance().activeWindow()
        if window is None:
            return
        for dock in window.qwindow().findChildren(QDockWidget):
            if dock.objectName() == DOCKER_ID or isinstance(dock, RestyleDocker):
                dock.show()
                dock.raise_()
                return
