"""Tests of napari_ezp2p.jobs, headless (no Qt)."""
