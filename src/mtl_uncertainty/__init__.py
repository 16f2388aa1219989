"""Uncertainty-based multi-task loss weighting (Kendall, Gal & Cipolla, CVPR 2018) on MNIST."""

from .config import register_configs, register_resolvers

register_configs()
register_resolvers()
