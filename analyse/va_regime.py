"""Worked example: find asynchronous-irregular (AI) parameters of the Vogels-Abbott
network and draw its regime map from the lake.

Run from the repository root::

    python analyse/va_regime.py                         # spec simulate/va_explore.yaml
    python analyse/va_regime.py --map-points 5 --budget 20

1. (optional) a coarse sweep of the (g_exc, g_inh) box puts a first map in the lake;
2. ``opsnn_lake.explore`` searches the box for AI firing (exc rate near the target, ISI
   CV near 1), warm-started from those runs; every trial is a run in the lake;
3. the lake answers: the study's runs with their lineage, the AI candidates, and the
   regime map (every run of this network in the lake, coloured by rate and by CV, the
   trials on top, the target region outlined). Figures go to ``analyse/figures/``.

Interrupt it at any time and run it again: the study resumes from the lake. Everything
below uses the public API only; edit it freely.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import opsnn_lake
from opsnn_lake.explorer import load_spec
from opsnn_lake.sweep import SweepSpec, run_sweep


def coarse_sweep(spec: opsnn_lake.explorer.ExploreSpec, lake: opsnn_lake.Lake, n: int) -> None:
    """A sweep of n values per axis of the spec's lattice, evenly spread, into the lake."""
    grid = {}
    for name, dim in spec.space.items():
        values = dim.grid()
        picks = sorted({round(i * (len(values) - 1) / max(n - 1, 1)) for i in range(n)})
        grid[name] = [values[i] for i in picks]
    sweep = SweepSpec(
        model=spec.model, simulator=spec.simulator, parameters=spec.parameters, grid=grid,
        seeds=[spec.run_seed], settings=spec.settings, timeout=spec.timeout,
        workers=spec.workers, path=spec.path,
    )  # fmt: skip
    report = run_sweep(sweep, lake, progress=False)
    print(f"coarse map: {report.counts()}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default="simulate/va_explore.yaml", help="explore spec")
    parser.add_argument("--lake", default="lake", help="the lake")
    parser.add_argument("--budget", type=int, help="trials (default: the spec's)")
    parser.add_argument("--map-points", type=int, default=4, help="coarse sweep: n x n (0: none)")
    parser.add_argument("--out", default="analyse/figures", help="folder for the PNGs")
    args = parser.parse_args(argv)
    out = Path(args.out)
    lake = opsnn_lake.Lake(args.lake)
    spec = load_spec(args.spec, budget=args.budget)

    # 1. A coarse map first (runs already in the lake cost nothing).
    if args.map_points:
        coarse_sweep(spec, lake, args.map_points)

    # 2. The search: the analyses of each batch choose the next one.
    result = opsnn_lake.explore(spec, lake=lake, progress=True)
    print(f"\nstudy {result.study}: {len(result.trials)} trials, {result.simulated} simulated now")
    cols = [*spec.space, "status", "rate", "cv", "objective", "in_target"]
    print(result.trials[cols].to_string(float_format=lambda v: f"{v:.3g}"))

    # 3. The lake answers: lineage of the study's runs, and the AI candidates.
    runs = lake.search(study=result.study)
    print(f"\n{len(runs)} runs of the study in the lake, e.g.:")
    print(runs[[*spec.space, "trial", "strategy", "objective"]].head().to_string())
    ai = result.trials[result.trials["in_target"]]
    print(f"\nAI candidates ({spec.objective.describe()}): {len(ai)}")
    if len(ai):
        print(ai[[*spec.space, "rate", "cv"]].to_string(float_format=lambda v: f"{v:.3g}"))
    print(f"best parameters: {result.best_params}")

    # 4. Figures: the search's progress and the regime map by rate and by CV.
    result.plot_progress(out / "explore_progress.png")
    for stat in ("rate", "cv"):
        result.plot_plane(statistic=stat, path=out / f"regime_{stat}.png")
    print(f"\nfigures in {out}/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
