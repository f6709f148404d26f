"""Set-up cost of the Vogels-Abbott network: our runner against raw PyNEST.

Builds the 4000-cell VA network (simulate/va.py) through ``opsnn_lake``'s runner —
``sim.setup`` plus the model's ``build`` on ``pyNN.nest``, the runner's "build" timing —
and the same network written directly in PyNEST with NEST's own connection routines
(``pairwise_bernoulli``), each in a fresh process, alternating, several times; prints
the median of each and their ratio. Variants:

* ``runner``        rng="native" (NEST draws the synapses, as raw PyNEST does), with the
                    NEST back-end's deferred projection sources (opsnn_lake.simulators.nest);
* ``runner-eager``  the same with PyNN's own eager source collection
                    (OPSNN_NEST_EAGER_SOURCES=1): what the deferral saves;
* ``runner-numpy``  rng="numpy", the default, which reproduces the 2020 synapse counts
                    (connections drawn in Python, as PyNN does);
* ``raw``           PyNEST only.

Usage: ``python benchmarks/build.py [--n-pop 4000] [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

VARIANTS = ("raw", "runner", "runner-eager", "runner-numpy")


def raw_pynest(n_pop: int) -> float:
    """Build VA in PyNEST; return the seconds from kernel set-up to the last recorder."""
    os.environ.setdefault("PYNEST_QUIET", "1")
    import nest

    nest.set_verbosity("M_ERROR")
    start = time.perf_counter()
    nest.ResetKernel()
    nest.SetKernelStatus(
        {"resolution": 0.1, "local_num_threads": 1, "rng_seed": 42, "min_delay": 0.2,
         "max_delay": 10.0}
    )  # fmt: skip
    n_exc = round(n_pop * 4 / 5)
    # IF_cond_exp in PyNN units → iaf_cond_exp: cm 0.2 nF, tau_m 20 ms → g_L 10 nS.
    cells = nest.Create(
        "iaf_cond_exp",
        n_pop,
        params={"C_m": 200.0, "g_L": 10.0, "E_L": -60.0, "V_reset": -60.0, "V_th": -50.0,
                "t_ref": 5.0, "tau_syn_ex": 5.0, "tau_syn_in": 10.0, "E_ex": 0.0,
                "E_in": -80.0},
    )  # fmt: skip
    cells.V_m = nest.random.uniform(-60.0, -50.0)
    exc, inh = cells[:n_exc], cells[n_exc:]
    poisson = nest.Create("poisson_generator", 20, params={"rate": 10.0, "stop": 50.0})
    parrots = nest.Create("parrot_neuron", 20)  # one shared train per source, as PyNN
    nest.Connect(poisson, parrots, "one_to_one")
    rule = {"rule": "pairwise_bernoulli", "p": 0.01, "allow_autapses": True}
    nest.Connect(exc, cells, rule, {"weight": 4.0, "delay": 0.2})
    nest.Connect(inh, cells, rule, {"weight": -51.0, "delay": 0.2})
    nest.Connect(parrots, cells, rule, {"weight": 100.0, "delay": 0.2})
    spikes = nest.Create("spike_recorder")
    nest.Connect(cells, spikes)
    meter = nest.Create("multimeter", params={"record_from": ["V_m"], "interval": 0.1})
    nest.Connect(meter, exc[:2])
    return time.perf_counter() - start


def runner(n_pop: int, rng: str) -> float:
    """Build VA through the runner (1 ms simulated); return its "build" timing."""
    from opsnn_lake import Lake
    from opsnn_lake.simulators.runner import execute, plan_run

    with tempfile.TemporaryDirectory() as tmp:
        plan = plan_run("va", parameters={"n_pop": n_pop, "rng": rng, "tstop": 1.0})
        result = execute(plan, Lake(os.path.join(tmp, "lake")))
    return result.timings["build"]


def one(variant: str, n_pop: int) -> float:
    """Seconds of one variant in this process."""
    if variant == "raw":
        return raw_pynest(n_pop)
    return runner(n_pop, "numpy" if variant == "runner-numpy" else "native")


def measure(variant: str, n_pop: int) -> float:
    """Seconds of one variant in a fresh process."""
    env = {**os.environ, "PYNEST_QUIET": "1"}
    if variant == "runner-eager":
        env["OPSNN_NEST_EAGER_SOURCES"] = "1"
    out = subprocess.run(
        [sys.executable, __file__, "--one", variant, "--n-pop", str(n_pop)],
        capture_output=True, text=True, env=env, check=True,
    )  # fmt: skip
    return float(json.loads(out.stdout.strip().splitlines()[-1])["seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-pop", type=int, default=4000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--one", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps({"seconds": one(args.one, args.n_pop)}))
        return
    times: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for _ in range(args.repeat):
        for variant in VARIANTS:  # alternate, so load changes hit every variant alike
            times[variant].append(measure(variant, args.n_pop))
    med = {v: statistics.median(t) for v, t in times.items()}
    print(f"VA build, {args.n_pop} cells, median of {args.repeat} fresh processes:")
    for variant in VARIANTS:
        runs = ", ".join(f"{t:.2f}" for t in times[variant])
        ratio = med[variant] / med["raw"]
        print(f"  {variant:13s} {med[variant]:6.2f} s  ({ratio:4.2f}x raw PyNEST)  [{runs}]")
    print(f"runner / raw PyNEST = {med['runner'] / med['raw']:.2f} (target <= 1.5)")


if __name__ == "__main__":
    main()
