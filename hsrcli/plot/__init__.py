"""Figures: spectral curves, false-colour previews and SR comparison panels (matplotlib, no GUI)."""
