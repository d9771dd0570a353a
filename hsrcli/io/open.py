"""Open any supported raster by its path: the one entry point for readers."""

from __future__ import annotations

from pathlib import Path

from hsrcli.errors import HsrInputError
from hsrcli.io.scene import Scene

ENVI_DATA_EXTS = {".img", ".dat", ".bsq", ".bil", ".bip", ".raw"}
TIFF_EXTS = {".tif", ".tiff"}


def detect_format(path: Path) -> str:
    """Format name of ``path``: envi, gtiff, band-folder, mat, npy or gdal (other rasters)."""
    suffix = path.suffix.lower()
    if path.is_dir():
        return "band-folder"
    if suffix == ".hdr":
        return "envi"
    if suffix in TIFF_EXTS:
        return "gtiff"
    if suffix == ".mat":
        return "mat"
    if suffix == ".npy":
        return "npy"
    if suffix in ENVI_DATA_EXTS or (suffix == "" and Path(f"{path}.hdr").is_file()):
        return "envi"
    if Path(f"{path}.hdr").is_file() or path.with_suffix(".hdr").is_file():
        return "envi"
    return "gdal"


def open_scene(
    path: str | Path,
    *,
    var: str | None = None,
    layout: str = "auto",
    wavelengths: str | None = None,
    bands: str | None = None,
) -> Scene:
    """Open a hyperspectral scene for lazy, windowed reading.

    Args:
        path: ENVI header or data file, GeoTIFF, folder of per-band images,
            ``.mat`` or ``.npy`` file (any other GDAL raster is tried with rasterio); or, as a
            string, a remote GeoTIFF/COG: a ``/vsi…`` path or a URL (:mod:`hsrcli.io.remote`).
        var: variable name inside a ``.mat`` file (default: the largest 3-D array).
        layout: ``hwc``, ``chw`` or ``auto`` for ``.mat``/``.npy`` arrays.
        wavelengths: wavelength option (``400:10``, ``400:700:10``, a comma list or a
            file) overriding what the file says; required for per-band folders
            without a sidecar unless the CAVE convention applies.
        bands: a band selection (``1-30,40`` or ``450-700nm``,
            :func:`~hsrcli.io.bands.parse_band_selection`): the scene is then those bands of the
            file, in that order, with their metadata (:class:`~hsrcli.io.view.BandSubset`, read lazily).

    Raises:
        HsrInputError: for anything that is not a readable scene (one-line message).
    """
    scene = _open_file(path, var, layout, wavelengths)
    if bands is None:
        return scene
    from hsrcli.io.bands import parse_band_selection
    from hsrcli.io.view import BandSubset

    try:
        return BandSubset(scene, parse_band_selection(bands, scene.meta))
    except BaseException:
        scene.close()
        raise


def _open_file(path: str | Path, var: str | None, layout: str, wavelengths: str | None) -> Scene:
    """The whole scene at ``path`` (see :func:`open_scene`): opened, then checked (``--var`` only for .mat
    files, integer or float values) and given ``wavelengths`` (``--wavelengths``); closed when refused."""
    from hsrcli.io.geotiff import GeoTiffScene
    from hsrcli.io.remote import gdal_path, is_remote, remote_name
    from hsrcli.io.wavelengths import parse_wavelength_spec

    p: str | Path
    if is_remote(path):  # then a string: Path() would fold the // of a URL
        p = gdal_path(str(path))
        fmt = "gtiff" if Path(remote_name(p)).suffix.lower() in TIFF_EXTS else "gdal"
        scene: Scene = GeoTiffScene(p, fmt, remote=True)
    else:
        p = Path(path)
        if not p.exists():
            raise HsrInputError(f"{p}: no such file or folder")
        fmt = detect_format(p)
        scene = _open_local(p, fmt, var, layout, wavelengths)
        if fmt == "band-folder":
            wavelengths = None  # the folder's reader applied them
    if var is not None and fmt != "mat":
        scene.close()
        raise HsrInputError(f"{p}: --var only applies to .mat files")
    if scene.meta.dtype.kind not in "iuf":  # complex radar products, booleans, records...
        scene.close()
        raise HsrInputError(f"{p}: holds {scene.meta.dtype} values; hsr reads integer or floating-point "
                            "pixel values (for complex data, write its magnitude first)")
    if wavelengths:
        try:
            scene.meta.wavelengths = parse_wavelength_spec(wavelengths, scene.meta.bands)
            scene.meta.wavelength_units = "nm"
        except HsrInputError:
            scene.close()
            raise
    return scene


def _open_local(p: Path, fmt: str, var: str | None, layout: str, wavelengths: str | None) -> Scene:
    """The reader of a local file or folder of format ``fmt`` (:func:`detect_format`)."""
    if fmt == "envi":
        from hsrcli.io.envi import EnviScene

        return EnviScene(p)
    if fmt in ("gtiff", "gdal"):
        from hsrcli.io.geotiff import GeoTiffScene

        return GeoTiffScene(p, fmt)
    if fmt == "band-folder":
        from hsrcli.io.bandfolder import BandFolderScene

        return BandFolderScene(p, wavelengths)
    if fmt == "mat":
        from hsrcli.io.cube import open_mat

        return open_mat(p, var, layout)
    from hsrcli.io.cube import open_npy

    return open_npy(p, layout)
