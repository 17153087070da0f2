"""coffea processor of the NA64h eta/eta' -> invisible search (the selection is in ``selection.py``)."""

from na64flow.processing import NA64Processor

from .selection import ANALYSIS


class Processor(NA64Processor):
    """NA64h: full disappearance of a 50 GeV pi- beam."""

    analysis = ANALYSIS
