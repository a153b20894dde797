"""The ``ezp2p`` command: the same Python API as the napari widgets, headless.

Exit status: 0 when everything succeeded, 1 on any failure (with a message on
stderr), 2 for wrong usage.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence

from ..core.errors import Ezp2pError


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; the exit status is 0 only when everything succeeded."""
    from .parser import build_parser

    args = build_parser().parse_args(argv)
    # The command says what happened itself; the library's log lines would repeat it.
    logging.getLogger("napari_ezp2p").addHandler(logging.NullHandler())
    try:
        return args.run(args)
    except Ezp2pError as error:
        print(f"ezp2p: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # whoever read our output stopped (``ezp2p queue list | head``)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit
        return 1
