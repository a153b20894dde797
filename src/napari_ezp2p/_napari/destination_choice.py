"""The destinations every dock of a session shows, and the ones the next send goes to.

The docks never keep a config of their own: :func:`read_config` and :func:`write_config`
put the user's config file, as last read or written, in ``session.config`` (and why it
cannot be read in ``session.config_problem``), so ``session.events.config`` tells every
dock at once. The "Send" ticks are ``session.destinations``; :func:`ticked` is what every
dock shows of them, the configured default when none is ticked, and :func:`set_tick` is
how every dock changes them.
"""

from __future__ import annotations

from ..config import Config, config_path, load_config, save_config
from ..core.errors import Ezp2pError
from ..jobs.destinations import still_sendable
from .session import Session


def read_config(session: Session) -> Config | None:
    """Read the config file again (the ``ezp2p`` command may have changed it) into
    ``session``; None when it cannot be read, the reason in ``session.config_problem``."""
    try:
        config = load_config(config_path())
    except Ezp2pError as error:
        session.config_problem = str(error)
        return None
    _adopt(session, config)
    return config


def write_config(session: Session, config: Config) -> None:
    """Save ``config`` to the config file and show it in every dock of ``session``.
    Raises :class:`~napari_ezp2p.core.errors.Ezp2pError` when it cannot be saved."""
    save_config(config, config_path())
    _adopt(session, config)


def _adopt(session: Session, config: Config) -> None:
    session.config_problem = ""
    session.config = config
    # Names no longer configured cannot be sent to; AET@host:port entries stay.
    kept = still_sendable(session.destinations, config)
    if kept != session.destinations:
        session.destinations = kept


def ticked(session: Session) -> tuple[str, ...]:
    """The destinations of the next send as every dock shows them: those ticked, else
    the configured default (a send with none ticked goes there)."""
    if session.destinations:
        return session.destinations
    default = session.config.default_destination
    return (default,) if default else ()


def set_tick(session: Session, name: str, on: bool) -> None:
    """Tick ``name`` for the next send, or untick it (unticking the last one leaves
    the default)."""
    chosen = [d for d in ticked(session) if d != name]
    if on:
        chosen.append(name)
    session.destinations = tuple(chosen)
