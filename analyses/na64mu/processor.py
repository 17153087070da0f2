"""coffea processor of the NA64mu search (the selection is in ``selection.py``)."""

from na64flow.processing import NA64Processor

from .selection import ANALYSIS


class Processor(NA64Processor):
    """NA64mu: missing momentum with a 160 GeV muon beam."""

    analysis = ANALYSIS
