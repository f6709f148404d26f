"""Vogels-Abbott COBA benchmark network, as run by the OpSNN Brainhack (Marseille, 2020).

A sparse, randomly connected network of conductance-based leaky integrate-and-fire
neurons (``IF_cond_exp``) in the asynchronous-irregular regime: ``n_pop`` cells split
``r_ei``:1 into excitatory and inhibitory cells, every ordered pair connected with
probability ``pconn`` (autapses allowed), fixed conductance jumps ``g_exc`` / ``g_inh``
and one synaptic delay.  Twenty Poisson sources firing at 10 Hz for the first 50 ms give
the initial kick; afterwards activity is self-sustained (about 23 Hz with the defaults).

The network is built exactly as in the OpSNN notebooks (one population, two
``PopulationView`` s, projections exc→all and inh→all), so that with ``rng="numpy"`` and
``seed=98765`` on NEST it reproduces their 128066 exc→(e,i) and 32011 inh→(e,i)
synapses for ``n_pop=4000``.  The order of random draws matters and is kept:

1. one ``NumpyRNG(seed, parallel_safe=True)`` draws the initial ``v`` of all cells,
   uniform in [``v_reset``, ``v_thresh``];
2. the same RNG, held by one ``FixedProbabilityConnector``, draws the exc→all, then the
   inh→all connection matrix;
3. the stimulus projection uses its own ``NumpyRNG(stim_seed)``; 151985012 is the seed
   PyNN gives a connector created without ``rng``, as the notebooks did.

Poisson spike times come from the simulator's kernel RNG (``rng_seed`` in
:data:`SIMULATOR_SETTINGS`), so firing rates match the original only statistically.

Parameters are in PyNN units except conductances, which are in nS (converted to µS).

References
----------
.. [1] Vogels TP, Abbott LF (2005). Signal propagation and logic gating in networks of
   integrate-and-fire neurons. J Neurosci 25(46):10786-10795.
.. [2] Brette R et al. (2007). Simulation of networks of spiking neurons: a review of
   tools and strategies. J Comput Neurosci 23(3):349-398 (benchmark 2, COBA).
.. [3] PyNN, ``examples/VAbenchmarks.py``, https://github.com/NeuralEnsemble/PyNN
.. [4] Vergani A, Perrinet L, Sprenger J et al. OpSNN: Optimized Pipeline for Spiking
   Neural Networks, Brainhack Marseille 2020 (project 7),
   https://github.com/SpikeAI/2020-12_brainhack_Project7 (``benchmark/A_simple_net.ipynb``;
   README reports 128066 / 32011 synapses, 23.16 / 21.77 Hz with PyNN 0.9.5 + NEST 2).
"""

from __future__ import annotations

import logging
from types import ModuleType
from typing import TYPE_CHECKING, Any

from pyNN.random import NumpyRNG, RandomDistribution

if TYPE_CHECKING:
    from pyNN.common import BasePopulation, Projection

logger = logging.getLogger(__name__)

NAME = "va"

PARAMETERS: dict[str, float | int | str] = {
    # --- network -------------------------------------------------------------------
    "n_pop": 4000,  # total number of cells
    "r_ei": 4.0,  # n_exc : n_inh
    "pconn": 0.01,  # connection probability, every pre/post pair (autapses allowed)
    "g_exc": 4.0,  # (nS) excitatory conductance jump
    "g_inh": 51.0,  # (nS) inhibitory conductance jump
    "delay": 0.2,  # (ms) synaptic delay; the runner also uses it as min_delay
    # --- simulation ----------------------------------------------------------------
    "dt": 0.1,  # (ms)
    "tstop": 1000.0,  # (ms)
    "seed": 98765,  # NumpyRNG seed for v init and connectivity
    "rng": "numpy",  # "numpy": reproduces the counts; "native": NEST draws the synapses
    # --- cells (IF_cond_exp) -------------------------------------------------------
    "cm": 0.2,  # (nF) 1 µF/cm² x 20000 µm², so tau_m = cm * Rm with g_leak 5e-5 S/cm²
    "tau_m": 20.0,  # (ms)
    "v_rest": -60.0,  # (mV) E_leak
    "v_reset": -60.0,  # (mV)
    "v_thresh": -50.0,  # (mV)
    "tau_refrac": 5.0,  # (ms)
    "tau_syn_e": 5.0,  # (ms)
    "tau_syn_i": 10.0,  # (ms)
    "e_rev_e": 0.0,  # (mV)
    "e_rev_i": -80.0,  # (mV)
    # --- initial kick --------------------------------------------------------------
    "n_stim": 20,  # Poisson sources
    "stim_rate": 10.0,  # (Hz)
    "stim_duration": 50.0,  # (ms)
    "stim_pconn": 0.01,  # source -> cell connection probability
    "g_stim": 100.0,  # (nS) the notebooks' weight=0.1 µS
    "stim_seed": 151985012,  # PyNN's default connector seed, which the notebooks relied on
    # --- recording -----------------------------------------------------------------
    "n_record_v": 2,  # membrane potential of the first n excitatory cells
    "record_stim": 0,  # 1: also record and return the Poisson sources as "ext"
}

