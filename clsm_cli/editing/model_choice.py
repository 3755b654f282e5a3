"""Which installed model edits a target: among those that know its meter, the one it fits best.

The rule, which ``clsm show`` reports and the editing commands follow:

* The target bars' meter group decides which models are eligible (4/4 and 2/2 are one group;
  ``--meter`` recounts the bars first). Target bars in two groups are refused (exit 3): one model
  reads one grid.
* One eligible installed CLSM (shipped ones in ``weights/``, user-trained ones in the models
  folder): it edits. Several: each is loaded and the one under which the song fits best edits:
  the lowest teacher-forced negative log-likelihood per token of the original target bars (or,
  when they are silent, the nearest bars of the same length where the melody plays), with z the
  prior's mean given the context (:func:`fit_per_token`, through the engine protocol). Equal
  figures go to the earlier model in the order of preference (shipped first, the default model
  first, then by name). The figures go into ``--json`` (``model_choice``) and ``clsm show``.
* ``interpolate`` continuing a run and ``vary --around`` keep the model their file was made with
  (its provenance), when it is installed and knows the meter.
* A file labelled 2/4 or 1/4 whose bars read as 4/4 fit a 4/4 model better by at least
  ``METER_HINT_NATS`` per token than the labelled meter's model gets the ``--meter 4/4`` hint; the
  edit still follows the label.
* No installed model knows the group: exit 3 (bad input, as any unsupported meter is), in one
  sentence naming the meters the installed models know.
* ``--model`` forces a model (loaded before any file is read); target bars in a meter it does not
  know are refused, exit 3 again, naming the models that fit.
"""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, ContextManager, Optional, Sequence

from clsm_cli import checkpoint
from clsm_cli.checkpoint import InstalledModel
from clsm_cli.editing.options import EditOptions, FileResult, command_decoding, reproduce_command
from clsm_cli.constants import MAX_TARGET_BARS
from clsm_cli.editing.prepare import OpenedSong, PreparedSong, open_song, prepare_song
from clsm_cli.editing.provenance import parse_provenance
from clsm_cli.editing.window import centred_window
from clsm_cli.music.midi_read import read_text_events
from clsm_cli.engine.load import LoadedEngine, choose_engine, load_engine
from clsm_cli.sampling import Decoding
from clsm_cli.errors import ClsmError, InputFileError, ModelError
from clsm_cli.music.bars import Bar, BarRange
from clsm_cli.timebase import Meter, meters_text

import numpy as np

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


# --- the fit -------------------------------------------------------------------------------------

METER_HINT_NATS = 0.3  # a 4/4 reading must fit better by this much per token to suggest --meter 4/4
SHORT_LABELS = (Meter(1, 4), Meter(2, 4))  # labels POP909-like files give 4/4 music


@dataclass(frozen=True)
class ModelFit:
    """How well one model predicts a song's bars: mean negative log-likelihood per token (nats)."""

    model: str
    nll_per_token: float
    bars: BarRange  # the bars measured: the target, or the nearest bars where the melody plays


@dataclass(frozen=True)
class ModelChoice:
    """Which model edits a file's target, by which rule, and the figures it was chosen by."""

    model: str
    rule: str  # "fit" (several eligible), "only" (one eligible), "forced" (--model), "run" (the run's model)
    fits: tuple[ModelFit, ...] = ()
    hint: Optional[str] = None  # the --meter 4/4 hint, when the music contradicts its label

    def to_json(self) -> dict:
        return {
            "model": self.model,
            "rule": self.rule,
            "fits": [{"model": fit.model, "nll_per_token": round(fit.nll_per_token, 4),
                      "bars": [fit.bars.first, fit.bars.last]} for fit in self.fits],
            "meter_hint": self.hint,
        }

    def lines(self, target: BarRange) -> list[str]:
        """What ``clsm show`` prints: the choice and why, each eligible model's figure, the hint."""
        why = {"fit": f"it fits best of {len(self.fits)}: the lowest negative log-likelihood per token",
               "only": "the only installed model that knows this meter",
               "forced": "--model", "run": "the model of the run continued"}[self.rule]
        lines = [f"model: {self.model} would edit {target} ({why})"]
        lines += [f"  {fit.model}: {fit.nll_per_token:.3f} nats per token on {fit.bars}" for fit in self.fits]
        return lines + ([f"  hint: {self.hint}"] if self.hint else [])


