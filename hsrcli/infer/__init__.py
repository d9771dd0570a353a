"""Inference: model resolution, tiled streaming super-resolution of whole scenes."""
