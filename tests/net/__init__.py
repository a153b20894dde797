"""Tests of napari_ezp2p.net against real peers."""