def measured_bars(prepared: PreparedSong, target: BarRange) -> BarRange:
    """The target when the melody plays in it, else the nearest bars of its length where it does
    (earlier first on a tie), else the target."""
    def plays(bars: BarRange) -> bool:
        start, end = prepared.target_steps(bars)
        return any(note.start_step < end and note.end_step > start for note in prepared.line)

    if plays(target):
        return target
    last_first = len(prepared.bars) - target.count + 1
    for distance in range(1, len(prepared.bars)):
        for first in (target.first - distance, target.first + distance):
            if 1 <= first <= last_first and plays(BarRange(first, first + target.count - 1)):
                return BarRange(first, first + target.count - 1)
    return target


def fit_per_token(loaded: LoadedEngine, prepared: PreparedSong, bars: BarRange) -> float:
    """Teacher-forced NLL per token of ``bars`` (at most the model's longest target: the first
    chunk) under ``loaded``, in the window the edit would use."""
    window = centred_window(prepared, prepared.line, bars.chunks(MAX_TARGET_BARS)[0], loaded.config)
    return window_nll_per_token(loaded.engine, window.tokens, window.target)


def window_nll_per_token(engine, tokens: np.ndarray, target) -> float:
    """Mean negative log-likelihood (nats) of a window's own target tokens, teacher forced, with z
    the prior's mean given the context (mapped back through the flow): (window_steps,) -> float."""
    prior = engine.prior(tokens, target)
    z = engine.flow_inverse(np.asarray(prior.mean, dtype=np.float32)[None, :])  # (1, z_dim)
    logits = np.asarray(engine.teacher_forced_logits(tokens, target, z)[0], dtype=np.float64)  # (L, C)
    expected = np.asarray(tokens[target.start : target.end], dtype=np.int64)  # (L,)
    top = logits.max(axis=1, keepdims=True)
    log_norm = top[:, 0] + np.log(np.exp(logits - top).sum(axis=1))  # (L,)
    return float(np.mean(log_norm - logits[np.arange(len(expected)), expected]))


def rank_by_fit(candidates: Sequence[LoadedEngine], prepared: PreparedSong, target: BarRange) -> list[ModelFit]:
    """Each candidate's figure on the same bars, in the order given (the order of preference)."""
    bars = measured_bars(prepared, target)
    return [ModelFit(loaded.name, fit_per_token(loaded, prepared, bars), bars) for loaded in candidates]


def best_fit(fits: Sequence[ModelFit]) -> ModelFit:
    """The lowest figure; the earlier model on a tie."""
    return min(fits, key=lambda fit: fit.nll_per_token)


def four_four_target(bars: Sequence[Bar], four_four_bars: Sequence[Bar], target: BarRange) -> BarRange:
    """The 4/4 bars (of the song recounted with --meter 4/4) that cover ``target``'s ticks, at most 4."""
    start, end = target.tick_span(bars)
    first = next((bar.number for bar in four_four_bars if bar.end_tick > start), len(four_four_bars))
    last = max(first, next((bar.number for bar in four_four_bars if bar.end_tick >= end), len(four_four_bars)))
    return BarRange(first, min(last, first + MAX_TARGET_BARS - 1))


