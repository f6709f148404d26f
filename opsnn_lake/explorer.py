"""Close the loop: the lake's own analyses choose the next network parameters.

``opsnn-lake explore simulate/va_explore.yaml`` or ``opsnn_lake.explore(spec, lake=…)``.
A spec names a model, a search space, an objective built from the lake's statistics and
a strategy::

    model: va                       # as in sweep specs (name or .py path)
    simulator: nest                 # nest | spinnaker
    study: va-ai                    # optional name (default: the spec file's stem)
    parameters: {n_pop: 400}        # fixed overrides for every trial
    space:                          # what the strategy chooses
      g_exc: [1.0, 10.0]            # a range (int or float: the model default's type)
      g_inh: {low: 10, high: 200, log: true}
      n_stim: {low: 10, high: 40, step: 5}
      rng: {choices: [numpy, native]}
    objective:
      population: exc               # whose statistics count
      rate: {target: 20.0, tolerance: 0.1}   # Hz, relative tolerance (±10 %)
      cv: [0.8, 1.2]                # mean ISI CV within this range
      synchrony: {max: 0.1}         # optional: mean pairwise spike-count correlation
      psd_peak: [5.0, 50.0]         # optional: peak of the population-rate PSD (Hz)
      mode: minimise                # minimise | constraints
    strategy: tpe                   # tpe | cmaes | gp | random | grid
    budget: 40                      # trials to ask (warm-start trials not counted)
    workers: 2                      # trials per batch, simulated in parallel
    seed: 1                         # the sampler's seed
    run_seed: null                  # optional: the runs' seed (as a sweep's seeds)
    warm_start: false               # true: first tell the runs already in the lake
    stop_at_target: false           # true: stop after the batch that reaches the target
    timeout: 600                    # seconds per run
    settings: {nest: {threads: 1}}

The objective: each term is a distance to its target, 0 inside it (rate: ``|r - t| /
(tolerance·t) - 1``, ranges: the distance outside the range over its half-width,
synchrony: ``(c - max) / max``, all clipped at 0). ``mode: minimise`` minimises their
sum; ``mode: constraints`` minimises the relative rate error ``|r - t| / t`` under the
other terms as constraints (TPE and GP only). A trial is *in the target* when every
term is 0. A run with NaN statistics (a silent network has no ISIs), a crash or a
timeout is told to the sampler as a failure (``objective`` NaN), and kept.

Every trial is a lake run: the batch is planned and run by :func:`opsnn_lake.sweep.run_sweep`
(one process per run, on dask; runs already in the lake cost no simulation), analysed
with :mod:`opsnn_lake.analysis`, and told back. Lineage lives in
``<lake>/studies/<study id>/`` (see :mod:`opsnn_lake.studies`), never in the runs,
whose ids stay content-derived. That folder is the only storage of the study: killed at
any moment, ``explore`` run again rebuilds the optuna study from it, finishes the trials
it had started (a run already published is not simulated again) and goes on.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import math
import os
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opsnn_lake import studies
from opsnn_lake.cluster import SlurmOptions
from opsnn_lake.errors import SchemaError, SpecError
from opsnn_lake.lake import Lake
from opsnn_lake.spec_fields import (
    SpecFile,
    parse_bool,
    parse_int,
    parse_optional_int,
    parse_positive_int,
    parse_positive_number,
    parse_settings,
    parse_simulator,
)
from opsnn_lake.sweep import parse_model as sweep_parse_model
from opsnn_lake.sweep import parse_slurm

if TYPE_CHECKING:
    import optuna
    import pandas as pd
    from distributed import Client
    from matplotlib.figure import Figure

    from opsnn_lake.simulators.runner import Model

__all__ = [
    "STRATEGIES",
    "ExploreResult",
    "ExploreSpec",
    "Objective",
    "explore",
    "load_spec",
    "parse_spec",
]

SPEC_KEYS = (
    "model",
    "simulator",
    "study",
    "parameters",
    "space",
    "objective",
    "strategy",
    "budget",
    "workers",
    "seed",
    "run_seed",
    "warm_start",
    "stop_at_target",
    "timeout",
    "settings",
    "slurm",
)
OBJECTIVE_KEYS = ("population", "rate", "cv", "synchrony", "psd_peak", "mode")
SPACE_KEYS = ("low", "high", "log", "step", "int", "choices")
STRATEGIES = ("tpe", "cmaes", "gp", "random", "grid")
MODES = ("minimise", "constraints")
#: Points per continuous axis when ``strategy: grid`` meets a range without ``step``.
GRID_POINTS = 10


# --------------------------------------------------------------------------- the spec


@dataclass(frozen=True, kw_only=True)
class Dimension:
    """One axis of the search space."""

    name: str
    kind: str  # "float" | "int" | "categorical"
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()

    def distribution(self) -> Any:
        """The optuna distribution of this axis."""
        from optuna.distributions import (
            CategoricalDistribution,
            FloatDistribution,
            IntDistribution,
        )

        if self.kind == "categorical":
            return CategoricalDistribution(list(self.choices))
        if self.kind == "int":
            step = int(self.step or 1)
            return IntDistribution(int(self.low), int(self.high), log=self.log, step=step)  # type: ignore[arg-type]
        return FloatDistribution(self.low, self.high, log=self.log, step=self.step)  # type: ignore[arg-type]

    def normalise(self, value: Any) -> Any:
        """A sampled value as the lake sees it: lattice values exactly on the lattice.

        Samplers return stepped floats such as ``1.5000000000000002``; the run id hashes
        the value's text, so the lattice point is rounded to what a sweep spec's
        ``1.5`` gives, and a point a sweep already ran is found in the lake.
        """
        if self.kind == "float" and self.step:
            k = round((float(value) - float(self.low)) / self.step)  # type: ignore[arg-type]
            return float(round(float(self.low) + k * self.step, 10))  # type: ignore[arg-type]
        if self.kind == "int":
            return int(value)
        return value

    def grid(self) -> list[Any]:
        """The values of this axis for ``strategy: grid``."""
        import numpy as np

        if self.kind == "categorical":
            return list(self.choices)
        assert self.low is not None and self.high is not None
        if self.step:
            n = round((self.high - self.low) / self.step) + 1
            return [self.normalise(self.low + i * self.step) for i in range(n)]
        if self.kind == "int":
            return list(range(int(self.low), int(self.high) + 1))
        if self.log:
            values = np.geomspace(self.low, self.high, GRID_POINTS)
        else:
            values = np.linspace(self.low, self.high, GRID_POINTS)
        return [float(round(v, 10)) for v in values]


@dataclass(frozen=True, kw_only=True)
class Objective:
    """The objective of a study: targets on the statistics of one population."""

    population: str = "exc"
    rate: tuple[float, float] | None = None  # (target Hz, relative tolerance)
    cv: tuple[float, float] | None = None
    synchrony: float | None = None  # max mean pairwise correlation
    psd_peak: tuple[float, float] | None = None  # Hz
    mode: str = "minimise"

    @property
    def statistics(self) -> list[str]:
        """Analysis statistics the objective needs (names of ``analysis.STATISTICS``)."""
        stats = ["rate", "cv"]
        if self.synchrony is not None:
            stats.append("correlation")
        if self.psd_peak is not None:
            stats.append("psd")
        return stats

    @property
    def key(self) -> str:
        """Short hash of what the statistics depend on (cache key)."""
        text = json.dumps([self.population, self.statistics, STAT_OPTIONS], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def terms(self, stats: Mapping[str, float]) -> dict[str, float]:
        """Distance to each target (0 inside it; NaN if the statistic is NaN)."""
        out: dict[str, float] = {}
        if self.rate is not None:
            target, tol = self.rate
            out["rate"] = max(0.0, abs(stats["rate"] - target) / (tol * target) - 1.0)
        if self.cv is not None:
            out["cv"] = _range_distance(stats["cv"], self.cv)
        if self.synchrony is not None:
            out["synchrony"] = max(0.0, (stats["synchrony"] - self.synchrony) / self.synchrony)
        if self.psd_peak is not None:
            out["psd_peak"] = _range_distance(stats["psd_peak"], self.psd_peak)
        # max() drops NaN silently; put it back.
        return {k: (math.nan if _nan(stats, k) else v) for k, v in out.items()}

    def evaluate(self, stats: Mapping[str, float]) -> tuple[float, dict[str, float], bool]:
        """``(objective, constraints, in_target)`` of a trial's statistics."""
        terms = self.terms(stats)
        if any(math.isnan(v) for v in terms.values()):
            return math.nan, {}, False
        in_target = all(v == 0.0 for v in terms.values())
        if self.mode == "constraints" and self.rate is not None:
            target = self.rate[0]
            others = {k: v for k, v in terms.items() if k != "rate"}
            # the rate band is a constraint too, so "feasible" means "in the target"
            others["rate"] = terms["rate"]
            return abs(stats["rate"] - target) / target, others, in_target
        return float(sum(terms.values())), {}, in_target

    def describe(self) -> str:
        """The target region in words (plot titles, reports)."""
        parts = []
        if self.rate is not None:
            parts.append(f"rate {self.rate[0]:g} Hz ± {100 * self.rate[1]:g} %")
        if self.cv is not None:
            parts.append(f"CV in [{self.cv[0]:g}, {self.cv[1]:g}]")
        if self.synchrony is not None:
            parts.append(f"correlation ≤ {self.synchrony:g}")
        if self.psd_peak is not None:
            parts.append(f"PSD peak in [{self.psd_peak[0]:g}, {self.psd_peak[1]:g}] Hz")
        return f"{self.population}: " + ", ".join(parts)


