"""Who wrote the object: our Implementation Class UID, version name and UID maker."""

from pydicom.uid import UID, generate_uid

from .. import __version__

#: Chosen once for napari-ezp2p (a 2.25 UUID-derived UID); never changes.
IMPLEMENTATION_CLASS_UID = UID("2.25.243347591358469008660108205349650623379")
#: At most 16 characters, as the association and file meta information allow.
IMPLEMENTATION_VERSION_NAME = f"EZP2P_{__version__}"[:16]
MANUFACTURER = "napari-ezp2p"
SOFTWARE_VERSION = f"napari-ezp2p {__version__}"


def new_uid() -> UID:
    """A new globally unique UID under the 2.25 root."""
    return generate_uid(prefix=None)
