"""Uncertainty-based multi-task loss weighting (Kendall, Gal & Cipolla, CVPR 2018) on MNIST."""
