"""The one Python API under every face: the CLI, the docks and the layer menu call these."""
