"""The ``clsm explore`` screen (textual): thin over :class:`ExploreSession` and a :class:`Player`.

The app holds only what is on screen (the selected candidate, the grid position, the panels open)
and turns keys into session calls; every musical decision is the session's. A ClsmError from the
session (a file that exists, bars past the end, a bad control value) is shown as its sentence in
the status line, as the commands print it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from rich.table import Table
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Checkbox, Input, Static

from clsm_cli.errors import ClsmError
from clsm_cli.explore.controls import EditControls
from clsm_cli.explore.playback import Player
from clsm_cli.explore.session import GRID_SIZE, MORE_DRAWS, Entry, ExploreSession
from clsm_cli.music.bars import BarRange
from clsm_cli.render.pianoroll import PianoRoll

MIN_WIDTH, MIN_HEIGHT = 60, 20  # below this the app shows a message instead of the roll

HELP_TEXT = """\
[b]clsm explore[/b]: hear candidates for the target bars in context, keep them, walk between them

  ←/→     previous / next candidate (in the grid: move left / right; ↑/↓ up / down)
  space   play or stop the passage: a bar of context either side, the other tracks under it
  r       draw more candidates into the pool and rank it again (the selection stays)
  k       keep: write the selected candidate (or grid cell) into --out, with its provenance
  a       accept: write the song with it as …accepted-<n>.mid and go on editing that song
  b       choose other bars
  g       a grid between the selected candidate and the next three, in the latent space
  s       controls: key, range, keep rhythm, max leap, density, pool
  q       quit            ?  this help (any key closes it)
