"""pydicom's bundled test files sent through ``ezp2p send`` to real peers."""
