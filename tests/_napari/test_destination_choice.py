"""The session's config and "Send" ticks, as every dock shows and changes them."""

from __future__ import annotations

from napari_ezp2p._napari.destination_choice import read_config, set_tick, ticked, write_config
from napari_ezp2p._napari.session import Session
from napari_ezp2p.config import Config, add_destination, load_config, remove_destination


def test_writing_the_config_tells_the_session_and_keeps_the_ticks_sendable(home):
    session = Session()
    seen = []
    session.events.config.connect(seen.append)
    config = add_destination(Config(), "A", "A@127.0.0.1:104", default=True)
    config = add_destination(config, "B", "B@127.0.0.1:105")
    write_config(session, config)
    assert load_config(home / "config.toml") == config
    assert seen == [config]
    assert ticked(session) == ("A",)  # none ticked: the default

    set_tick(session, "B", True)
    set_tick(session, "X@10.0.0.1:104", True)
    assert session.destinations == ("A", "B", "X@10.0.0.1:104")
    set_tick(session, "A", False)
    assert session.destinations == ("B", "X@10.0.0.1:104")

    write_config(session, remove_destination(config, "B"))
    assert session.destinations == ("X@10.0.0.1:104",)


def test_an_unreadable_file_is_told_and_the_last_config_kept(home):
    session = Session()
    write_config(session, add_destination(Config(), "A", "A@127.0.0.1:104"))
    (home / "config.toml").write_text("[destinations\n")
    assert read_config(session) is None
    assert "config.toml" in session.config_problem
    assert list(session.config.destinations) == ["A"]
