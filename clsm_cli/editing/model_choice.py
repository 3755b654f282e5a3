"""Which installed model edits a target: one whose meters include the meter group of its bars.

The rule, which ``clsm show`` reports and the editing commands follow:

* The target bars' meter group decides (4/4 and 2/2 are one group; ``--meter`` recounts the bars
  first). Target bars in two groups are refused (exit 3): one model reads one grid.
* Among the installed CLSMs (shipped ones in ``weights/``, user-trained ones in the models folder)
  whose meters include that group, the shipped ones come first, the default model first among
  them; then by name (user models after shipped ones, each by name). Choosing reads config.json
  files only; the chosen model's weights load when a file first needs it, once per command.
* No installed model knows the group: exit 3 (bad input, as any unsupported meter is), in one
  sentence naming the meters the installed models know.
* ``--model`` forces a model (loaded before any file is read); target bars in a meter it does not
  know are refused, exit 3 again, naming the models that fit.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Callable, ContextManager, Optional, Sequence

from clsm_cli import checkpoint
from clsm_cli.checkpoint import InstalledModel
from clsm_cli.editing.options import EditOptions, FileResult, command_decoding, reproduce_command
from clsm_cli.editing.prepare import open_song
from clsm_cli.engine.load import LoadedEngine, load_engine
from clsm_cli.sampling import Decoding
from clsm_cli.errors import ClsmError, InputFileError, ModelError
from clsm_cli.music.bars import Bar, BarRange
from clsm_cli.timebase import Meter, meters_text

Chosen = tuple[LoadedEngine, Decoding]


def installed_editors(models: Optional[Sequence[InstalledModel]] = None) -> list[InstalledModel]:
    """The installed CLSMs whose config reads, in the order of preference (config.json files only)."""
    if models is None:
        models = checkpoint.list_installed_models(read_weights=False)
    editors = [model for model in models if model.problem is None and model.kind == "clsm"]
    return sorted(editors, key=_preference)


def _preference(model: InstalledModel) -> tuple:
    return (model.source != "shipped", model.name != checkpoint.DEFAULT_MODEL_NAME, model.name, str(model.directory))


def model_meters(config) -> tuple[Meter, ...]:
    return tuple(Meter(*meter) for meter in config.meters)


def model_groups(config) -> frozenset[Meter]:
    return frozenset(meter.group for meter in model_meters(config))


def known_meters(models: Sequence[InstalledModel]) -> list[Meter]:
    """Every meter some installed model knows, each once, by group (4/4 before 2/2)."""
    meters = {meter for model in models for meter in model_meters(model.config)}
    return sorted(meters, key=lambda meter: (meter.group, meter != meter.group, meter))


def fitting_models(models: Sequence[InstalledModel], group: Meter) -> list[InstalledModel]:
    """The models (in the order given) whose meters include ``group``."""
    return [model for model in models if group in model_groups(model.config)]


def target_meters(bars: Sequence[Bar], target: BarRange) -> list[Meter]:
    """The meters of the target bars, each once, in order."""
    return list(dict.fromkeys(bar.time_signature for bar in bars[target.first - 1 : target.last]))


def target_group(bars: Sequence[Bar], target: BarRange, file_name: str) -> Meter:
    """The meter group of the target bars; InputFileError (exit 3) when they mix two groups."""
    meters = target_meters(bars, target)
    groups = list(dict.fromkeys(meter.group for meter in meters))
    if len(groups) > 1:
        raise InputFileError(
            f"{target} of {file_name} mix {meters_text(meters)} bars, which no one model reads; "
            "choose bars in one meter"
        )
    return groups[0]


def _target_text(bars: Sequence[Bar], target: BarRange, file_name: str) -> str:
    """``"jig.mid is in 6/8"`` (one meter throughout) or ``"bars 3-4 of jig.mid are in 6/8"``."""
    meters = target_meters(bars, target)
    if all(bar.time_signature in meters for bar in bars) and len(meters) == 1:
        return f"{file_name} is in {meters[0]}"
    return f"{target} of {file_name} {'is' if target.count == 1 else 'are'} in {meters_text(meters)}"


def song_group(bars: Sequence[Bar]) -> Meter:
    """The meter group most of the song's bars are in (the first of equals, in bar order)."""
    counts = Counter(bar.time_signature.group for bar in bars)
    return max(counts, key=counts.__getitem__)


def no_model_sentence(what: str, group: Meter, models: Sequence[InstalledModel], bars: Sequence[Bar] = ()) -> str:
    """``"<what>, which no installed model knows (they know 4/4 and 2/2); train one ..."``.

    A song mostly in bars shorter than a 4/4 bar that divide it (1/4, or 2/4 with no 2/4 model)
    is most often 4/4 music labelled so (POP909 files are): the sentence suggests ``--meter 4/4``.
    """
    four_four = Meter(4, 4)
    next_step = f"train one with clsm train clsm --meter {group}"
    short = group.steps_per_bar < four_four.steps_per_bar and four_four.steps_per_bar % group.steps_per_bar == 0
    if short and bars and song_group(bars) == group:
        next_step = f"if the music is in 4/4 and only labelled {group}, add --meter 4/4; else {next_step}"
    return f"{what}, which no installed model knows (they know {meters_text(known_meters(models))}); {next_step}"