#: Units of the parameters that have one; tables, plot axes and the catalog show them.
UNITS: dict[str, str] = {
    "g_exc": "nS",
    "g_inh": "nS",
    "g_stim": "nS",
    "delay": "ms",
    "dt": "ms",
    "tstop": "ms",
    "cm": "nF",
    "tau_m": "ms",
    "v_rest": "mV",
    "v_reset": "mV",
    "v_thresh": "mV",
    "tau_refrac": "ms",
    "tau_syn_e": "ms",
    "tau_syn_i": "ms",
    "e_rev_e": "mV",
    "e_rev_i": "mV",
    "stim_rate": "Hz",
    "stim_duration": "ms",
}

SIMULATOR_SETTINGS: dict[str, dict[str, Any]] = {
    # threads=1 and max_delay=10 as in the notebooks; rng_seed=42 is PyNN's default, made
    # explicit because it drives the Poisson sources (and the synapses with rng="native").
    "nest": {"threads": 1, "max_delay": 10.0, "rng_seed": 42},
    # sPyNNaker slows dt=0.1 ms down 10x by itself (the notebooks relied on that).
    "spinnaker": {},
}

_UNITS_NS_TO_US = 1e-3  # PyNN conductance-based weights are in µS


def _backend(sim: ModuleType) -> str:
    """Return ``"spinnaker"`` for sPyNNaker, else the PyNN back-end's short name.

    Parameters
    ----------
    sim : module
        The PyNN simulator module, e.g. ``pyNN.nest``.

    Returns
    -------
    str
        Lower-case back-end name, e.g. ``"nest"``.
    """
    name = sim.__name__.rsplit(".", 1)[-1].lower()
    return "spinnaker" if "spinnaker" in name else name


def _check_params(params: dict[str, Any]) -> dict[str, Any]:
    """Merge `params` over :data:`PARAMETERS` and validate them.

    Parameters
    ----------
    params : dict
        Possibly partial parameter set.

    Returns
    -------
    dict
        The complete parameter set.

    Raises
    ------
    ValueError
        On an unknown key (likely a typo), an unknown ``rng`` or too few cells.
    """
    unknown = set(params) - set(PARAMETERS)
    if unknown:
        raise ValueError(f"unknown parameter(s) for {NAME}: {sorted(unknown)}")
    p = {**PARAMETERS, **params}
    if p["rng"] not in ("numpy", "native"):
        raise ValueError(f"rng must be 'numpy' or 'native', not {p['rng']!r}")
    if int(p["n_pop"]) < 2:
        raise ValueError("n_pop must be at least 2")
    return p


