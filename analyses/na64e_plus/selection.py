"""NA64e+ selection (positron beam, resonant annihilation): the NA64e cuts with the positron-run values.

The cut-flow of the positron runs is the electron one (physics.md §1 [paper]: same detector, same
missing-energy technique); only the values differ (e.g. 70 GeV runs: momentum window 67.9-72.1 GeV and
E_ECAL < 42 GeV, i.e. E_miss > 28 GeV [paper]), and they come from analyses.na64e_plus.cuts and the run
overrides of the configuration.
"""

from na64flow_analyses.na64e.selection import BOX, HISTS, REGIONS, SELECTION, derive

from na64flow.selection import Analysis

ANALYSIS = Analysis(name="na64e_plus", setup="electron", selection=SELECTION, box=BOX, regions=REGIONS,
                    hists=HISTS, derive=derive)
