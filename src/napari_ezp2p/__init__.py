"""napari-ezp2p: print to PACS for napari."""

__version__ = "0.1.0"