def build_network(
    sim: ModuleType, params: dict[str, Any]
) -> tuple[dict[str, BasePopulation], dict[str, Projection]]:
    """Build the network and return its populations and projections.

    Parameters
    ----------
    sim : module
        A PyNN simulator module on which ``setup`` has already been called.
    params : dict
        Parameters overriding :data:`PARAMETERS` (see there for names and units).

    Returns
    -------
    populations : dict of str to BasePopulation
        ``"exc"`` and ``"inh"`` (views of one population), plus ``"ext"`` if
        ``record_stim``.
    projections : dict of str to Projection
        ``"exc"`` (exc→all), ``"inh"`` (inh→all) and ``"ext"`` (Poisson→all); count
        synapses with ``len(prj)`` or ``prj.size()``.

    Notes
    -----
    On sPyNNaker a seeded RNG in a connector or initial value is rejected by default
    (``error_on_non_spynnaker_pynn``), so there the connectivity and ``v`` are always
    drawn on the board from the population seed ``seed``; ``rng`` then only matters on
    NEST and the synapse counts will differ from the reference.
    """
    p = _check_params(params)
    backend = _backend(sim)
    n_pop = int(p["n_pop"])
    n_exc = round(n_pop * p["r_ei"] / (1 + p["r_ei"]))  # rounded as in the notebooks
    seed = int(p["seed"])

    cell = sim.IF_cond_exp(
        cm=p["cm"],
        tau_m=p["tau_m"],
        v_rest=p["v_rest"],
        v_reset=p["v_reset"],
        v_thresh=p["v_thresh"],
        tau_refrac=p["tau_refrac"],
        tau_syn_E=p["tau_syn_e"],
        tau_syn_I=p["tau_syn_i"],
        e_rev_E=p["e_rev_e"],
        e_rev_I=p["e_rev_i"],
    )
    on_board = backend == "spinnaker"
    extra = {"additional_parameters": {"seed": seed}} if on_board else {}
    # One population with two views, not two populations: the reference connection
    # matrices are (n_exc x n_pop) and (n_inh x n_pop), drawn column by column.
    all_cells = sim.Population(n_pop, cell, label=f"{NAME}_all", **extra)
    exc = sim.PopulationView(all_cells, slice(0, n_exc), label="exc")
    inh = sim.PopulationView(all_cells, slice(n_exc, n_pop), label="inh")
    stim = sim.Population(
        int(p["n_stim"]),
        sim.SpikeSourcePoisson(rate=p["stim_rate"], duration=p["stim_duration"]),
        label="ext",
    )

    # v first: it consumes the first n_pop numbers of the stream the connector reuses.
    # NEST's NativeRNG cannot initialise state variables, so v always uses NumpyRNG.
    v_rng = None if on_board else NumpyRNG(seed=seed, parallel_safe=True)
    all_cells.initialize(
        v=RandomDistribution("uniform", low=p["v_reset"], high=p["v_thresh"], rng=v_rng)
    )

    if on_board:
        conn_rng = stim_rng = None  # generated on the board
        logger.info("sPyNNaker draws v and synapses on the board (seed %d); rng ignored", seed)
    elif p["rng"] == "native":
        # NEST's pairwise_bernoulli, seeded by the kernel rng_seed, not by `seed`.
        conn_rng = stim_rng = sim.NativeRNG(seed=seed)
    else:
        conn_rng = v_rng  # shared on purpose: the reference counts depend on it
        stim_rng = NumpyRNG(seed=int(p["stim_seed"]), parallel_safe=True)

    connector = sim.FixedProbabilityConnector(p["pconn"], rng=conn_rng)
    delay = p["delay"]
    projections = {
        "exc": sim.Projection(
            exc,
            all_cells,
            connector,
            sim.StaticSynapse(weight=p["g_exc"] * _UNITS_NS_TO_US, delay=delay),
            receptor_type="excitatory",
            label="exc",
        ),
        "inh": sim.Projection(
            inh,
            all_cells,
            connector,
            sim.StaticSynapse(weight=p["g_inh"] * _UNITS_NS_TO_US, delay=delay),
            receptor_type="inhibitory",
            label="inh",
        ),
        "ext": sim.Projection(
            stim,
            all_cells,
            sim.FixedProbabilityConnector(p["stim_pconn"], rng=stim_rng),
            sim.StaticSynapse(weight=p["g_stim"] * _UNITS_NS_TO_US, delay=delay),
            receptor_type="excitatory",
            label="ext",
        ),
    }

    # Spikes of every cell; v of a few exc cells only, since v traces dominate the data.
    all_cells.record("spikes")
    if int(p["n_record_v"]) > 0:
        exc[: int(p["n_record_v"])].record("v")
    populations: dict[str, BasePopulation] = {"exc": exc, "inh": inh}
    if int(p["record_stim"]):
        stim.record("spikes")
        populations["ext"] = stim
    return populations, projections


def build(sim: ModuleType, params: dict[str, Any]) -> dict[str, BasePopulation]:
    """Build the network on an already set-up simulator; do not run it.

    Parameters
    ----------
    sim : module
        A PyNN simulator module on which ``setup(timestep=params["dt"],
        min_delay=params["delay"], **SIMULATOR_SETTINGS[backend])`` was called.
    params : dict
        Parameters overriding :data:`PARAMETERS`.

    Returns
    -------
    dict of str to BasePopulation
        The recorded populations, keyed by label: ``"exc"``, ``"inh"`` and, if
        ``record_stim``, ``"ext"``.
    """
    populations, _ = build_network(sim, params)
    return populations
