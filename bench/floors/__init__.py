"""Floors: the least an application on the same stack can do for the same answer."""
