"""NA64e+: the positron-beam missing-energy search (resonant e+ e- annihilation)."""

LABEL = r"NA64e ($e^+$)"   # plots and tables (na64flow.registry)
COLOUR = "tab:red"