def _nan(stats: Mapping[str, float], term: str) -> bool:
    value = stats.get(term)
    return value is None or (isinstance(value, float) and math.isnan(value))


def _range_distance(value: float, bounds: tuple[float, float]) -> float:
    lo, hi = bounds
    half = (hi - lo) / 2 or 1.0
    return max(0.0, lo - value, value - hi) / half


#: Analysis options of the objective's statistics (part of the statistics cache key).
STAT_OPTIONS: dict[str, dict[str, Any]] = {
    "correlation": {"units": 100, "bin_size": 5.0},
    "psd": {"bin_size": 1.0},
}


@dataclass(frozen=True, kw_only=True)
class ExploreSpec(SpecFile):
    """A validated explore spec (see the module docstring for the YAML form)."""

    kind = "explore spec"

    model: str
    simulator: str = "nest"
    study: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    space: dict[str, Dimension] = field(default_factory=dict)
    objective: Objective = field(default_factory=Objective)
    strategy: str = "tpe"
    budget: int = 20
    workers: int = 1
    seed: int = 0
    run_seed: int | None = None
    warm_start: bool = False
    stop_at_target: bool = False
    timeout: float | None = None
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    slurm: SlurmOptions = field(default_factory=SlurmOptions)
    path: Path | None = None

    @classmethod
    def from_dict(cls, data: Any, *, path: Path | None = None) -> ExploreSpec:
        """Validate the data of a spec (a dict as YAML gives it); errors name the key."""
        data, where = cls.checked(data, SPEC_KEYS, path)
        model = parse_model(data.get("model"), path, where)
        simulator = parse_simulator(data.get("simulator"), where)
        parameters = parse_parameters(data.get("parameters"), model, where)
        space = parse_space(data.get("space"), model, parameters, where)
        objective = _objective(data.get("objective"), where)
        return cls(
            model=data["model"], simulator=simulator, study=parse_study(data.get("study"), where),
            parameters=parameters, space=space, objective=objective,
            strategy=parse_strategy(data.get("strategy", "tpe"), objective, space, where),
            budget=parse_positive_int(data.get("budget", 20), "budget", where),
            workers=parse_positive_int(data.get("workers", 1), "workers", where),
            seed=parse_int(data.get("seed", 0), "seed", where),
            run_seed=parse_optional_int(data.get("run_seed"), "run_seed", where),
            warm_start=parse_bool(data.get("warm_start", False), "warm_start", where),
            stop_at_target=parse_bool(data.get("stop_at_target", False), "stop_at_target", where),
            timeout=parse_positive_number(data.get("timeout"), "timeout", where, unit="seconds"),
            settings=parse_settings(data.get("settings"), where),
            slurm=parse_slurm(data.get("slurm"), path),
            path=path,
        )  # fmt: skip

    def identity(self) -> dict[str, Any]:
        """What makes a study itself: budget, workers and timeout may change on resume."""
        return {
            "model": self.model,
            "simulator": self.simulator,
            "parameters": self.parameters,
            "space": {k: asdict(v) for k, v in self.space.items()},
            "objective": asdict(self.objective),
            "strategy": self.strategy,
            "seed": self.seed,
            "run_seed": self.run_seed,
            "warm_start": self.warm_start,
            "settings": self.settings,
        }

    def study_id(self) -> str:
        """``<name>-<hash>``: the same spec resumes the same study; a changed one starts anew."""
        name = self.study or (self.path.stem if self.path else "explore")
        text = json.dumps(self.identity(), sort_keys=True, default=str)
        digest = hashlib.sha256(text.encode()).hexdigest()[:10]
        safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in name).strip("-_")
        return f"{safe or 'explore'}-{digest}"


