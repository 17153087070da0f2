"""NA64e: the electron-beam missing-energy search (e- on the active ECAL target)."""

LABEL = r"NA64e ($e^-$)"   # plots and tables (na64flow.registry)
COLOUR = "tab:blue"
