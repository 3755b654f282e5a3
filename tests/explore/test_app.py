"""The explore app driven headless (textual's pilot) with a null audio device: keys, and what they did."""

import asyncio
import io

from rich.console import Console

from clsm_cli.explore.app import ExploreApp, MIN_HEIGHT, MIN_WIDTH


def drive(app: ExploreApp, script, size=(110, 40)):
    """Run ``script(pilot, app)`` against the app in a headless terminal of ``size``."""
    async def main():
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            await script(pilot, app)

    asyncio.run(main())


def text_of(renderable) -> str:
    console = Console(width=60, file=io.StringIO(), record=True)
    console.print(renderable)
    return console.export_text()


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
        assert len(app.session.entries) == 9 and all(entry.decoded for entry in app.session.entries)  # the pool of 8
        side = text_of(app._list_table())
        assert f"j{app.session.entries[1].draw_index}" in side and f"{app.session.entries[1].score.total:.2f}" in side
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
        selected = app.current
        await press("r")                                          # 16: more pool members, ranked again
        assert app.session.pool == 12 and 9 <= len(app.session.entries) <= 13 and app.current is selected
        assert [entry.number for entry in app.session.entries] == list(range(len(app.session.entries)))
        assert "pool of 12" in status()
        await press("right", "right")                             # 17-18
        assert app.index == 2 and app.current.label == "candidate 2"
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
        await press("H", "enter")                                 # 27-28: a bad key: infill's sentence, panel stays
        assert "--key 'H' is not a key" in status() and not app.query_one("#panel").has_class("hidden")
        assert app.session.controls.key is None
        app.query_one("#control_key").value = "C"
        app.query_one("#control_range").value = "61-61"
        await press("enter")                                      # 29: a range with no note of C: infill's sentence
        assert "holds no note of C major" in status() and app.session.controls.key is None
        app.query_one("#control_range").value = "60-72"
        await press("enter")                                      # 30: applied: the pool drawn again under them
        assert app.query_one("#panel").has_class("hidden") and app.session.controls.key == "C" and app.index == 1
        assert "a pool of 8 drawn again" in status()
        new = [n for entry in app.session.candidates for n in entry.line
               if app.session.start <= n.start_step < app.session.end and n.pitch is not None]
        assert new and all(60 <= n.pitch <= 72 and n.pitch % 12 in (0, 2, 4, 5, 7, 9, 11) for n in new)
        await press("s", "escape")                                # 31-32
        assert app.query_one("#panel").has_class("hidden")
        await press("b", "5", "-", "6", "enter")                  # 33-37: other bars, the controls kept
        assert str(app.session.options.bars) == "bars 5-6" and app.index == 1 and app.session.controls.key == "C"
        await press("a")                                          # 38: accept
        assert "song.accepted-1.mid" in files(out) and app.session.prepared.path.name == "song.accepted-1.mid"
        await press("q")                                          # 39
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
