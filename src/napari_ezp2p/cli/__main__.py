"""``python -m napari_ezp2p.cli``: the ``ezp2p`` command."""

import sys

from . import main

sys.exit(main())
