"""na64flow: the blinded analysis workflow for NA64-style light-dark-matter searches.

Steps (one module each): simulation -> processing (coffea) -> cutflow -> background / normalisation
-> signal (yields from physics) -> stats (limits, freeze, unblind) -> publish / plotting.
"""

__version__ = "0.1.0"


class NA64Error(Exception):
    """An error the user can act on: the message names the file, key or branch at fault."""
