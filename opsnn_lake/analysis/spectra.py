"""Power spectrum of the population rate (Welch's method).

:func:`rate_psd` is ``elephant.spectral.welch_psd`` of the population rate
(``elephant.statistics.time_histogram(trains, bin_size, output="rate")`` in Hz), with
elephant's choice of segment length: ``frequency_resolution`` if given, else
``len_segment``, else ``n_segments`` overlapping segments; ``scipy.signal.welch`` does
the work with the same arguments. The PSD is in Hz²/Hz (= Hz), one-sided, density
scaling.

All groups must share one frequency axis (same bin size and segment length): with
windows of different lengths, pass ``len_segment`` or ``frequency_resolution``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from opsnn_lake.analysis.binning import (
    check_bin_size,
    frequency_coord,
    histogram_tasks,
    hz_factor,
    normalise_histogram,
)
from opsnn_lake.analysis.plan import Plan
from opsnn_lake.analysis.selection import Selection, describe, select
from opsnn_lake.errors import SchemaError

if TYPE_CHECKING:
    import xarray as xr

    from opsnn_lake.lake import Lake

__all__ = ["rate_psd", "welch_segment"]

ATTRS = describe(
    "power spectral density of the population rate",
    "Hz**2/Hz",
    "elephant.spectral.welch_psd(time_histogram(output='rate'))",
)


def welch_segment(
    n_samples: int,
    fs: float,
    *,
    n_segments: int = 8,
    len_segment: int | None = None,
    frequency_resolution: float | None = None,
    overlap: float = 0.5,
) -> int:
    """``nperseg`` as :func:`elephant.spectral.welch_psd` chooses it.

    Raises
    ------
    SchemaError
        With elephant's conditions: overlap outside [0, 1), a non-positive or too fine
        resolution, a segment longer than the data, too many segments.
    """
    if not 0 <= overlap < 1:
        raise SchemaError(f"overlap={overlap}: must be in [0, 1)")
    if frequency_resolution is not None:
        if frequency_resolution <= 0:
            raise SchemaError("frequency_resolution must be positive")
        nperseg = int(fs / frequency_resolution)
        if nperseg > n_samples:
            raise SchemaError(
                f"frequency_resolution={frequency_resolution} Hz is too fine for "
                f"{n_samples} samples at {fs} Hz"
            )
    elif len_segment is not None:
        if len_segment <= 0:
            raise SchemaError("len_segment must be a positive number of samples")
        if n_samples < len_segment:
            raise SchemaError(f"len_segment={len_segment} exceeds the {n_samples} samples")
        nperseg = int(len_segment)
    else:
        if n_segments <= 0:
            raise SchemaError("n_segments must be a positive number")
        if n_samples < n_segments:
            raise SchemaError(f"n_segments={n_segments} exceeds the {n_samples} samples")
        nperseg = int(n_samples / (n_segments - overlap * (n_segments - 1)))
    return nperseg


def psd_block(rate_row: np.ndarray, fs: float, nperseg: int, options: dict[str, Any]) -> np.ndarray:
    """Welch PSD of one population rate (one task)."""
    import scipy.signal

    rate = rate_row[0]
    _, psd = scipy.signal.welch(
        rate,
        fs=fs,
        nperseg=nperseg,
        noverlap=int(nperseg * options["overlap"]),
        window=options["window"],
        nfft=options["nfft"],
        detrend=options["detrend"],
        return_onesided=True,
        scaling="density",
    )
    return psd[np.newaxis, :]


def rate_psd(
    runs: Any,
    *,
    lake: Lake | None = None,
    bin_size: Any = 1.0,
    n_segments: int = 8,
    len_segment: int | None = None,
    frequency_resolution: float | None = None,
    overlap: float = 0.5,
    window: str = "hann",
    nfft: int | None = None,
    detrend: str = "constant",
    t_start: Any = None,
    t_stop: Any = None,
    populations: str | Sequence[str] | None = None,
    segments: str | Sequence[str] | None = None,
) -> xr.DataArray:
    """Welch power spectral density of each group's population rate.

    Parameters
    ----------
    runs : lake.search() DataFrame, Lake, intake catalog, DataTree(s), run ids, RunSet
        The runs (see :func:`opsnn_lake.analysis.as_runset`).
    lake : Lake, optional
        The lake of a DataFrame or of run ids.
    bin_size : float or Quantity
        Bin width of the population rate (ms), default 1 ms (sampling at 1 kHz).
    n_segments, len_segment, frequency_resolution, overlap : optional
        Segment choice as in :func:`elephant.spectral.welch_psd` (``len_segment`` in
        samples, ``frequency_resolution`` in Hz); default 8 segments, half overlapping.
    window, nfft, detrend : optional
        Passed to :func:`scipy.signal.welch` (defaults ``"hann"``, None, ``"constant"``).
    t_start, t_stop : float or Quantity, optional
        Window (ms); default the trains' bounds.
    populations, segments : str or list of str, optional
        Restrict to these populations or segments (names or original labels).

    Returns
    -------
    xarray.DataArray
        ``psd`` (Hz²/Hz) on dims ``(group, frequency)`` (Hz); ``group`` indexes (run,
        segment, population) with the runs' parameters.

    Raises
    ------
    SchemaError
        On bad segment options, or groups whose spectra would have different frequency
        axes (pass ``len_segment`` or ``frequency_resolution``).
    """
    bin_ms = check_bin_size(bin_size)
    sel = select(runs, lake, populations=populations, segments=segments,
                 t_start=t_start, t_stop=t_stop)  # fmt: skip
    segment = {"n_segments": n_segments, "len_segment": len_segment,
               "frequency_resolution": frequency_resolution, "overlap": overlap}  # fmt: skip
    options = {"overlap": overlap, "window": window, "nfft": nfft, "detrend": detrend}
    params = (bin_ms, n_segments, len_segment, frequency_resolution, options, *sel.window)
    plan = Plan("psd", params, sel.groups)
    blocks, freqs = _psd_blocks(plan, sel, bin_ms, segment, options)
    attrs = {**ATTRS, "bin_size_ms": bin_ms}
    return sel.per_group(plan, blocks, attrs, {"frequency": frequency_coord(freqs)})


def _psd_blocks(
    plan: Plan, sel: Selection, bin_ms: float, segment: dict[str, Any], options: dict[str, Any]
) -> tuple[list[tuple[Any, ...]], np.ndarray]:
    """Per group, the task of its spectrum (from its population rate); the frequencies.

    Raises
    ------
    SchemaError
        On bad segment options, or groups whose spectra would differ in frequencies.
    """
    tasks, nbins_list, windows = histogram_tasks(plan, sel.groups, bin_ms, *sel.window)
    freqs: np.ndarray | None = None
    blocks = []
    for i, g in enumerate(sel.groups):
        hz = hz_factor(g.time_units)
        fs = (1 / windows[i][2]) * hz  # elephant: AnalogSignal.sampling_rate in Hz
        nperseg = welch_segment(nbins_list[i], fs, **segment)
        f = np.fft.rfftfreq(options["nfft"] or nperseg, 1 / fs)
        if freqs is None:
            freqs = f
        elif f.shape != freqs.shape or not np.allclose(f, freqs, rtol=1e-12, atol=0):
            raise SchemaError(
                f"{g.where()}: its spectrum has {f.size} frequencies up to {f[-1]} Hz, the "
                f"others {freqs.size} up to {freqs[-1]} Hz (windows of different length); "
                "pass len_segment= or frequency_resolution= for one frequency axis"
            )
        rate = plan.task(f"rate-{i}", normalise_histogram, tasks[i], g.n_units, windows[i][2],
                         hz, "rate", 0, nbins_list[i])  # fmt: skip
        blocks.append((psd_block, rate, fs, nperseg, options))
    return blocks, np.zeros(0) if freqs is None else freqs
