"""Worked example: travelling waves on the V1 sheet, from the catalog to a movie.

Run from the repository root once the lake has runs of ``simulate/v1_sheet.py`` at
several ``lambda_exc`` and ``g_inh`` (``opsnn-lake sweep simulate/v1_sheet_sweep.yaml``
makes twelve, driven by one moving bump), then ``opsnn-lake catalog``::

    python analyse/v1_waves.py                     # figures and movie in analyse/figures/
    python analyse/v1_waves.py --bin 2 --window 100

Everything below uses the public API only; edit it freely.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import intake
import numpy as np

from opsnn_lake import Lake, analysis
from opsnn_lake.analysis.movies import activity_movie, movie_frame, wave_statistic
from opsnn_lake.analysis.plots import plot_statistic


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", default="catalogs/lake.yaml", help="intake catalog file")
    parser.add_argument("--population", default="exc", help="population to map")
    parser.add_argument("--bin", type=float, default=5.0, help="time bin of the maps (ms)")
    parser.add_argument("--window", type=float, help="velocity window (ms; default: whole run)")
    parser.add_argument("--out", default="analyse/figures", help="folder for figures and movie")
    args = parser.parse_args(argv)
    out = Path(args.out)

    # 1. The sheet runs of the lake, from its intake catalog (nothing read yet).
    cat = intake.open_catalog(args.catalog)["lake"]
    runs = cat.search(model="v1_sheet")
    print(f"{len(runs)} runs of 'v1_sheet' in {cat.lake_dir}")
    print(runs.df[["lambda_exc", "g_inh", "seed", "n_spikes"]].to_string())

    # 2. Activity maps (run, time, y, x) on the cells' grid, lazily, one task per run;
    #    then the wave velocity and the spatial correlation from them.
    start = time.perf_counter()
    maps = analysis.activity_map(runs, population=args.population, bin=args.bin)
    velocity = analysis.wave_velocity(maps, window=args.window)
    corr = analysis.spatial_correlation(maps, window=args.window)
    velocity, corr = velocity.compute(), corr.compute()
    print(f"\nactivity maps and wave velocity of {len(runs)} runs in "
          f"{time.perf_counter() - start:.2f} s")  # fmt: skip

    # 3. xarray does the rest: wave speed by the two parameters (NaN: no wave found).
    speed = velocity["speed"].mean("window")
    table = speed.to_dataframe(name="speed")[["lambda_exc", "g_inh", "speed"]]
    print("\nwave speed (um/ms) by lambda_exc and g_inh:")
    print(table.groupby(["lambda_exc", "g_inh"])["speed"].mean().unstack().round(2).to_string())
    near = corr.isel(distance=0).mean("window")
    print(f"\ncorrelation of neighbouring pixels: {float(near.mean()):.3f} "
          f"(at {float(corr.distance[0]):.0f} um)")  # fmt: skip

    # 4. Figures: wave speed over (lambda_exc, g_inh), and a movie of the fastest run.
    out.mkdir(parents=True, exist_ok=True)
    value = wave_statistic(runs, "wave_speed", population=args.population, bin=args.bin)
    plot_statistic(value, "lambda_exc", y="g_inh", path=out / "wave_speed.png")
    fastest = int(np.argmax(np.nan_to_num(speed.values, nan=-np.inf)))
    run = str(speed.run.values[fastest])
    lake = Lake(cat.lake_dir, create=False)  # the lake behind the catalog: one run's movie
    show = {"lake": lake, "population": args.population, "bin": args.bin}
    movie = activity_movie(run, path=out / f"{run}.gif", **show)
    when = float(maps.time[maps.sizes["time"] // 3])
    movie_frame(run, time=when, path=out / "wave_frame.png", **show)
    print(f"\nwrote {out / 'wave_speed.png'}, {movie} and {out / 'wave_frame.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
