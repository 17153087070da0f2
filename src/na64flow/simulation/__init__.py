"""Fast simulation of the four NA64 setups (NA64e, NA64e+, NA64mu, NA64h): ROOT ntuples in the event schema.

Modules: ``detector`` (response), ``processes`` (physics processes and rates), ``trigger`` (physics
triggers, reference box), ``generator`` (data stream, calibration stream, weighted MC, signal, in seeded
chunks), ``writer`` (files and manifest), ``cli`` (the `simulate` step), ``merge`` (the `merge` step).
See docs/simulation.md for every process, rate and source.
"""