def choose_model(bars: Sequence[Bar], target: BarRange, file_name: str,
                 models: Sequence[InstalledModel]) -> InstalledModel:
    """The model that edits ``target`` (``models`` in the order of preference, non-empty)."""
    group = target_group(bars, target, file_name)
    fitting = fitting_models(models, group)
    if not fitting:
        raise InputFileError(no_model_sentence(_target_text(bars, target, file_name), group, models, bars))
    return fitting[0]


def check_forced_model(bars: Sequence[Bar], target: BarRange, file_name: str, model_name: str, config,
                       installed: Callable[[], Sequence[InstalledModel]]) -> None:
    """InputFileError (exit 3) naming the models that fit when ``--model`` does not know the target's meter."""
    group = target_group(bars, target, file_name)
    if group in model_groups(config):
        return
    fitting = [model.name for model in fitting_models(installed(), group)]
    hint = (f"use --model {' or '.join(fitting)}, or leave --model out" if fitting
            else f"no installed model knows {group}")
    raise InputFileError(
        f"{_target_text(bars, target, file_name)}, but the model {model_name} only knows "
        f"{meters_text(model_meters(config))}; {hint}"
    )


def no_models_installed() -> ModelError:
    return ModelError(
        "no models are installed; train one with clsm train clsm --data DIR --out NAME, "
        "or reinstall clsm to get the shipped model"
    )


def editor_line(bars: Sequence[Bar], shown: BarRange, file_name: str,
                models: Optional[Sequence[InstalledModel]] = None) -> str:
    """What ``clsm show`` says about the model that would edit the ``shown`` bars (their most
    common meter group decides, the first on a tie)."""
    models = installed_editors(models)
    if not models:
        return "model: none is installed"
    group = song_group(bars[shown.first - 1 : shown.last])
    fitting = fitting_models(models, group)
    if not fitting:
        return "model: " + no_model_sentence(f"{shown} of {file_name} {'is' if shown.count == 1 else 'are'} in {group}",
                                             group, models, bars)
    chosen = fitting[0]
    return f"model: {chosen.name} would edit {shown} ({group}; it knows {meters_text(model_meters(chosen.config))})"


class EditModels:
    """The models of one editing command: forced by ``--model`` (loaded at once, so a broken model
    fails before any file), or chosen per file and each loaded the first time a file needs it.

    ``loading()`` wraps each load (a spinner); ``announce(model, decoding)`` is told of each model
    loaded. The decoding is the command's, resolved against each model once.
    """

    def __init__(self, model_arg: Optional[str], engine: str, device: str, temperature: Optional[float],
                 top_p: Optional[float], loading: Callable[[], ContextManager],
                 announce: Callable[[LoadedEngine, Decoding], None]):
        self._engine, self._device = engine, device
        self._temperature, self._top_p = temperature, top_p
        self._loading, self._announce = loading, announce
        self._loaded: dict[str, Chosen] = {}
        self._installed: Optional[list[InstalledModel]] = None
        self.forced: Optional[Chosen] = self._load(model_arg) if model_arg is not None else None

    def installed(self) -> list[InstalledModel]:
        if self._installed is None:
            self._installed = installed_editors()
        return self._installed

    def for_file(self, path: Path, options: EditOptions) -> Chosen:
        """The model and decoding that edit ``options.bars`` of ``path``; ClsmError when none can."""
        opened = open_song(path, options.bars, options.meter)
        if self.forced is not None:
            model = self.forced[0]
            check_forced_model(opened.bars, options.bars, opened.path.name, model.name, model.config, self.installed)
            return self.forced
        if not self.installed():
            raise no_models_installed()
        chosen = choose_model(opened.bars, options.bars, opened.path.name, self.installed())
        return self._load(str(chosen.directory.resolve()))

    def _load(self, name_or_path: str) -> Chosen:
        if name_or_path not in self._loaded:
            with self._loading():
                model = load_engine(name_or_path, self._engine, self._device)
            chosen = (model, command_decoding(model.config, self._temperature, self._top_p))
            self._loaded[name_or_path] = chosen
            self._announce(*chosen)
        return self._loaded[name_or_path]


def refused_result(path: Path, options: EditOptions, error: ClsmError, forced: Optional[Chosen]) -> FileResult:
    """The result of a file no model could edit (nothing was written)."""
    model, decoding = forced if forced is not None else (None, Decoding(
        0.0 if options.temperature is None else float(options.temperature),
        1.0 if options.top_p is None else float(options.top_p)))
    return FileResult(
        input=Path(path), verb=options.verb, seed=options.seed, model=model.name if model else "",
        model_sha256=model.sha256 if model else "", bars=options.bars, decoding=decoding,
        reproduce=reproduce_command(options, Path(path)), error=error,
    )
