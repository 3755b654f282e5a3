"""The explore app driven headless (textual's pilot) with a null audio device: keys, and what they did."""

import asyncio

from clsm_cli.explore.app import ExploreApp, MIN_HEIGHT, MIN_WIDTH


def drive(app: ExploreApp, script, size=(110, 40)):
    """Run ``script(pilot, app)`` against the app in a headless terminal of ``size``."""
    async def main():
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            await script(pilot, app)

    asyncio.run(main())


def files(folder):
    return sorted(path.name for path in folder.glob("*.mid")) if folder.exists() else []


def test_twenty_five_keypresses_each_doing_what_it_says(make_session, null_player, tmp_path):
    out = tmp_path / "out"
    device = null_player.device
    app = ExploreApp(make_session(seed=5), null_player, notices=("a notice said once",))

    async def script(pilot, app):
        async def press(*keys):
            await pilot.press(*keys)
            await pilot.pause()

        status = lambda: str(app.query_one("#status").render())  # noqa: E731
        assert app.index == 1 and not app.playing and files(out) == [] and "a notice said once" in status()
        await press("right")                                      # 1
        assert app.index == 2 and app.current.decoded and not app.playing
        await press("right")                                      # 2
        assert app.index == 3 and app.current.label == "candidate 3"
        await press("left")                                       # 3
        assert app.index == 2
        await press("space")                                      # 4: play
        assert app.playing and len(device.blocks) == 1 and device.blocks[0].any()
        await press("space")                                      # 5: stop
        assert not app.playing
        await press("space")                                      # 6
        first_stream = device.stream
        await press("right")                                      # 7: moving while playing plays the new one
        assert app.index == 3 and app.playing and device.stream is not first_stream
        await press("space")                                      # 8
        assert not app.playing
        await press("k")                                          # 9: keep
        assert files(out) == ["song.explore-bars3-4-s5-3.mid"] and "kept song.explore-bars3-4-s5-3.mid" in status()
        await press("k")                                          # 10: kept already: a sentence, nothing written
        assert "already exists" in status() and len(files(out)) == 1
        await press("left", "left", "left")                       # 11-13
        assert app.index == 0 and app.current.label == "original"
        await press("left")                                       # 14: stays on the first
        assert app.index == 0
        await press("k")                                          # 15
        assert "already in the song" in status() and len(files(out)) == 1
        await press("r")                                          # 16: more candidates
        assert len(app.session.entries) == 9 and app.session.entries[-1].label == "candidate 8"
        await press("right", "right")                             # 17-18
        assert app.index == 2
        await press("g")                                          # 19: the grid from candidate 2
        assert app.grid_position == (1, 1) and app.session.grid.corners[0].label == "candidate 2"
        await press("right")                                      # 20
        assert app.grid_position == (2, 1) and app.current.decoded
        await press("down")                                       # 21
        assert app.grid_position == (2, 2)
        await press("k")                                          # 22
        assert "song.explore-bars3-4-s5-grid-2-2.mid" in files(out)
        await press("g")                                          # 23: grid closed, back to the list
        assert app.grid_position is None and app.index == 2
        await press("question_mark")                              # 24: help
        assert not app.query_one("#help").has_class("hidden")
        await press("x")                                          # 25: any key closes it
        assert app.query_one("#help").has_class("hidden") and app.index == 2
        await press("s")                                          # 26: the controls panel
        assert not app.query_one("#panel").has_class("hidden")
        await press("H", "enter")                                 # 27-28: a bad key: a sentence, panel stays
        assert "key must be" in status() and not app.query_one("#panel").has_class("hidden")
        await press("escape")                                     # 29
        assert app.query_one("#panel").has_class("hidden")
        await press("b", "5", "-", "6", "enter")                  # 30-34: other bars
        assert str(app.session.options.bars) == "bars 5-6" and app.index == 1
        await press("a")                                          # 35: accept
        assert "song.accepted-1.mid" in files(out) and app.session.prepared.path.name == "song.accepted-1.mid"
        await press("q")                                          # 36
        assert app.return_value == [out / "song.explore-bars3-4-s5-3.mid", out / "song.explore-bars3-4-s5-grid-2-2.mid",
                                    out / "song.accepted-1.mid"]

    drive(app, script)


def test_a_terminal_too_small_gets_a_message_inside_the_app(make_session, null_player):
    app = ExploreApp(make_session(), null_player)

    async def script(pilot, app):
        small = app.query_one("#small")
        assert not small.has_class("hidden") and app.query_one("#main").has_class("hidden")
        assert f"at least {MIN_WIDTH}×{MIN_HEIGHT}" in str(small.render())
        await pilot.press("q")

    drive(app, script, size=(40, 12))
