"""coffea processor of the NA64e+ search (the selection is in ``selection.py``)."""

from na64flow.processing import NA64Processor

from .selection import ANALYSIS


class Processor(NA64Processor):
    """NA64e+: missing energy with a positron beam."""

    analysis = ANALYSIS
