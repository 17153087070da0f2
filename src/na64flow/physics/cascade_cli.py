"""Tabulate the e+ and e- track lengths of the electromagnetic shower in the lead ECAL (cascade MC).

Runs the one-dimensional cascade of na64flow.physics.cascade for one beam particle and energy and
writes the differential track lengths T(E, depth) (X0 per beam particle, in energy x depth bins) to an
.npz file, read by the `signal` step (resonant annihilation needs the shower positrons) and by the
signal simulation. Settings: the `signal.cascade` section of the configuration.
"""

from __future__ import annotations

import argparse

import numpy as np

from .. import NA64Error, config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    config.add_config_arguments(parser)
    parser.add_argument("--beam", required=True, choices=("e-", "e+"), help="beam particle")
    parser.add_argument("--energy-gev", type=float, required=True, help="beam energy in GeV")
    parser.add_argument("--out", required=True, help="output .npz (results/<tag>/cache/tracklength_<beam>_<E>.npz)")


def run(args: argparse.Namespace) -> int:
    from ..signal import compute_table

    cfg = config.config_from_args(args)
    if not args.energy_gev > 0:
        raise NA64Error(f"--energy-gev must be positive, got {args.energy_gev}")
    table = compute_table(cfg, args.beam, args.energy_gev, progress=True)
    table.save(args.out)
    e = table.energy_centers_gev
    t_pos = table.per_energy("e+")
    t_ele = table.per_energy("e-")
    print(f"{args.out}: {table.source}; beam {args.beam} {args.energy_gev:g} GeV")
    for lo in (1.0, 10.0, 0.5 * args.energy_gev):
        sel = e > lo
        print(f"  track length above {lo:g} GeV: e- {t_ele[sel].sum():.4g} X0, e+ {t_pos[sel].sum():.4g} X0")
    if np.isfinite(table.deposited_gev):
        print(f"  mean deposited energy per primary: {table.deposited_gev:.4g} GeV")
    return 0
