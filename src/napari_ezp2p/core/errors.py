"""The errors the pure packages raise: each message says what went wrong and where."""


class Ezp2pError(Exception):
    """Base of every error napari-ezp2p raises on purpose."""


class ImageReadError(Ezp2pError, ValueError):
    """A source file that cannot be read as an image (names the file and the cause)."""


class ConversionError(Ezp2pError, ValueError):
    """Input that cannot become a valid DICOM object (names the attribute or the codec)."""
