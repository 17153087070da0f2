"""eta and eta' production by charge exchange of the pi- beam in the active target (NA64h).

P_M = probability per pion on target that a meson M (eta or eta') is produced by exclusive charge
exchange pi- p -> M n on a proton of the target and leaves it with ~all the beam energy (physics.md §3:
Br(M -> inv) < N_up / (N_piOT P_M eps_M)). Treatment:

* Free-proton cross section of pi- p -> eta n (issue 12): the parametrisation of the measured pi- p
  charge-exchange data by V. Lyubovitskij (NA64 collaboration), as implemented in Geant4
  ``G4ChargeExchangeXS`` (source/processes/hadronic/cross_sections/src/G4ChargeExchangeXS.cc, Geant4
  11.2+; V. Ivanchenko, T. L. Chau 2023) [lit]:
      sigma(pi- p -> M n) = A x^-(2-2alpha') (1 + g0 + g1 ln x) / (c0 + c1 ln x)  ub,   x = s / (10 GeV^2),
  eta: A = 36, 2 - 2alpha' = 1.26, g0 = 4.6, g1 = -0.5, c0 = 6.0, c1 = 1.6, i.e. 0.99 ub at 50 GeV/c,
  1.4 ub at 40 GeV/c, 6.2 ub at 15 GeV/c, 25 ub at 6 GeV/c (an A2-exchange fall ~ p^-1.5). The earlier
  [est] 6.0 ub at 50 GeV/c (from memory of GAMS/Apel et al., "7 ub at 38-40 GeV/c") fails that Regge fall
  from the few-GeV values by a factor 3-5 (likely a dsigma/dt(0) in ub/GeV^2 read as ub): replaced.
  The measured tables (GAMS, Alde et al., Z. Phys. C 36 (1987) 603; Apel et al., Phys. Lett. B 83 (1979)
  131; Dahl et al., PRL 37 (1976) 80, 20-200 GeV) were not readable in our sources.
* eta': sigma(eta') = R sigma(eta) with R = 0.55 [est]: quark-flavour mixing gives R ~ tan^2(phi) = 0.67
  (phi = 39.3 deg, Feldmann-Kroll-Stech [lit]) before the t_min/phase-space suppression of the heavier
  eta'; 0.55 is the GAMS eta'/eta ratio as remembered (not readable here). The same Geant4 parametrisation
  gives 0.029 ub for eta' (R = 0.03), against the mixing estimate by 20x (the
  choice rests on the mixing argument only; a published limit is never an input): not adopted for eta'.
* Nuclei: an exclusive process needs the incoming pion and the outgoing meson to cross the nucleus
  without an inelastic interaction (which would make visible hadrons). Glauber-type effective proton
  number (incoherent, optical limit) [lit: Glauber; e.g. Kopeliovich, Nemchik et al. for exclusive
  production on nuclei]:
      N_eff = (Z/A) int d^2b A T(b) exp(-sigma_abs A T(b)),
  T(b) the Woods-Saxon thickness (R = 1.12 A^(1/3) - 0.86 A^(-1/3) fm, a = 0.546 fm [lit]), normalised to 1;
  sigma_abs = sigma_inel(pi N) = 21 mb at 50 GeV/c [lit: PDG, sigma_tot(pi- p) ~ 24.5 mb minus sigma_el
  ~ 3.5 mb]; the meson is taken to be absorbed like a pion (quark counting) [est] so the in- and
  out-going paths add up to the full thickness. N_eff(Pb) = 8.0 protons (vs Z = 82; the earlier inclusive
  Z A^(alpha-1) scaling gave 21.6), N_eff(C) = 2.8, N_eff(H) = 1. The neutron recoil (T_n ~ MeV) and a
  possible soft nuclear break-up are invisible at the 1 GeV thresholds [est].
* Target: the ECAL (active target), Pb/Sc shashlik with equal Pb and scintillator thicknesses
  (1.5 mm + 1.5 mm layers [est: NA64 ECAL construction as remembered; 40 X0 of Pb = 22.4 cm of Pb and
  22.4 cm of polystyrene C8H8, 1.05 g/cm^3 [lit]]): the scintillator's hydrogen (free protons) and carbon
  are targets too. Beam attenuation over the whole depth with lambda_I(Pb) = 17.59 cm, lambda_I(polystyrene)
  = 77.1 cm [lit, PDG]: a factor (1 - exp(-x))/x, x = sum L_i/lambda_i, for finely interleaved layers.
P_M = sum_materials n_i L_i N_eff,i sigma_p(M) (1 - exp(-x))/x. Meson kinematics: :mod:`.sampling`.
"""

from __future__ import annotations

import math

import numpy as np

from .. import NA64Error
from .constants import (
    ECAL_DEPTH_X0,
    M_ETA_GEV,
    M_ETAPRIME_GEV,
    N_AVOGADRO,
    PB_A,
    PB_LAMBDA_I_CM,
    PB_N_ATOMS_CM3,
    PB_X0_CM,
    PB_Z,
    UB_TO_CM2,
)

