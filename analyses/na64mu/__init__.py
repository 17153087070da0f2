"""NA64mu: the muon-beam missing-momentum search."""

LABEL = r"NA64$\mu$"   # plots and tables (na64flow.registry)
COLOUR = "tab:purple"
