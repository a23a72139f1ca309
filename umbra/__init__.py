"""Umbra: a private peer-to-peer marketplace.

Layers import only downward:
    core  <-  store  <-  net / wallet  <-  market  <-  api / web / cli
"""

__version__ = "0.1.0"
