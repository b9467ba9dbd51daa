"""The resident registry: persons, households, dwellings, organisations, grids."""
