"""NA64 analyses: one sub-package per search (installed as ``na64flow_analyses``)."""