# pi- p -> eta n, Lyubovitskij (NA64) parametrisation in Geant4 G4ChargeExchangeXS [lit]: A (ub), 2-2alpha', g0, g1, c0, c1
ETA_CEX_PARAMETERS = (36.0, 1.26, 4.6, -0.5, 6.0, 1.6)
ETAPRIME_TO_ETA = 0.55                                # [est] see module docstring
MESON_MASS_GEV = {"eta": M_ETA_GEV, "etaprime": M_ETAPRIME_GEV}
REFERENCE_MOMENTUM_GEV = 50.0
M_PI_GEV, M_P_GEV = 0.13957, 0.93827                  # [lit, PDG]
SIGMA_ABS_MB = 21.0                                   # inelastic pi N at 50 GeV/c [lit, PDG]
WS_DIFFUSENESS_FM = 0.546                             # [lit]
POLYSTYRENE_RHO_G_CM3 = 1.05                          # [lit, PDG]
POLYSTYRENE_LAMBDA_I_CM = 77.1                        # [lit, PDG]
POLYSTYRENE_N_MOLECULES_CM3 = N_AVOGADRO * POLYSTYRENE_RHO_G_CM3 / 104.15   # C8H8 per cm^3
SCINT_TO_LEAD_THICKNESS = 1.0                         # [est] 1.5 mm Sc per 1.5 mm Pb


def sigma_eta_proton_ub(p_gev: float = REFERENCE_MOMENTUM_GEV) -> float:
    """sigma(pi- p -> eta n) in microbarn at beam momentum ``p_gev`` (module docstring; Geant4
    G4ChargeExchangeXS form, s = m_p^2 + m_pi^2 + 2 m_p E_pi, x = s / 10 GeV^2)."""
    a, power, g0, g1, c0, c1 = ETA_CEX_PARAMETERS
    e_pi = math.hypot(p_gev, M_PI_GEV)
    x = (M_P_GEV**2 + M_PI_GEV**2 + 2.0 * M_P_GEV * e_pi) / 10.0
    lx = math.log(x)
    return a * x ** (-power) * max(1.0 + g0 + g1 * lx, 0.0) / max(c0 + c1 * lx, 1e-16)


def sigma_proton_ub(meson: str, p_gev: float = REFERENCE_MOMENTUM_GEV) -> float:
    """sigma(pi- p -> M n) in microbarn: eta from :func:`sigma_eta_proton_ub` [lit], eta' = 0.55 x eta [est]."""
    if meson not in MESON_MASS_GEV:
        raise NA64Error(f"unknown meson '{meson}'; known: {', '.join(MESON_MASS_GEV)}")
    sig = sigma_eta_proton_ub(p_gev)
    return sig if meson == "eta" else ETAPRIME_TO_ETA * sig


def effective_protons(a_mass: float, z: int, sigma_abs_mb: float = SIGMA_ABS_MB) -> float:
    """N_eff = (Z/A) int d^2b A T(b) exp(-sigma_abs A T(b)) (module docstring); Z for sigma_abs -> 0,
    1 for hydrogen."""
    if a_mass <= 1.5:
        return float(z)
    r_fm = 1.12 * a_mass ** (1.0 / 3.0) - 0.86 * a_mass ** (-1.0 / 3.0)
    a_fm = WS_DIFFUSENESS_FM
    zmax = r_fm + 12 * a_fm
    b = np.linspace(0.0, r_fm + 10 * a_fm, 500)
    zz = np.linspace(-zmax, zmax, 2001)
    r = np.linspace(0.0, zmax, 4000)
    norm = np.trapezoid(4 * np.pi * r * r / (1 + np.exp((r - r_fm) / a_fm)), r)
    rr = np.sqrt(b[:, None] ** 2 + zz[None, :] ** 2)
    thick = np.trapezoid(1.0 / (1 + np.exp((rr - r_fm) / a_fm)), zz, axis=1) / norm    # T(b), fm^-2
    sig_fm2 = 0.1 * sigma_abs_mb
    return float(z / a_mass * np.trapezoid(2 * np.pi * b * a_mass * thick * np.exp(-sig_fm2 * a_mass * thick), b))


def target_layers(lead_cm: float = ECAL_DEPTH_X0 * PB_X0_CM, scint_ratio: float = SCINT_TO_LEAD_THICKNESS):
    """[(name, atoms per cm^3, thickness cm, N_eff, lambda_I cm)] of the active target (module docstring)."""
    sc_cm = scint_ratio * lead_cm
    n_mol = POLYSTYRENE_N_MOLECULES_CM3
    return [("Pb", PB_N_ATOMS_CM3, lead_cm, effective_protons(PB_A, PB_Z), PB_LAMBDA_I_CM),
            ("C", 8 * n_mol, sc_cm, effective_protons(12.011, 6), POLYSTYRENE_LAMBDA_I_CM),
            ("H", 8 * n_mol, sc_cm, 1.0, math.inf)]


def attenuation_factor(layers=None) -> float:
    """Mean beam survival over the target depth, (1 - exp(-x))/x with x = sum L_i/lambda_i (the hydrogen
    entry carries lambda = inf: polystyrene's lambda_I is given with the carbon)."""
    layers = target_layers() if layers is None else layers
    x = sum(length / lam for _, _, length, _, lam in layers if math.isfinite(lam))
    return (1.0 - math.exp(-x)) / x if x > 0 else 1.0


def production_probability(meson: str, p_gev: float = REFERENCE_MOMENTUM_GEV, layers=None) -> float:
    """P_M per pion on target = sum_i n_i L_i N_eff,i sigma_p (1 - e^-x)/x (module docstring)."""
    layers = target_layers() if layers is None else layers
    protons_per_cm2 = sum(n * length * neff for _, n, length, neff, _ in layers)
    return protons_per_cm2 * sigma_proton_ub(meson, p_gev) * UB_TO_CM2 * attenuation_factor(layers)
