"""A moving bump of activity on a square grid of Poisson spike sources (an input run).

Each source sits at the centre of a cell ``(x, y)`` of a ``side`` x ``side`` grid and fires
as an inhomogeneous Poisson process whose rate is a Gaussian bump (peak ``peak_rate``,
width ``sigma`` cells) over a ``background_rate``, centred on a point that moves in a
straight line at ``speed`` cells/ms in direction ``direction`` (degrees, 0 = +x) from
(``x0``, ``y0``), wrapping around the edges when ``periodic``. Spike times are drawn per
``dt`` bin with a NumPy generator seeded by ``seed`` and put on a ``resolution`` grid
(the network's time step), strictly after 0 so every simulator accepts them.

Run it into the lake (it becomes an ``input`` run with its own id)::

    from opsnn_lake.simulators import run_model
    run_model("moving_bump", simulator=None, parameters={"side": 16}, seed=1)

or name it under ``inputs:`` in a sweep spec (see ``v1_sheet_sweep.yaml``).
"""

from __future__ import annotations

from typing import Any

import neo
import numpy as np
import quantities as pq

NAME = "moving_bump"
KIND = "input"

PARAMETERS: dict[str, float | int] = {
    "side": 16,  # grid cells per side: side**2 sources
    "duration": 500.0,  # (ms)
    "dt": 1.0,  # (ms) rate bins
    "resolution": 0.1,  # (ms) spike-time grid, the network's time step
    "speed": 0.03,  # (cells/ms) bump speed, 30 cells/s
    "direction": 0.0,  # (degrees) 0 = +x, 90 = +y
    "x0": 2.0,  # (cells) start of the bump centre
    "y0": 8.0,  # (cells)
    "sigma": 1.5,  # (cells) bump width (Gaussian s.d.)
    "peak_rate": 200.0,  # (Hz) at the bump centre
    "background_rate": 2.0,  # (Hz) everywhere
    "periodic": 1,  # 1: the bump wraps around the edges
    "seed": 1,
}


def bump_rates(params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rates (Hz) of every source in every bin, and the sources' grid positions.

    Returns
    -------
    rates : ndarray, shape (n_bins, side**2)
    x, y : ndarray of int, shape (side**2,)
        Column and row of each source (source ``i`` is at ``x = i % side``,
        ``y = i // side``).
    """
    side = int(params["side"])
    n_bins = round(float(params["duration"]) / float(params["dt"]))
    idx = np.arange(side * side)
    x, y = idx % side, idx // side
    t = (np.arange(n_bins) + 0.5) * float(params["dt"])
    angle = np.deg2rad(float(params["direction"]))
    cx = float(params["x0"]) + float(params["speed"]) * t * np.cos(angle)
    cy = float(params["y0"]) + float(params["speed"]) * t * np.sin(angle)
    dx = (x + 0.5)[None, :] - cx[:, None]
    dy = (y + 0.5)[None, :] - cy[:, None]
    if int(params["periodic"]):
        dx = (dx + side / 2) % side - side / 2  # shortest way round the torus
        dy = (dy + side / 2) % side - side / 2
    bump = np.exp(-(dx**2 + dy**2) / (2 * float(params["sigma"]) ** 2))
    rates = float(params["background_rate"]) + float(params["peak_rate"]) * bump
    return rates, x, y


def generate(params: dict[str, Any]) -> neo.Block:
    """Draw the spike trains; return them as a Block (population ``"bump"``).

    Each train carries ``x`` and ``y`` (grid cell) annotations; the Block's annotations
    hold ``side`` so a network can lay the sources out on its own sheet, and the grid's
    ``structure`` (shape, extent in grid cells, periodic) as the lake keeps PyNN's.
    """
    rates, x, y = bump_rates(params)
    dt = float(params["dt"])
    res = float(params["resolution"])
    duration = float(params["duration"])
    rng = np.random.default_rng(int(params["seed"]))
    fires = rng.random(rates.shape) < rates * dt * 1e-3
    jitter = rng.random(rates.shape)
    steps_per_bin = max(round(dt / res), 1)
    side = int(params["side"])
    structure = {
        "type": "grid",
        "shape": [side, side],
        "extent": [[-0.5, side - 0.5], [-0.5, side - 0.5]],  # source x sits at x (cells)
        "periodic": bool(int(params["periodic"])),
    }
    block = neo.Block(name=NAME, side=side, generator=NAME, structure=structure)
    seg = neo.Segment(name="bump", index=0)
    for i in range(rates.shape[1]):
        bins = np.flatnonzero(fires[:, i])
        steps = bins * steps_per_bin + np.floor(jitter[bins, i] * steps_per_bin).astype(int)
        # Step k covers (k*res, (k+1)*res]: a spike in the first step is at res, not 0.
        k = np.unique(np.minimum(steps + 1, round(duration / res)))
        times = np.round(k * res, 9)  # nearest double to the grid point, as simulators expect
        train = neo.SpikeTrain(
            times * pq.ms,
            t_start=0.0 * pq.ms,
            t_stop=duration * pq.ms,
            source_population="bump",
            source_index=i,
            x=int(x[i]),
            y=int(y[i]),
        )
        seg.spiketrains.append(train)
    block.segments.append(seg)
    seg.block = block
    return block
