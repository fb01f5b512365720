"""Krita's 8-bit pixel bytes (B, G, R, A) to and from PNG, with Qt's image codecs."""

from PyQt5.QtCore import QBuffer, QByteArray, QIODevice, Qt
from PyQt5.QtGui import QImage, QPainter


def _bgra_image(data, width, height):
    # Read as RGBA8888 (byte order on every platform), then swap red and blue:
    # the result is a real RGBA image that owns its pixels.
    return QImage(bytes(data), width, height, width * 4, QImage.Format_RGBA8888).rgbSwapped()


def _bytes_of(image):
    bits = image.constBits()
    bits.setsize(image.bytesPerLine() * image.height())
    return bytes(bits)


def bgra_to_png(data, width, height):
    """PNG bytes of `width` x `height` BGRA pixels."""
    array = QByteArray()
    buffer = QBuffer(array)
    buffer.open(QIODevice.WriteOnly)
    if not _bgra_image(data, width, height).save(buffer, "PNG"):
        raise ValueError("Qt could not encode a PNG")
    buffer.close()
    return bytes(array)


def png_to_bgra(png, width, height):
    """BGRA bytes of a PNG (or JPEG, ...) scaled to exactly `width` x `height`; None if unreadable."""
    image = QImage.fromData(png)
    if image.isNull():
        return None
    if image.width() != width or image.height() != height:
        image = image.convertToFormat(QImage.Format_RGBA8888_Premultiplied).scaled(
            width, height, Qt.IgnoreAspectRatio, Qt.SmoothTransformation)
    image = image.convertToFormat(QImage.Format_RGBA8888).rgbSwapped()
    return _bytes_of(image)


def multiply_alpha(bgra, mask, width, height):
    """BGRA bytes whose alpha is multiplied by `mask` (one byte a pixel, 255 = keep)."""
    image = _bgra_image(bgra, width, height).convertToFormat(
        QImage.Format_RGBA8888_Premultiplied)
    alpha = QImage(bytes(mask), width, height, width, QImage.Format_Alpha8)
    painter = QPainter(image)
    painter.setCompositionMode(QPainter.CompositionMode_DestinationIn)
    painter.drawImage(0, 0, alpha)
    painter.end()
    return _bytes_of(image.convertToFormat(QImage.Format_RGBA8888).rgbSwapped())
