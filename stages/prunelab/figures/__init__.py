"""Figures and tables: reading the reports, drawing the PNGs, writing the markdown tables."""
