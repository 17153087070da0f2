"""Physical constants and material data used by the signal-yield calculation.

Every number carries its source: [paper] an NA64 publication / ``shared/physics.md``; [lit] a standard
reference (PDG 2024 unless said otherwise); [est] an estimate documented in
``docs/physics-implementation.md``. Units are in the names (natural units, GeV; lengths in cm).
"""

from __future__ import annotations

import math

# --- fundamental ------------------------------------------------------------------------------
ALPHA = 1.0 / 137.036                 # fine-structure constant [lit, PDG]
M_E_GEV = 0.000511                    # electron mass [lit, physics.md]
M_MU_GEV = 0.10566                    # muon mass [lit, physics.md]
M_TAU_GEV = 1.77686                   # tau mass [lit, PDG]
M_P_GEV = 0.938                       # proton mass [lit, physics.md]
M_N_GEV = 0.93957                     # neutron mass [lit, PDG]
M_PI_GEV = 0.13957                    # charged pion mass [lit, PDG]
M_ETA_GEV = 0.547862                  # eta mass [lit, PDG]
M_ETAPRIME_GEV = 0.95778              # eta' mass [lit, PDG]
MU_P = 2.79                           # proton magnetic moment in nuclear magnetons [lit, physics.md]
GEV2_TO_CM2 = 3.894e-28               # 1 GeV^-2 = 0.3894 mb = 3.894e-28 cm^2 [lit, physics.md]
GEV2_TO_MB = 0.3894                   # 1 GeV^-2 in mb [lit]
UB_TO_CM2 = 1.0e-30                   # 1 microbarn in cm^2 [lit]
N_AVOGADRO = 6.02214076e23            # mol^-1 [lit, SI]

# --- lead (the NA64 active target: Pb/Sc shashlik ECAL) ---------------------------------------
PB_Z = 82                             # [lit]
PB_A = 207.2                          # g/mol [lit, physics.md]
PB_RHO_G_CM3 = 11.35                  # g/cm^3 [lit, physics.md]
PB_X0_CM = 0.5612                     # radiation length [lit, PDG / physics.md]
PB_LAMBDA_I_CM = 17.59                # nuclear interaction length [lit, PDG]
PB_CRITICAL_E_GEV = 0.00743           # critical energy E_c for electrons (Rossi definition) [lit, PDG]
PB_N_ATOMS_CM3 = N_AVOGADRO * PB_RHO_G_CM3 / PB_A   # atoms per cm^3 [lit, derived]
PB_N_ATOMS_PER_X0_CM2 = PB_N_ATOMS_CM3 * PB_X0_CM   # atoms per cm^2 in one X0 [derived]

# --- detector geometry ------------------------------------------------------------------------
ECAL_DEPTH_X0 = 40.0                  # ECAL (active target) depth [paper, physics.md §2]
ECAL_PRESHOWER_X0 = 4.0               # pre-shower depth [paper]
TSAI_B = 4.0 / 3.0                    # b in Tsai's I_e(E0, E, t) (t in X0) [lit, physics.md §3]

# --- Lmu-Ltau loop mixing ---------------------------------------------------------------------
# eps = e g ln(m_tau/m_mu) / (6 pi^2) = g / 69 [lit, physics.md §3]
LOOP_MIXING_PER_G = math.sqrt(4 * math.pi * ALPHA) * math.log(M_TAU_GEV / M_MU_GEV) / (6 * math.pi**2)