def _number(value: Any, what: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SpecError(f"{where}: {what} must be a number, got {value!r}")
    return float(value)


def _dimension(name: str, value: Any, default: Any, where: str) -> Dimension:
    """One ``space`` entry: ``[low, high]``, ``{low, high, log, step, int}`` or ``{choices}``."""
    at = f"{where}: space[{name!r}]"
    value = _space_mapping(value, at)
    if "choices" in value:
        return _categorical(name, value, at)
    if "low" not in value or "high" not in value:
        raise SpecError(f"{at}: a range needs both 'low' and 'high'")
    low = _number(value["low"], f"space[{name!r}].low", where)
    high = _number(value["high"], f"space[{name!r}].high", where)
    if not low < high:
        raise SpecError(f"{at}: low ({low:g}) must be below high ({high:g})")
    log = value.get("log", False)
    if not isinstance(log, bool):
        raise SpecError(f"{at}: 'log' must be true or false, got {log!r}")
    if log and low <= 0:
        raise SpecError(f"{at}: a log range needs low > 0, got {low:g}")
    is_int = value.get("int")
    if is_int is None:
        is_int = isinstance(default, int) and not isinstance(default, bool)
    step = _step(value.get("step"), log, name, where)
    return Dimension(
        name=name, kind="int" if is_int else "float", low=low, high=high, log=log, step=step
    )


def _space_mapping(value: Any, at: str) -> Mapping[str, Any]:
    """A space entry as a mapping of known keys (``[low, high]`` becomes one)."""
    if isinstance(value, list):
        if len(value) != 2:
            raise SpecError(
                f"{at}: a range is [low, high] (2 numbers), got {value!r}; "
                "for a choice among values write {choices: [...]}"
            )
        value = {"low": value[0], "high": value[1]}
    if not isinstance(value, Mapping):
        raise SpecError(
            f"{at}: expected [low, high] or a mapping with low/high or choices, got {value!r}"
        )
    for key in value:
        if key not in SPACE_KEYS:
            raise SpecError(f"{at}: unknown key {key!r}; valid keys: {', '.join(SPACE_KEYS)}")
    return value


def _categorical(name: str, value: Mapping[str, Any], at: str) -> Dimension:
    choices = value["choices"]
    if not isinstance(choices, list) or not choices:
        raise SpecError(f"{at}: 'choices' must be a non-empty list, got {choices!r}")
    if set(value) - {"choices"}:
        raise SpecError(f"{at}: 'choices' cannot be combined with a range")
    return Dimension(name=name, kind="categorical", choices=tuple(choices))


def _step(value: Any, log: bool, name: str, where: str) -> float | None:
    if value is None:
        return None
    at = f"{where}: space[{name!r}]"
    step = _number(value, f"space[{name!r}].step", where)
    if step <= 0:
        raise SpecError(f"{at}: 'step' must be positive, got {step:g}")
    if log:
        raise SpecError(f"{at}: 'step' and 'log' cannot be combined (optuna refuses it)")
    return step


def _pair(value: Any, key: str, where: str) -> tuple[float, float]:
    if not isinstance(value, list) or len(value) != 2:
        raise SpecError(f"{where}: objective.{key} must be [low, high], got {value!r}")
    lo, hi = (_number(v, f"objective.{key}", where) for v in value)
    if not lo < hi:
        raise SpecError(f"{where}: objective.{key}: low ({lo:g}) must be below high ({hi:g})")
    return lo, hi


def _objective(data: Any, where: str) -> Objective:
    """The ``objective`` key: targets on one population's statistics, and the mode."""
    if not isinstance(data, Mapping):
        raise SpecError(
            f"{where}: 'objective' is required: a mapping with keys {', '.join(OBJECTIVE_KEYS)}"
        )
    for key in data:
        if key not in OBJECTIVE_KEYS:
            raise SpecError(
                f"{where}: objective: unknown key {key!r}; valid keys: {', '.join(OBJECTIVE_KEYS)}"
            )
    rate = _rate(data.get("rate"), where)
    cv = _pair(data["cv"], "cv", where) if data.get("cv") is not None else None
    psd = _pair(data["psd_peak"], "psd_peak", where) if data.get("psd_peak") is not None else None
    synchrony = _synchrony(data.get("synchrony"), where)
    if rate is None and cv is None and synchrony is None and psd is None:
        raise SpecError(
            f"{where}: objective has no term; give at least one of rate, cv, synchrony, psd_peak"
        )
    return Objective(
        population=_population(data.get("population", "exc"), where), rate=rate, cv=cv,
        synchrony=synchrony, psd_peak=psd, mode=_mode(data.get("mode", "minimise"), rate, where),
    )  # fmt: skip


def _rate(value: Any, where: str) -> tuple[float, float] | None:
    """``objective.rate``: ``{target: Hz, tolerance: relative}``."""
    if value is None:
        return None
    if (
        not isinstance(value, Mapping)
        or "target" not in value
        or (set(value) - {"target", "tolerance"})
    ):
        raise SpecError(
            f"{where}: objective.rate must be {{target: Hz, tolerance: 0.1}}, got {value!r}"
        )
    target = _number(value["target"], "objective.rate.target", where)
    tol = _number(value.get("tolerance", 0.1), "objective.rate.tolerance", where)
    if target <= 0 or tol <= 0:
        raise SpecError(f"{where}: objective.rate: target and tolerance must be positive")
    return target, tol


def _synchrony(value: Any, where: str) -> float | None:
    """``objective.synchrony``: ``{max: correlation}``."""
    if value is None:
        return None
    if not isinstance(value, Mapping) or set(value) != {"max"}:
        raise SpecError(f"{where}: objective.synchrony must be {{max: 0.1}}, got {value!r}")
    synchrony = _number(value["max"], "objective.synchrony.max", where)
    if synchrony <= 0:
        raise SpecError(f"{where}: objective.synchrony.max must be positive")
    return synchrony


def _mode(value: Any, rate: tuple[float, float] | None, where: str) -> str:
    """``objective.mode``: minimise, or constraints (which needs a rate term)."""
    if value not in MODES:
        raise SpecError(f"{where}: objective.mode {value!r} is unknown; valid: {', '.join(MODES)}")
    if value == "constraints" and rate is None:
        raise SpecError(f"{where}: objective.mode constraints minimises the rate error: give rate")
    return str(value)


def _population(value: Any, where: str) -> str:
    """``objective.population``: the label of the population whose statistics count."""
    if not isinstance(value, str) or not value:
        raise SpecError(f"{where}: objective.population must be a population label, got {value!r}")
    return value


def parse_model(value: Any, path: Path | None, where: str) -> Model:
    """The ``model`` key: a simulation model (not an input generator), loaded."""
    from opsnn_lake.simulators.runner import load_model

    name = sweep_parse_model(value, where)
    model = load_model(name, search=[str(path.parent)] if path else [])
    if model.kind != "simulation":
        raise SpecError(f"{where}: {model.name!r} is an input generator, not a model")
    return model


def _check_names(keys: Iterable[str], model: Model, key: str, where: str) -> None:
    for name in keys:
        if name not in model.parameters:
            raise SpecError(
                f"{where}: {key}: {name!r} is not a parameter of {model.name!r}; "
                f"valid: {', '.join(model.parameters)}"
            )


def parse_parameters(value: Any, model: Model, where: str) -> dict[str, Any]:
    """The ``parameters`` key: fixed overrides, by the model's parameter names."""
    if value is not None and not isinstance(value, Mapping):
        raise SpecError(
            f"{where}: 'parameters' must be a mapping of names to values, got {value!r}"
        )
    parameters = dict(value or {})
    _check_names(parameters, model, "parameters", where)
    return parameters


def parse_space(
    value: Any, model: Model, fixed: Mapping[str, Any], where: str
) -> dict[str, Dimension]:
    """The ``space`` key: parameter → its :class:`Dimension` (none of them fixed)."""
    if not isinstance(value, Mapping) or not value:
        raise SpecError(f"{where}: 'space' is required: parameter → [low, high] or {{choices}}")
    _check_names(value, model, "space", where)
    space = {}
    for key, sub in value.items():
        if key in fixed:
            raise SpecError(f"{where}: space: {key!r} is also fixed in 'parameters'")
        space[key] = _dimension(key, sub, model.parameters[key], where)
    return space


def parse_strategy(
    value: Any, objective: Objective, space: Mapping[str, Dimension], where: str
) -> str:
    """The ``strategy`` key: one of :data:`STRATEGIES` that can search ``space``."""
    if value not in STRATEGIES:
        raise SpecError(f"{where}: strategy {value!r} is unknown; valid: {', '.join(STRATEGIES)}")
    if objective.mode == "constraints" and value not in ("tpe", "gp"):
        raise SpecError(
            f"{where}: objective.mode constraints needs strategy tpe or gp, not {value!r}; "
            "use mode: minimise"
        )
    if value == "cmaes" and any(d.kind == "categorical" for d in space.values()):
        raise SpecError(f"{where}: strategy cmaes cannot search categorical space entries")
    return str(value)


def parse_study(value: Any, where: str) -> str | None:
    """The ``study`` key: a non-empty name, or none (the spec file's stem)."""
    if value is not None and (not isinstance(value, str) or not value):
        raise SpecError(f"{where}: 'study' must be a non-empty name, got {value!r}")
    return value


def parse_spec(data: Any, *, path: Path | None = None) -> ExploreSpec:
    """Validate the data of an explore spec (a dict as YAML gives it) and return the spec.

    The model is loaded to check the space and fixed parameters by name.

    Raises
    ------
    SpecError
        Naming the spec, the bad key and the valid choices.
    """
    return ExploreSpec.from_dict(data, path=path)


def load_spec(path: str | os.PathLike[str], **overrides: Any) -> ExploreSpec:
    """Read and validate an explore spec YAML file (safe loader).

    Parameters
    ----------
    path : path-like
        The spec file.
    **overrides
        Spec keys replacing the file's (e.g. ``budget=10``), validated alike.

    Raises
    ------
    SchemaError
        If the file is missing, is not valid YAML, or breaks the spec (see parse_spec).
    """
    from opsnn_lake.safe_yaml import load_yaml

    path = Path(path).absolute()
    data = load_yaml(path, what="explore spec")  # bounded: refuses alias bombs
    if isinstance(data, Mapping):
        data = {**data, **{k: v for k, v in overrides.items() if v is not None}}
    return parse_spec(data, path=path)


# --------------------------------------------------------------------------- samplers


def make_sampler(spec: ExploreSpec, seed: int, n_done: int = 0) -> optuna.samplers.BaseSampler:
    """The optuna sampler of ``spec.strategy``, seeded with ``seed``.

    ``n_done`` (trials already told) lets model-based samplers start modelling at once
    after a resume instead of re-running their random start-up phase.
    """
    import optuna

    objective = spec.objective
    constraints = _constraints_func if objective.mode == "constraints" else None
    if spec.strategy == "tpe":
        return optuna.samplers.TPESampler(
            seed=seed, n_startup_trials=5, constraints_func=constraints
        )
    if spec.strategy == "gp":
        try:
            import torch  # noqa: F401 - optuna's GPSampler needs it, and says so late
        except ModuleNotFoundError:
            raise SpecError(
                f"{spec.where}: strategy gp needs PyTorch: pip install 'opsnn-lake[gp]' "
                "(CPU wheel: pip install torch --index-url https://download.pytorch.org/whl/cpu)"
                ", or choose tpe, cmaes, random or grid"
            ) from None
        import warnings

        with warnings.catch_warnings():  # the flag is "experimental"; the fact is not
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.GPSampler(
                seed=seed, n_startup_trials=5, constraints_func=constraints,
                deterministic_objective=True,  # a run is memoised: same point, same value
            )  # fmt: skip
    if spec.strategy == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, n_startup_trials=1, popsize=None)
    # grid: the points are enqueued by _Study in their order (see _grid_points); the
    # sampler only fills in what is enqueued.
    return optuna.samplers.RandomSampler(seed=seed)


