"""The errors the pure packages raise: each message says what went wrong and where."""


class Ezp2pError(Exception):
    """Base of every error napari-ezp2p raises on purpose."""


class ImageReadError(Ezp2pError, ValueError):
    """A source file that cannot be read as an image (names the file and the cause)."""


class ConversionError(Ezp2pError, ValueError):
    """Input that cannot become a valid DICOM object (names the attribute or the codec)."""


class FileWriteError(Ezp2pError, OSError):
    """A file that cannot be written (a full disk, a read-only folder, a name too long):
    ``str()`` names the file and says why; ``errno`` and ``strerror`` are the system's."""

    def __str__(self) -> str:
        return f"cannot write {self.filename}: {self.strerror}"
