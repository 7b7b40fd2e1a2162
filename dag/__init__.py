"""The organisation's Dagster code location: CD, DS, IS, SS and NPS on Polars + Arrow."""