class EditModels:
    """The models of one editing command: forced by ``--model`` (loaded at once, so a broken model
    fails before any file), kept from the run an ``interpolate`` or ``vary --around`` continues, or
    chosen per file by fit. Each model loads once; ``announce`` is told of each model that edits.

    ``loading()`` wraps each load (a spinner). The decoding is the command's, resolved against
    each model once. ``choices`` holds each file's :class:`ModelChoice`.
    """

    def __init__(self, model_arg: Optional[str], engine: str, device: str, temperature: Optional[float],
                 top_p: Optional[float], loading: Callable[[], ContextManager],
                 announce: Callable[[LoadedEngine, Decoding], None],
                 installed: Optional[Sequence[InstalledModel]] = None):
        self._engine, self._device = engine, device
        self._temperature, self._top_p = temperature, top_p
        self._loading, self._announce = loading, announce
        self._loaded: dict[str, LoadedEngine] = {}
        self._announced: set[str] = set()
        self._installed: Optional[list[InstalledModel]] = None if installed is None else installed_editors(installed)
        self.choices: dict[Path, ModelChoice] = {}
        self.forced: Optional[Chosen] = self._use(self._load(model_arg)) if model_arg is not None else None

    def installed(self) -> list[InstalledModel]:
        if self._installed is None:
            self._installed = installed_editors()
        return self._installed

    def for_file(self, path: Path, options: EditOptions) -> Chosen:
        """The model and decoding that edit ``options.bars`` of ``path``; ClsmError when none can."""
        opened = open_song(path, options.bars, options.meter, options.phase)
        name = opened.path.name
        if self.forced is not None:
            model = self.forced[0]
            check_forced_model(opened.bars, options.bars, name, model.name, model.config, self.installed)
            self.choices[Path(path)] = ModelChoice(model.name, "forced")
            return self.forced
        if not self.installed():
            raise no_models_installed()
        choose_model(opened.bars, options.bars, name, self.installed())  # exit 3 when no model knows the meter
        group = target_group(opened.bars, options.bars, name)
        run_model = self._run_model(options, group)
        if run_model is not None:
            self.choices[Path(path)] = ModelChoice(run_model.name, "run")
            return self._use(run_model)
        choice, chosen = self.choose(opened, options)
        self.choices[Path(path)] = choice
        return self._use(chosen)

    def choose(self, opened: OpenedSong, options: EditOptions,
               measure_all: bool = False) -> tuple[ModelChoice, LoadedEngine]:
        """The model for the target by fit (one eligible: that one, measured too with ``measure_all``),
        with the --meter 4/4 hint."""
        fitting = fitting_models(self.installed(), target_group(opened.bars, options.bars, opened.path.name))
        candidates = self._load_all([str(model.directory.resolve()) for model in fitting])
        prepared = prepare_song(opened, options.bars, options.track)
        if len(candidates) == 1 and not measure_all:
            fits, chosen = (), candidates[0]
        else:
            fits = tuple(rank_by_fit(candidates, prepared, options.bars))
            chosen = candidates[fits.index(best_fit(fits))]
        hint = None
        if options.meter is None:
            hint = self.meter_hint(opened, options, prepared, fits or tuple(rank_by_fit([chosen], prepared, options.bars)))
        return ModelChoice(chosen.name, "fit" if len(candidates) > 1 else "only", fits, hint), chosen

    def meter_hint(self, opened: OpenedSong, options: EditOptions, prepared: PreparedSong,
                   fits: Sequence[ModelFit]) -> Optional[str]:
        """The --meter 4/4 hint when the file is labelled 2/4 or 1/4 and reads better as 4/4."""
        labelled = target_meters(opened.bars, options.bars)
        four_four = fitting_models(self.installed(), Meter(4, 4))
        if len(labelled) != 1 or labelled[0] not in SHORT_LABELS or not four_four:
            return None
        recounted = open_song(opened.path, None, Meter(4, 4), options.phase)
        target = four_four_target(opened.bars, recounted.bars, options.bars)
        as_four_four = prepare_song(recounted, target, options.track)
        four_four_fits = rank_by_fit([self._load(str(m.directory.resolve())) for m in four_four], as_four_four, target)
        best_four_four, best_label = best_fit(four_four_fits), best_fit(fits)
        if best_label.nll_per_token - best_four_four.nll_per_token < METER_HINT_NATS:
            return None
        return (f"{opened.path.name} is labelled {labelled[0]} but reads as 4/4: {best_four_four.model} fits its "
                f"bars counted in 4/4 at {best_four_four.nll_per_token:.2f} nats per token against "
                f"{best_label.nll_per_token:.2f} in {labelled[0]}; add --meter 4/4")

    def annotate(self, result: FileResult) -> None:
        """Record the file's model choice in its result (``--json``) and add the meter hint."""
        choice = self.choices.get(Path(result.input))
        if choice is None:
            return
        result.model_choice = choice.to_json()
        result.add_warning(choice.hint)

    def _run_model(self, options: EditOptions, group: Meter) -> Optional[LoadedEngine]:
        """The model an ``interpolate --start/--end`` or ``vary --around`` file was made with, when it
        is installed, has the same weights and knows the meter (None otherwise: chosen by fit)."""
        continued = [options.start_file, options.end_file] if options.verb == "interpolate" else (
            [options.around_file] if options.verb == "vary" else [])
        for path in filter(None, continued):
            record = recorded_model(Path(path), options.bars)
            if record is None:
                continue
            for model in fitting_models(self.installed(), group):
                if model.name == record[0]:
                    loaded = self._load(str(model.directory.resolve()))
                    if loaded.sha256 == record[1]:
                        return loaded
        return None

    def _load(self, name_or_path: str) -> LoadedEngine:
        return self._load_all([name_or_path])[0]

    def _load_all(self, names: Sequence[str]) -> list[LoadedEngine]:
        """Each model loaded once; with the numpy engine, those not loaded yet load side by side."""
        missing = list(dict.fromkeys(name for name in names if name not in self._loaded))
        if missing:
            with self._loading():
                if len(missing) > 1 and choose_engine(self._engine, self._device) == "numpy":
                    self._loaded.update(load_side_by_side(missing, self._engine, self._device))
                for name in missing:
                    if name not in self._loaded:
                        self._loaded[name] = load_engine(name, self._engine, self._device)
        return [self._loaded[name] for name in names]

    def _use(self, model: LoadedEngine) -> Chosen:
        chosen = (model, command_decoding(model.config, self._temperature, self._top_p))
        if model.sha256 + model.name not in self._announced:
            self._announced.add(model.sha256 + model.name)
            self._announce(*chosen)
        return chosen


