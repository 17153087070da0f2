"""coffea processor of the NA64e invisible-mode search (the selection is in ``selection.py``)."""

from na64flow.processing import NA64Processor

from .selection import ANALYSIS


class Processor(NA64Processor):
    """NA64e: missing energy with a 100 GeV e- beam."""

    analysis = ANALYSIS
