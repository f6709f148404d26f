"""Worked example: how inhibition shapes the Vogels-Abbott network, from the catalog to
figures.

Run from the repository root once the lake has runs of ``simulate/va.py`` at several
``g_inh`` (``opsnn-lake demo`` makes six: 2000 cells, g_inh 30/51/80 nS, two seeds)::

    python analyse/va_inhibition.py                      # figures in analyse/figures/
    python analyse/va_inhibition.py --x g_inh --hue n_pop --population exc

Everything below uses the public API only; edit it freely.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import intake

from opsnn_lake import analysis
from opsnn_lake.analysis.plots import plot_statistic, raster


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", default="catalogs/lake.yaml", help="intake catalog file")
    parser.add_argument("--model", default="va", help="model whose runs to analyse")
    parser.add_argument("--x", default="g_inh", help="parameter on the x axis")
    parser.add_argument("--hue", help="second parameter (one line per value)")
    parser.add_argument("--population", default="exc", help="population to analyse")
    parser.add_argument("--out", default="analyse/figures", help="folder for the PNGs")
    args = parser.parse_args(argv)
    out = Path(args.out)

    # 1. The lake as an intake catalog; a search gives a narrower catalog, nothing read.
    cat = intake.open_catalog(args.catalog)["lake"]
    runs = cat.search(model=args.model)
    print(f"{len(runs)} runs of {args.model!r} in {cat.lake_dir}")
    print(runs.df[[args.x, "seed", "n_units", "n_spikes"]].to_string())

    # 2. Statistics across all runs at once: lazy xarray objects on dask, one task per
    #    run and population; the run parameters are coordinates.
    start = time.perf_counter()
    stats = analysis.analyse(
        runs,
        ["rate", "cv", "fano", "correlation", "psd"],
        populations=args.population,
        options={"correlation": {"units": 100, "bin_size": 5.0}, "psd": {"bin_size": 1.0}},
        compute=True,  # one pass over the stores for all five statistics
    )
    print(f"\n5 statistics of {len(runs)} runs in {time.perf_counter() - start:.2f} s")
    print(analysis.summary_table(stats).to_string(float_format=lambda v: f"{v:.3g}"))

    # 3. xarray does the rest: e.g. the mean rate per inhibition strength.
    rate = stats["rate"].dataset["rate"]
    print(f"\nmean rate by {args.x}:")
    print(rate.groupby(args.x).mean().to_series().to_string())

    # 4. Figures: a raster of one run, and each statistic against the parameter.
    out.mkdir(parents=True, exist_ok=True)
    first = runs.run_ids()[0]
    raster(cat[first], path=out / "raster.png")
    for name in ("rate", "cv", "fano", "correlation"):
        value = stats[name].dataset[name]
        plot_statistic(value, args.x, hue=args.hue, path=out / f"{name}_vs_{args.x}.png")
    plot_statistic(stats["psd"].dataset["psd"], args.x, path=out / f"psd_by_{args.x}.png")
    print(f"\nfigures in {out}/: " + ", ".join(sorted(p.name for p in out.glob("*.png"))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