def _constraints_func(trial: optuna.trial.FrozenTrial) -> Sequence[float]:
    return list(trial.user_attrs.get("constraints", {}).values()) or [0.0]


def _in_space(distribution: Any, value: Any) -> bool:
    """Whether ``value`` is a point of an optuna distribution (a choice, in range, on step)."""
    try:
        return bool(distribution._contains(distribution.to_internal_repr(value)))
    except (ValueError, TypeError):  # not one of the choices, or not a number
        return False


def _grid_size(spec: ExploreSpec) -> int:
    return math.prod(len(d.grid()) for d in spec.space.values())


def _grid_points(spec: ExploreSpec) -> list[dict[str, Any]]:
    """Every lattice point once, in a random order fixed by the spec's seed.

    optuna's GridSampler visits its grid the same way, but it stops the study from
    inside ``tell`` when the grid is done, which optuna forbids outside ``optimize``:
    ask/tell needs the order kept here instead.
    """
    import itertools
    import random

    names = list(spec.space)
    points = [
        dict(zip(names, values, strict=True))
        for values in itertools.product(*(spec.space[n].grid() for n in names))
    ]
    random.Random(spec.seed).shuffle(points)
    return points


# --------------------------------------------------------------------------- statistics


def trial_statistics(
    lake: Lake, run_ids: Sequence[str], objective: Objective
) -> dict[str, dict[str, float]]:
    """The objective's statistics of each run (cached in the lake; see :mod:`studies`).

    Returns
    -------
    dict
        run id → ``{"rate", "cv"[, "synchrony"][, "psd_peak"], "n_spikes"}``; NaN where a
        statistic is undefined (a silent population has no ISI CV).
    """
    out: dict[str, dict[str, float]] = {}
    todo = []
    for run_id in dict.fromkeys(run_ids):
        cached = studies.read_stats(lake.path, run_id, objective.key)
        if cached is not None:
            out[run_id] = {k: (math.nan if v is None else float(v)) for k, v in cached.items()}
        else:
            todo.append(run_id)
    if todo:
        out.update(_new_statistics(lake, todo, objective))
    return out


