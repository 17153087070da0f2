"""NA64h: the hadron-beam search for invisible eta/eta' decays (charge exchange pi- p -> M n)."""

LABEL = "NA64h"   # plots and tables (na64flow.registry)
COLOUR = "tab:grey"