def load_side_by_side(names: Sequence[str], engine: str, device: str) -> dict[str, LoadedEngine]:
    """``load_engine`` of each name, one thread each beyond the first: reading, hashing and checking
    weights let go of the GIL, so on two cores two models load in about the time of one. A failure
    is raised as loading one after another would raise it: the first in ``names`` order."""
    outcomes: dict[str, object] = {}

    def load(name: str) -> None:
        try:
            outcomes[name] = load_engine(name, engine, device)
        except BaseException as error:  # noqa: BLE001 - re-raised below, in order
            outcomes[name] = error

    later = [threading.Thread(target=load, args=(name,), daemon=True) for name in names[1:]]
    for thread in later:
        thread.start()
    load(names[0])
    for thread in later:
        thread.join()
    for name in names:
        if isinstance(outcomes[name], BaseException):
            raise outcomes[name]
    return {name: outcomes[name] for name in names}  # type: ignore[misc]


def recorded_model(path: Path, bars: BarRange) -> Optional[tuple[str, str]]:
    """(model name, weights digest) of the newest clsm edit of ``bars`` recorded in ``path``."""
    try:
        records = parse_provenance(read_text_events(path))
    except ClsmError:
        return None
    for record in reversed(records):
        recorded = record.get("bars")
        if isinstance(recorded, list) and [int(b) for b in recorded[:2]] == [bars.first, bars.last]:
            if record.get("model") and record.get("model_sha256"):
                return str(record["model"]), str(record["model_sha256"])
    return None


def choice_for_show(opened: OpenedSong, shown: BarRange, track: Optional[str],
                    engine: str = "numpy") -> tuple[Optional[ModelChoice], Optional[str]]:
    """What ``clsm show`` reports about the model for the ``shown`` bars: the choice with each
    eligible model's figure (models are loaded), or None and the sentence saying why none fits."""
    models = installed_editors()
    if not models:
        return None, "model: none is installed"
    bars = list(opened.bars)
    group = song_group(bars[shown.first - 1 : shown.last])
    if not fitting_models(models, group) or len({b.time_signature.group for b in bars[shown.first - 1: shown.last]}) > 1:
        return None, editor_line(bars, shown, opened.path.name, models)
    options = EditOptions(verb="infill", bars=shown, seed=0, track=track)
    chooser = EditModels(None, engine, "cpu", None, None, contextlib.nullcontext, lambda *_: None, models)
    choice, _ = chooser.choose(opened, options, measure_all=True)
    return choice, None


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