#: Columns of ``analysis.summary_table`` → names of the objective's statistics.
_SUMMARY_NAMES = {
    "rate (Hz)": "rate",
    "cv": "cv",
    "correlation": "synchrony",
    "psd peak (Hz)": "psd_peak",
}


def _summary(lake: Lake, run_ids: list[str], objective: Objective) -> pd.DataFrame:
    """The analysis summary table of the objective's statistics of ``run_ids``."""
    from opsnn_lake import analysis

    stats = objective.statistics
    try:
        tree = analysis.analyse(
            run_ids,
            stats,
            lake=lake,
            populations=objective.population,
            options={k: v for k, v in STAT_OPTIONS.items() if k in stats},
            compute=True,
        )
    except SchemaError as err:
        if "no population named" not in str(err):
            raise
        raise SchemaError(
            f"objective.population {objective.population!r}: {err}; "
            "fix objective.population in the spec"
        ) from err
    return analysis.summary_table(tree).reset_index()


def _new_statistics(
    lake: Lake, run_ids: list[str], objective: Objective
) -> dict[str, dict[str, float]]:
    """Analyse runs without cached statistics; cache what is found."""
    table = _summary(lake, run_ids, objective)
    rows = lake.search(run_id=list(run_ids))
    out = {}
    for run_id in run_ids:
        part = table[table["run"] == run_id]
        if part.empty:
            raise SpecError(
                f"run {run_id}: has no population {objective.population!r}; "
                "fix objective.population in the spec"
            )
        values = {
            short: float(part[col].mean())
            for col, short in _SUMMARY_NAMES.items()
            if col in part.columns
        }
        values["n_spikes"] = float(rows.loc[run_id, "n_spikes"])
        out[run_id] = values
        studies.write_stats(lake.path, run_id, objective.key, values)
    return out


# --------------------------------------------------------------------------- the study


