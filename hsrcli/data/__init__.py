"""Training data: degradation, MATLAB-compatible bicubic, splits, patches, normalisation, datasets."""
