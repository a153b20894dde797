"""Tests of napari_ezp2p.devpacs: the local PACS over real associations."""