@dataclass
class ExploreResult:
    """What a study holds: its trials (every invocation's) and its best parameters.

    Attributes
    ----------
    study : str
        The study id (``lake.search(study=…)`` finds its runs).
    spec : ExploreSpec
    lake : Lake
    records : list of dict
        The trial records, by trial number.
    simulated : int
        Simulations this call ran (runs not already in the lake).
    failed_runs : int
        Runs of this call that crashed or timed out (stored as failed trials).
    """

    study: str
    spec: ExploreSpec
    lake: Lake
    records: list[dict[str, Any]]
    simulated: int = 0
    failed_runs: int = 0

    @property
    def trials(self) -> pd.DataFrame:
        """One row per trial: number, state, status, run id, parameters, statistics,
        objective, in_target, simulated, error (failed and silent runs included)."""
        import pandas as pd

        rows = []
        for r in self.records:
            row = {
                "trial": r["number"],
                "state": r["state"],
                "status": r.get("status"),
                "run_id": r.get("run_id"),
                **r["params"],
                **dict.fromkeys(self._stat_names(), math.nan),  # failed trials have none
                **{k: (math.nan if v is None else v) for k, v in r.get("stats", {}).items()},
                "objective": math.nan if r.get("objective") is None else r["objective"],
                "in_target": bool(r.get("in_target", False)),
                "simulated": bool(r.get("simulated", False)),
                "error": r.get("error"),
            }
            rows.append(row)
        return pd.DataFrame(rows).set_index("trial") if rows else pd.DataFrame()

    def _stat_names(self) -> list[str]:
        names = {"rate": "rate", "cv": "cv", "correlation": "synchrony", "psd": "psd_peak"}
        return [names[s] for s in self.spec.objective.statistics]

    @property
    def best(self) -> dict[str, Any] | None:
        """The record of the best trial (in the target first, then lowest objective)."""
        done = [r for r in self.records if r["state"] == "complete"]
        if not done:
            return None
        return min(done, key=lambda r: (not r.get("in_target"), r["objective"], r["number"]))

    @property
    def best_params(self) -> dict[str, Any]:
        """Searched parameters of the best trial (empty if no trial completed)."""
        best = self.best
        return dict(best["params"]) if best else {}

    def sims_to_target(self) -> int | None:
        """Distinct runs the study tried up to its first trial in the target (None: never).

        Warm-start trials count as free: they cost no new simulation.
        """
        seen: set[str] = set()
        for r in self.records:
            if r.get("status") != "warm" and r.get("run_id"):
                seen.add(r["run_id"])
            if r.get("in_target"):
                return len(seen)
        return None

    def plot_progress(self, path: str | os.PathLike[str] | None = None) -> Figure:
        """Objective against trial number, with the best so far (PNG if ``path``)."""
        from opsnn_lake.explore_plots import plot_progress

        return plot_progress(self, path)

    def plot_plane(
        self,
        x: str | None = None,
        y: str | None = None,
        statistic: str = "rate",
        path: str | os.PathLike[str] | None = None,
    ) -> Figure:
        """The (x, y) parameter plane coloured by ``statistic``, trials and target region."""
        from opsnn_lake.explore_plots import plot_plane

        return plot_plane(self, x=x, y=y, statistic=statistic, path=path)

    def _repr_html_(self) -> str:
        head = f"<b>study {self.study}</b>: {len(self.records)} trials, best {self.best_params}"
        table: str = self.trials._repr_html_()
        return head + table


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class _Study:
    """One invocation of a study: the optuna study rebuilt from the lake, then ask/tell."""

    def __init__(
        self,
        spec: ExploreSpec,
        lake: Lake,
        progress: bool,
        scheduler: str | None = None,
        client: Client | None = None,
    ) -> None:
        import optuna

        from opsnn_lake.simulators.runner import load_model, plan_run

        self.spec, self.lake, self.progress = spec, lake, progress
        self.scheduler, self.client = scheduler, client
        self.id = spec.study_id()
        self.model = load_model(spec.model, search=spec.search)
        self._plan_run = plan_run
        self.distributions = {k: d.distribution() for k, d in spec.space.items()}
        self.records: dict[int, dict[str, Any]] = {
            r["number"]: r for r in studies.read_trials(lake.path, self.id)
        }
        self.simulated = 0
        self.failed_runs = 0
        optuna.logging.set_verbosity(optuna.logging.WARNING)

    # -------------------------------------------------------------- records

    def _params(self, point: Mapping[str, Any]) -> dict[str, Any]:
        return {**self.spec.parameters, **point}

    def run_id(self, point: Mapping[str, Any]) -> str:
        plan = self._plan_run(
            self.model,
            simulator=self.spec.simulator,
            parameters=self._params(point),
            seed=self.spec.run_seed,
            settings=self.spec.settings.get(self.spec.simulator),
            lake=self.lake,
        )
        return plan.run_id

    def _record(self, number: int, point: Mapping[str, Any], **fields: Any) -> dict[str, Any]:
        record = {
            "number": number,
            "strategy": self.spec.strategy,
            "params": dict(point),
            "state": "pending",
            "started": _now(),
            **fields,
        }
        self.records[number] = record
        studies.write_trial(self.lake.path, self.id, record)
        return record

    def _finish(self, record: dict[str, Any], status: str, stats: Mapping[str, float] | None,
                error: str | None = None, simulated: bool = False) -> None:  # fmt: skip
        objective, in_target = math.nan, False
        constraints: dict[str, float] = {}
        if stats is not None:
            objective, constraints, in_target = self.spec.objective.evaluate(stats)
        if status in ("done", "cached", "warm") and stats is not None and math.isnan(objective):
            status = "silent" if stats.get("n_spikes", 1.0) == 0 else status
            error = error or "statistics undefined (NaN): told as a failure"
        record.update(
            state="complete" if not math.isnan(objective) else "failed",
            status=status,
            stats=dict(stats or {}),
            objective=objective,
            constraints=constraints,
            in_target=in_target,
            error=error,
            simulated=simulated,
            finished=_now(),
        )
        studies.write_trial(self.lake.path, self.id, record)

    def _frozen(self, record: Mapping[str, Any]) -> optuna.trial.FrozenTrial:
        from optuna.trial import TrialState, create_trial

        failed = record["state"] != "complete"
        return create_trial(
            state=TrialState.FAIL if failed else TrialState.COMPLETE,
            value=None if failed else float(record["objective"]),
            params=dict(record["params"]),
            distributions=self.distributions,
            user_attrs={
                "constraints": record.get("constraints", {}),
                "lake_trial": record["number"],
            },
            constraints=(record.get("constraints") or None) if not failed else None,
        )

    # -------------------------------------------------------------- running

    def _run_batch(self, batch: list[dict[str, Any]]) -> None:
        """Simulate the batch's runs not yet in the lake, analyse, finish the records."""
        from opsnn_lake.sweep import SweepSpec, run_sweep

        sweep = SweepSpec(
            model=self.spec.model,
            simulator=self.spec.simulator,
            configurations=[self._params(r["params"]) for r in batch],
            seeds=[self.spec.run_seed],
            settings=self.spec.settings,
            timeout=self.spec.timeout,
            workers=self.spec.workers,
            slurm=self.spec.slurm,
            path=self.spec.path,
        )
        report = run_sweep(
            sweep, self.lake, scheduler=self.scheduler, workers=self.spec.workers,
            progress=False, client=self.client,
        )  # fmt: skip
        outcome = {r.run_id: r for r in report.results}
        ok = [rid for rid, r in outcome.items() if r.status in ("done", "cached")]
        stats = self._statistics(ok) if ok else {}
        counted: set[str] = set()
        for record in batch:
            result = outcome.get(record["run_id"])
            status = result.status if result is not None else "failed"
            simulated = status == "done" and record["run_id"] not in counted
            counted.add(record["run_id"])
            self.simulated += simulated
            if status == "failed":
                self.failed_runs += 1
                log = (result.log if result is not None else "").splitlines()[-3:]
                error = " | ".join([str(result.error if result is not None else "not run"), *log])
                self._finish(record, "failed", None, error=error)
            else:
                self._finish(record, status, stats[record["run_id"]], simulated=simulated)

    def _statistics(self, run_ids: Sequence[str]) -> dict[str, dict[str, float]]:
        """:func:`trial_statistics` in this process, even while a cluster is the default."""
        import dask

        with dask.config.set(scheduler="threads") if self.client else contextlib.nullcontext():
            return trial_statistics(self.lake, run_ids, self.spec.objective)

    def _warm_start(self, study: optuna.Study) -> None:
        """Tell the matching runs already in the lake as trials (no simulation)."""
        candidates = self._warm_candidates()
        if not candidates:
            return
        stats = self._statistics([c[0] for c in candidates])
        number = max(self.records, default=-1) + 1
        for run_id, point in candidates:
            record = self._record(number, point, run_id=run_id, warm=True)
            self._finish(record, "warm", stats[run_id])
            study.add_trial(self._frozen(record))
            number += 1

    def _warm_candidates(self) -> list[tuple[str, dict[str, Any]]]:
        """``(run id, point)`` of the lake's runs this study could have asked for."""
        try:
            rows = self.lake.search(model=self.model.name, simulator=self.spec.simulator)
        except SchemaError:
            return []  # no run of this model yet
        if rows.empty or not set(self.spec.space) <= set(rows.columns):
            return []
        known = {r.get("run_id") for r in self.records.values()}
        candidates = []
        for run_id, row in rows.iterrows():
            point = self._point_of(row)
            # Same model hash, fixed parameters, seed and versions: the same run id.
            if point is not None and run_id not in known and self.run_id(point) == run_id:
                candidates.append((str(run_id), point))
        return candidates

    def _point_of(self, row: pd.Series) -> dict[str, Any] | None:
        """The space point of an index row, or None if the row is outside the space."""
        point = {}
        for name, dim in self.spec.space.items():
            value = row[name]
            if value is None or (isinstance(value, float) and math.isnan(value)):
                return None
            value = dim.normalise(value.item() if hasattr(value, "item") else value)
            if not _in_space(self.distributions[name], value):
                return None
            point[name] = value
        return point

    def _resume(self) -> list[dict[str, Any]]:
        """Finish what a killed invocation started; return the trials to ask again.

        A pending trial whose run reached the lake is analysed (no simulation); the
        others are asked again, same parameters.
        """
        pending = [r for n, r in sorted(self.records.items()) if r["state"] == "pending"]
        finished_now = [r for r in pending if r.get("run_id") and self.lake.has_run(r["run_id"])]
        for record in finished_now:
            stats = self._statistics([record["run_id"]])
            self._finish(record, "cached", stats[record["run_id"]])
        return [r for r in pending if r not in finished_now]

    def _optuna_study(self) -> optuna.Study:
        """The optuna study, told every finished trial (and the warm start, once)."""
        import optuna

        told = [r for n, r in sorted(self.records.items()) if r["state"] != "pending"]
        # A fresh seed per invocation: reseeding with the spec's seed would propose the
        # first points again after a resume (random, the start-up of TPE/GP/CMA-ES).
        seed = (self.spec.seed * 1_000_003 + len(self.records)) % 2**32  # numpy's range
        study = optuna.create_study(
            direction="minimize", sampler=make_sampler(self.spec, seed, len(told))
        )
        for record in told:
            study.add_trial(self._frozen(record))
        # Warm start before the first asked trial (again after a kill in the middle of
        # it: runs already told are skipped).
        if self.spec.warm_start and not any(not r.get("warm") for r in self.records.values()):
            self._warm_start(study)
        return study

    def _ask(self, study: optuna.Study, grid: list[dict[str, Any]]) -> tuple[Any, dict[str, Any]]:
        """Ask for a new trial (the next grid point, if any) and record it."""
        if grid:
            study.enqueue_trial(grid.pop(0), skip_if_exists=False)
        trial = study.ask(self.distributions)
        point = {k: self.spec.space[k].normalise(v) for k, v in trial.params.items()}
        number = max(self.records, default=-1) + 1
        return trial, self._record(number, point, run_id=self.run_id(point))

    @staticmethod
    def _tell(study: optuna.Study, batch: list[tuple[Any, dict[str, Any]]]) -> None:
        import optuna

        for trial, record in batch:
            if record["state"] == "complete":
                trial.set_user_attr("constraints", record.get("constraints", {}))
                study.tell(trial, float(record["objective"]))
            else:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)

    def _reached(self) -> bool:
        return self.spec.stop_at_target and any(r.get("in_target") for r in self.records.values())

    def result(self) -> ExploreResult:
        """What the study holds now."""
        return ExploreResult(
            study=self.id,
            spec=self.spec,
            lake=self.lake,
            records=[self.records[n] for n in sorted(self.records)],
            simulated=self.simulated,
            failed_runs=self.failed_runs,
        )

    def run(self, budget: int) -> None:
        """Ask, simulate, analyse and tell in batches of ``workers`` until ``budget``."""
        from tqdm.auto import tqdm

        studies.write_study(
            self.lake.path,
            self.id,
            {"spec": self.spec.identity(), "created": _now(), "strategy": self.spec.strategy},
        )
        retry = self._resume()
        asked = sum(1 for r in self.records.values() if not r.get("warm"))
        study = self._optuna_study()
        grid: list[dict[str, Any]] = []
        if self.spec.strategy == "grid":
            tried = [r["params"] for r in self.records.values()]
            grid = [p for p in _grid_points(self.spec) if p not in tried]
            budget = min(budget, asked + len(grid))  # each point once (asked has retries)
        bar = tqdm(total=budget, initial=min(asked, budget), desc=f"explore {self.id}",
                   unit="trial", disable=not self.progress, file=sys.stderr)  # fmt: skip
        with bar:
            while (retry or asked < budget) and (retry or not self._reached()):
                batch: list[tuple[Any, dict[str, Any]]] = []
                while retry and len(batch) < self.spec.workers:
                    record = retry.pop(0)
                    study.enqueue_trial(record["params"], skip_if_exists=False)
                    batch.append((study.ask(self.distributions), record))
                while len(batch) < self.spec.workers and asked < budget:
                    batch.append(self._ask(study, grid))
                    asked += 1
                self._run_batch([r for _, r in batch])
                self._tell(study, batch)
                bar.n = min(asked, budget)
                bar.refresh()


