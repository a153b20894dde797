"""The one error of the local PACS."""

from __future__ import annotations

from ..core.errors import Ezp2pError


class ServerError(Ezp2pError, RuntimeError):
    """The local PACS cannot start: port taken, storage or worklist unusable."""