"""


class ExploreApp(App):
    """Candidates, the piano roll, play, keep, accept, the grid and the controls."""

    AUTO_FOCUS = None  # keys go to the app until a panel's field is focused on purpose
    CSS = """
    #main { height: 1fr; }
    #roll { height: auto; padding: 0 1; }
    #side { width: 34; padding: 0 1; border-left: solid $primary-darken-2; }
    #status { height: auto; dock: bottom; padding: 0 1; background: $panel; }
    #help, #small { padding: 1 2; }
    #panel { height: auto; padding: 0 1; border: round $primary; }
    #panel Input { width: 24; }
    #bars_prompt { dock: bottom; }
    .hidden { display: none; }
    """

    BINDINGS = [
        Binding("left", "move(-1, 0)", "previous", show=False),
        Binding("right", "move(1, 0)", "next", show=False),
        Binding("up", "move(0, -1)", "up", show=False),
        Binding("down", "move(0, 1)", "down", show=False),
        Binding("space", "play", "play/stop", show=False),
        Binding("r", "more", "more", show=False),
        Binding("k", "keep", "keep", show=False),
        Binding("a", "accept", "accept", show=False),
        Binding("b", "bars", "bars", show=False),
        Binding("g", "grid", "grid", show=False),
        Binding("s", "controls", "controls", show=False),
        Binding("q", "quit_app", "quit", show=False),
        Binding("question_mark", "help", "help", show=False),
        Binding("escape", "close_panels", "close", show=False),
    ]

    def __init__(self, session: ExploreSession, player: Player, notices: tuple[str, ...] = ()):
        super().__init__()
        self.session = session
        self.player = player
        self.index = 1 if len(session.entries) > 1 else 0  # the first candidate, the original before it
        self.grid_position: Optional[tuple[int, int]] = None  # (x, y) while the grid is open
        self.kept: list[Path] = []
        self.message = " ".join(notices)
        self.too_small = False

    # --- layout --------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static("", id="small", classes="hidden")
        with Horizontal(id="main"):
            with Vertical():
                yield Static("", id="title")
                yield Static("", id="roll")
                with Vertical(id="panel", classes="hidden"):
                    yield Static("controls (Enter applies and draws again, Esc closes)")
                    for name, hint in (("key", "auto, C, Am, F#m"), ("range", "60-79 or any"), ("max_leap", "semitones"),
                                       ("density", "notes per bar, 2-8"), ("pool", "candidates drawn")):
                        yield Input(placeholder=f"{name.replace('_', ' ')}: {hint}", id=f"control_{name}")
                    yield Checkbox("keep rhythm", id="control_keep_rhythm")
            yield Static("", id="side")
        yield Static(HELP_TEXT, id="help", classes="hidden")
        yield Input(placeholder="bars to edit, e.g. 5-6 (Enter to go, Esc to cancel)", id="bars_prompt", classes="hidden")
        yield Static("", id="status")

    def on_mount(self) -> None:
        self._check_size(self.size.width, self.size.height)
        self._attempt(lambda: self.session.decode(self.current))  # the first candidate, shown at once
        self.set_interval(0.25, self._refresh_status)
        self.refresh_view()

    def on_resize(self, event) -> None:
        self._check_size(event.size.width, event.size.height)

    def _check_size(self, width: int, height: int) -> None:
        self.too_small = width < MIN_WIDTH or height < MIN_HEIGHT
        small = self.query_one("#small", Static)
        small.update(f"The terminal is {width}×{height}; clsm explore needs at least {MIN_WIDTH}×{MIN_HEIGHT}. "
                     "Make the window larger, or press q to quit.")
        small.set_class(not self.too_small, "hidden")
        self.query_one("#main").set_class(self.too_small, "hidden")

    # --- state -----------------------------------------------------------------------------------

    @property
    def current(self) -> Entry:
        if self.grid_position is not None:
            return self.session.cell(*self.grid_position)
        return self.session.entries[self.index]

    @property
    def playing(self) -> bool:
        return self.player.playing

    def _attempt(self, action) -> bool:
        """Run a session call; a ClsmError becomes the status line's sentence."""
        try:
            action()
            return True
        except ClsmError as error:
            self.message = error.message
            return False
        finally:
            self.refresh_view()

    def _overlay_open(self) -> bool:
        return any(not self.query_one(f"#{name}").has_class("hidden") for name in ("help", "panel", "bars_prompt"))

    # --- actions ---------------------------------------------------------------------------------

    def action_move(self, dx: int, dy: int) -> None:
        if self._overlay_open():
            return
        if self.grid_position is not None:
            x, y = self.grid_position
            self.grid_position = (min(GRID_SIZE, max(1, x + dx)), min(GRID_SIZE, max(1, y + dy)))
            self._select_changed()
        elif dx:
            self.index = min(len(self.session.entries) - 1, max(0, self.index + dx))
            self._select_changed()

    def _select_changed(self) -> None:
        """A new selection: decoded now (the cold path) and played at once if something was playing."""
        was_playing = self.playing
        self.message = ""
        self._attempt(lambda: self.session.decode(self.current))
        if was_playing:
            self._play()

    def action_play(self) -> None:
        if self._overlay_open():
            return
        if self.playing:
            self.player.stop()
        else:
            self._play()
        self.refresh_view()

    def _play(self) -> None:
        self._attempt(lambda: self.player.play(self.session.passage(self.current)))

    def action_more(self) -> None:
        if not self._overlay_open():
            self._attempt(self._draw_more)

    def _draw_more(self) -> None:
        """`r`: the next pool members, the list ranked again; the selected entry stays selected."""
        selected = self.session.entries[self.index]
        added = self.session.draw_more(self.session.controls.pool or MORE_DRAWS)
        self.index = next(position for position, entry in enumerate(self.session.entries) if entry is selected)
        ranks = ", ".join(str(entry.number) for entry in added)
        self.message = (f"pool of {self.session.pool}: {len(added)} new in the list (now {ranks})" if added
                        else f"pool of {self.session.pool}: no new music among the draws")

    def action_keep(self) -> None:
        if self._overlay_open():
            return

        def keep() -> None:
            path = self.session.keep(self.current)
            self.kept.append(path)
            self.message = f"kept {path.name}"

        self._attempt(keep)

    def action_accept(self) -> None:
        if self._overlay_open():
            return

        def accept() -> None:
            label = self.current.label
            self.player.stop()
            self.session = self.session.accept(self.current)
            self.kept.append(self.session.prepared.path)
            self.index, self.grid_position = 1, None
            self.message = f"accepted {label}: now editing {self.session.prepared.path.name}"

        self._attempt(accept)

    def action_bars(self) -> None:
        if not self._overlay_open():
            prompt = self.query_one("#bars_prompt", Input)
            prompt.remove_class("hidden")
            prompt.value = ""
            prompt.focus()

    def action_grid(self) -> None:
        if self._overlay_open():
            return
        if self.grid_position is not None:
            self.grid_position = None
            self.message = "grid closed"
            self.refresh_view()
            return
        candidates = self.session.candidates
        start = max(0, self.index - 1) if self.session.entries[self.index].number > 0 else 0
        corners = (candidates[start:] + candidates[:start])[:4]
        if len(corners) < 4:
            pool = self.session.pool
            if self._attempt(lambda: self.session.draw_more(4 - len(corners))) and self.session.pool > pool \
                    and len(self.session.candidates) > len(candidates):
                return self.action_grid()
            self.message = self.message or "the grid needs four candidates; the pool has fewer"
            return

        def open_grid() -> None:
            self.session.open_grid(corners)
            self.grid_position = (1, 1)
            self.message = "grid: " + ", ".join(entry.label for entry in corners) + " at its corners"

        self._attempt(open_grid)

    def action_controls(self) -> None:
        if not self._overlay_open():
            panel = self.query_one("#panel")
            panel.remove_class("hidden")
            self.query_one("#control_key", Input).focus()

    def action_help(self) -> None:
        self.query_one("#help").toggle_class("hidden")

    def action_close_panels(self) -> None:
        for name in ("help", "panel", "bars_prompt"):
            self.query_one(f"#{name}").add_class("hidden")
        self.set_focus(None)

    def action_quit_app(self) -> None:
        if self.query_one("#bars_prompt").has_class("hidden") and self.query_one("#panel").has_class("hidden"):
            self.player.close()
            self.exit(self.kept)

    def on_key(self, event) -> None:
        help_panel = self.query_one("#help")
        if not help_panel.has_class("hidden") and event.key != "question_mark":
            help_panel.add_class("hidden")
            event.stop()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "bars_prompt":
            def choose() -> None:
                bars = BarRange.parse(event.value.strip())
                self.player.stop()
                self.session = self.session.with_bars(bars)
                self.index, self.grid_position = 1, None
                self.message = f"now editing {bars}"

            if self._attempt(choose):
                self.action_close_panels()
            return
        values = {name: self.query_one(f"#control_{name}", Input).value
                  for name in ("key", "range", "max_leap", "density", "pool")}
        values["keep_rhythm"] = self.query_one("#control_keep_rhythm", Checkbox).value

        def apply() -> None:
            controls = EditControls.from_text(values)
            self.session = self.session.with_controls(controls)
            self.index, self.grid_position = 1, None
            self.message = f"controls: {controls.describe()}; a pool of {self.session.pool} drawn again under them"

        if self._attempt(apply):
            self.action_close_panels()

    # --- drawing ---------------------------------------------------------------------------------

    def refresh_view(self) -> None:
        session = self.session
        entry = self.current
        title = (f"[b]{session.prepared.path.name}[/b]  {session.options.bars}  track {session.prepared.track_label}  "
                 f"model {session.model.name}  seed {session.options.seed}")
        self.query_one("#title", Static).update(title)
        rows = [(bar.number, bar.first_step, bar.steps)
                for bar in session.prepared.bars[session.shown_bars.first - 1 : session.shown_bars.last]]
        if entry.decoded:
            roll = PianoRoll(session.track_notes(entry), rows, highlighted_bars=session.options.bars.numbers,
                             dim_other_bars=True, title=entry.label, max_width=max(20, self.size.width - 40))
        else:
            roll = Text(f"{entry.label}: not decoded yet")
        self.query_one("#roll", Static).update(roll)
        self.query_one("#side", Static).update(self._grid_table() if self.grid_position else self._list_table())
        self._refresh_status()

    def _list_table(self) -> Table:
        table = Table(box=None, show_header=True, pad_edge=False, expand=True)
        table.add_column("", width=1)
        table.add_column("version")
        table.add_column("draw", justify="right")
        table.add_column("fit", justify="right")
        kept_names = {path.name for path in self.kept}
        for position, entry in enumerate(self.session.entries):
            score = "" if entry.score is None else f"{entry.score.total:.2f}"
            drawn = f"j{entry.draw_index}" if entry.draw_index else ""
            kept = " ✓" if entry.number and self.session.kept_path(entry).name in kept_names else ""
            style = "reverse" if position == self.index else ""
            table.add_row("▶" if position == self.index else "", Text(entry.label + kept, style=style), drawn, score)
        selected = self.session.entries[self.index]
        if selected.score is not None:  # the fit score's parts (editing/ranking.py), as infill --json gives them
            table.add_section()
            for name, value in selected.score.to_json().items():
                if name != "total" and value:
                    table.add_row("", Text(name.replace("_", " "), style="dim"), "", Text(f"{value:+.2f}", style="dim"))
        return table

    def _grid_table(self) -> Table:
        table = Table(box=None, show_header=False, pad_edge=False)
        for _ in range(GRID_SIZE):
            table.add_column(justify="center")
        grid = self.session.grid
        for y in range(1, GRID_SIZE + 1):
            cells = []
            for x in range(1, GRID_SIZE + 1):
                entry = grid.cells.get((x, y))
                mark = "●" if entry is not None and entry.decoded else "·"
                cells.append(Text(f"[{mark}]" if (x, y) == self.grid_position else f" {mark} ",
                                  style="reverse" if (x, y) == self.grid_position else ""))
            table.add_row(*cells)
        corners = ", ".join(entry.label for entry in grid.corners)
        table.add_row(Text(f"corners: {corners}", style="dim"), *[""] * (GRID_SIZE - 1))
        return table

    def _refresh_status(self) -> None:
        state = "▶ playing" if self.playing else "■ stopped"
        renderer = self.player.renderer.name
        line = f"{state}  {self.current.label}  ({renderer}, {self.player.device.name})   ? help  q quit"
        self.query_one("#status", Static).update(line + (f"\n{self.message}" if self.message else ""))