@contextlib.contextmanager
def _study_client(
    spec: ExploreSpec,
    scheduler: str | None,
    cluster: str | None,
    jobs: int | None,
    progress: bool,
) -> Iterator[Client | None]:
    """One dask client for all batches of a distributed study (None: local batches)."""
    if not scheduler and cluster != "slurm":
        yield None  # each batch starts its own local pool of threads
        return
    from opsnn_lake.cluster import dask_client

    with dask_client(
        scheduler=scheduler, cluster=cluster, slurm=spec.slurm,
        workers=jobs or spec.slurm.jobs, processes=False, work_dir=os.getcwd(),
        announce=None if progress else (lambda line: None),
    ) as client:  # fmt: skip
        yield client


def _spec_and_lake(
    spec: ExploreSpec | str | os.PathLike[str] | Mapping[str, Any],
    lake: Lake | str | os.PathLike[str],
) -> tuple[ExploreSpec, Lake]:
    if isinstance(spec, str | os.PathLike):
        spec = load_spec(spec)
    elif isinstance(spec, Mapping):
        spec = parse_spec(spec)
    if not isinstance(lake, Lake):
        lake = Lake(lake)
    lake._require_writable("explore (runs and trial records)")
    return spec, lake


def explore(
    spec: ExploreSpec | str | os.PathLike[str] | Mapping[str, Any],
    *,
    lake: Lake | str | os.PathLike[str] = "lake",
    budget: int | None = None,
    progress: bool = False,
    scheduler: str | None = None,
    cluster: str | None = None,
    jobs: int | None = None,
) -> ExploreResult:
    """Run (or resume) a study: let the lake's analyses choose the next parameters.

    Parameters
    ----------
    spec : ExploreSpec, path-like or mapping
        A spec from :func:`load_spec`, the path of a spec YAML file, or its data.
    lake : Lake or path-like
        Where the runs and the study's lineage go (created if missing).
    budget : int, optional
        Trials to have asked in total (default: the spec's); a study already at its
        budget returns its trials without running anything.
    progress : bool
        Show a tqdm progress bar (and a distributed cluster's dashboard address).
    scheduler : str, optional
        Address of a running dask scheduler for the simulations (its workers see the
        lake and the model at the same paths); default: ``workers`` local threads.
    cluster : {"local", "slurm"}, optional
        ``"slurm"``: the simulations run in SLURM jobs (the spec's ``slurm`` options, or
        ``slurm.yaml`` beside it), one cluster for the whole study.
    jobs : int, optional
        SLURM jobs (default: the options' ``jobs``).

    Returns
    -------
    ExploreResult
        ``.trials`` (DataFrame, failures included), ``.best_params``, the study id.

    Raises
    ------
    SchemaError
        For a bad spec (naming the key) or an objective population the runs lack.
    LakeReadOnlyError
        If ``lake`` was opened read-only (``mode="r"``): a study writes runs and trials.

    Examples
    --------
    >>> result = opsnn_lake.explore("simulate/va_explore.yaml", lake="lake")  # doctest: +SKIP
    >>> result.best_params                                                   # doctest: +SKIP
    {'g_exc': 4.5, 'g_inh': 60.0}
    >>> lake.search(study=result.study)                                      # doctest: +SKIP
    """
    spec, lake = _spec_and_lake(spec, lake)
    with _study_client(spec, scheduler, cluster, jobs, progress) as client:
        session = _Study(spec, lake, progress, scheduler, client)
        session.run(budget or spec.budget)
    return session.result()
