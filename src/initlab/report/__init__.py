"""Figures and self-contained HTML reports. The only package (besides the notebook's own
plotting in :mod:`initlab.course`) that imports matplotlib, always with the Agg backend."""
