"""eta and eta' production by charge exchange of the pi- beam in the lead active target (NA64h).

P_M = probability per pion on target that a meson M (eta or eta') is produced by charge exchange
pi- p -> M n on a proton of the target, carrying ~all the beam energy (physics.md §3: then
Br(M -> inv) < N_up / (N_piOT P_M eps_M)). Treatment:

* Free-proton cross sections at p = 50 GeV/c [est from GAMS/PROZA-era data, see below]:
  sigma(pi- p -> eta n) = 6.0 ub and sigma(pi- p -> eta' n) = 3.3 ub. The measured 40 GeV/c values
  are of this size (GAMS: eta ~ 7 ub at 38-40 GeV/c, eta'/eta ~ 0.5-0.6 [lit, Apel et al., Phys. Lett.
  B 83 (1979) 131; Alde et al. (GAMS) Z. Phys. C 36 (1987) 603]); Regge exchange (a2 trajectory) falls
  as p^(2 alpha(0) - 2) ~ p^-0.9, scaling 40 -> 50 GeV/c by ~0.82 [est]. Quoted here from memory of
  those papers: an O(30%) uncertainty is appropriate.
* Nucleus: sigma_A = sigma_p Z A^(alpha - 1) with alpha = 0.75 [est]: an exclusive, forward
  charge-exchange on one of Z protons, with absorption of the incoming pion and the outgoing meson
  and neutron in the nucleus reducing the per-nucleon rate as A^(alpha-1) (the A^0.75 scaling of
  quasi-elastic peripheral processes, e.g. GAMS and E852 nuclear-target data [est]).
* Beam attenuation: pions interact with lambda_I = 17.59 cm of lead [lit, PDG], so the effective
  target length is L_eff = lambda_I (1 - exp(-L/lambda_I)) for the L = 40 X0 = 22.4 cm ECAL [est:
  the ECAL as pure lead].
P_M = n_atoms sigma_A L_eff. Meson kinematics for the simulation: :mod:`.sampling`.
"""

from __future__ import annotations

import math

from .. import NA64Error
from .constants import (
    ECAL_DEPTH_X0,
    M_ETA_GEV,
    M_ETAPRIME_GEV,
    PB_A,
    PB_LAMBDA_I_CM,
    PB_N_ATOMS_CM3,
    PB_X0_CM,
    PB_Z,
    UB_TO_CM2,
)

SIGMA_CEX_50GEV_UB = {"eta": 6.0, "etaprime": 3.3}    # [est] GAMS/PROZA-era values scaled to 50 GeV/c
NUCLEAR_ALPHA = 0.75                                  # [est] A^alpha scaling of the exclusive process
MESON_MASS_GEV = {"eta": M_ETA_GEV, "etaprime": M_ETAPRIME_GEV}
REFERENCE_MOMENTUM_GEV = 50.0
REGGE_POWER = -0.9                                    # [est] sigma ~ p^(2 alpha_a2(0) - 2), alpha_a2(0) ~ 0.55


def sigma_proton_ub(meson: str, p_gev: float = REFERENCE_MOMENTUM_GEV) -> float:
    """sigma(pi- p -> M n) in microbarn at beam momentum ``p_gev`` (Regge-scaled from 50 GeV/c) [est]."""
    if meson not in SIGMA_CEX_50GEV_UB:
        raise NA64Error(f"unknown meson '{meson}'; known: {', '.join(SIGMA_CEX_50GEV_UB)}")
    return SIGMA_CEX_50GEV_UB[meson] * (p_gev / REFERENCE_MOMENTUM_GEV) ** REGGE_POWER


def sigma_nucleus_cm2(meson: str, p_gev: float = REFERENCE_MOMENTUM_GEV, z: int = PB_Z, a_mass: float = PB_A,
                      alpha: float = NUCLEAR_ALPHA) -> float:
    """sigma(pi- A -> M X) per nucleus in cm^2: sigma_p Z A^(alpha - 1)."""
    return sigma_proton_ub(meson, p_gev) * UB_TO_CM2 * z * a_mass ** (alpha - 1.0)


def effective_length_cm(length_cm: float = ECAL_DEPTH_X0 * PB_X0_CM, lambda_cm: float = PB_LAMBDA_I_CM) -> float:
    """Pion-attenuated target length lambda (1 - exp(-L/lambda)) in cm."""
    return lambda_cm * (1.0 - math.exp(-length_cm / lambda_cm))


def production_probability(meson: str, p_gev: float = REFERENCE_MOMENTUM_GEV, alpha: float = NUCLEAR_ALPHA) -> float:
    """P_M per pion on target = n_atoms sigma_A L_eff (module docstring)."""
    return PB_N_ATOMS_CM3 * sigma_nucleus_cm2(meson, p_gev, alpha=alpha) * effective_length_cm()
