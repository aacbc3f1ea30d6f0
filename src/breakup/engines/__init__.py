"""Engines beyond the embedded one: tracking over the lake (see :mod:`breakup.lake`)."""
