"""The organisation's Dagster code location: CD, DS, IS, SS and NPS on Polars + Arrow."""

from dag.previews import quiet_intended_previews

quiet_intended_previews()
