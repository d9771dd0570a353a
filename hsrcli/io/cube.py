"""Readers for array files: MATLAB ``.mat`` (v5 and v7.3/HDF5) and NumPy ``.npy``.

Variable choice (``var``): a named variable, or by default the largest numeric
3-D array in the file. Layout (``layout``): ``hwc`` = (rows, cols, bands),
``chw`` = (bands, rows, cols), ``auto`` (default): when two axes are equal they are
the image's sides; otherwise ``hwc`` for ``.mat`` (MATLAB's convention: an 80 × 100 × 162
HYDICE crop is 162 bands) and, for ``.npy``, ``chw`` when the first axis is the smallest.
Layouts describe the array as MATLAB/NumPy show it (v7.3 files store MATLAB arrays transposed in HDF5; that is undone here).

Unmixing benchmarks store a 2-D ``bands × pixels`` matrix plus ``lines``/``cols``
scalars (Jasper Ridge: ``Y`` 198 × 10000, column-major pixels). Such a variable is
reshaped as MATLAB's ``reshape(Y', lines, cols, bands)`` would.

A variable named ``wavelength(s)``/``wl``/``wave``/``lambda`` with one value per
band provides the wavelengths (values below 30 are read as µm).

Laziness: ``.npy`` and v7.3 files are read window by window; v5 files cannot be
read partially, so the chosen variable is loaded once (these files are small
benchmark crops).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from hsrcli.choices import Layout
from hsrcli.errors import HsrInputError
from hsrcli.io.mapped import copy_mapped
from hsrcli.io.meta import SceneMeta
from hsrcli.io.scene import Scene, check_file
from hsrcli.io.wavelengths import to_nm

_WAVELENGTH_NAMES = ("wavelengths", "wavelength", "wl", "wave", "wavelength_nm", "lambda")
_LINES_NAMES = ("lines", "nrow", "nrows", "rows")
_COLS_NAMES = ("cols", "ncol", "ncols", "samples")


def _resolve_layout(shape: tuple[int, ...], layout: str, where: str, matlab: bool = False) -> str:
    """``hwc`` or ``chw`` for an array of ``shape``; ``auto`` guesses (see the module docstring)."""
    layout = Layout.check(layout, "--layout")
    if layout == "auto":
        a, b, c = shape
        if b == c != a:  # two equal axes are the image's sides
            return "chw"
        if a == b != c:
            return "hwc"
        if matlab:  # MATLAB hyperspectral cubes are rows x cols x bands (ABU, Indian Pines, Pavia, ...)
            return "hwc"
        return "chw" if a < min(b, c) else "hwc"
    return layout


def _choose(variables: dict[str, tuple[tuple[int, ...], np.dtype]], var: str | None, path: Path) -> str:
    numeric = {k: v for k, v in variables.items() if np.issubdtype(v[1], np.number) and not k.startswith("_")}
    if var is not None:
        if var not in variables:
            avail = ", ".join(sorted(numeric)) or "none"
            raise HsrInputError(f"{path}: no variable {var!r} (numeric variables: {avail})")
        shape, dtype = variables[var]
        if not np.issubdtype(dtype, np.number) or len(shape) not in (2, 3):
            raise HsrInputError(f"{path}: variable {var!r} is not a numeric 2-D or 3-D array {shape}")
        return var
    cubes = {k: v for k, v in numeric.items() if len(v[0]) == 3}
    if cubes:
        return max(cubes, key=lambda k: int(np.prod(cubes[k][0])))
    mats = {k: v for k, v in numeric.items() if len(v[0]) == 2 and min(v[0]) > 1}
    if mats:
        return max(mats, key=lambda k: int(np.prod(mats[k][0])))
    raise HsrInputError(f"{path}: no numeric 3-D array in this file; name one with --var")


def _scalar(values: dict[str, Any], names: tuple[str, ...]) -> int | None:
    for k, v in values.items():
        if k.lower() in names:
            arr = np.asarray(v).reshape(-1)
            if arr.size == 1 and np.issubdtype(arr.dtype, np.number):
                return int(arr[0])
    return None


def _matrix_geometry(shape: tuple[int, int], lines: int | None, cols: int | None,
                     where: str) -> tuple[int, int, int, bool]:
    """(rows, cols, bands, pixels_first) for a 2-D bands×pixels (or pixels×bands) matrix."""
    if lines is None or cols is None:
        raise HsrInputError(
            f"{where}: is a 2-D matrix {shape}; a cube needs 'lines' and 'cols' in the file, or name a 3-D --var"
        )
    n = lines * cols
    if shape[1] == n:
        return lines, cols, shape[0], False
    if shape[0] == n:
        return lines, cols, shape[1], True
    raise HsrInputError(f"{where}: matrix {shape} does not hold lines x cols = {lines} x {cols} pixels")


#: ``(r0, r1, c0, c1, bands)`` → a new ``(r1 − r0, c1 − c0, b)`` array of the scene's values.
Getter = Callable[[int, int, int, int, "list[int] | None"], np.ndarray]


class ArrayScene(Scene):
    """Scene backed by an array-like indexed as (rows, cols, bands) after reordering."""

    def __init__(self, path: Path, meta: SceneMeta, getter: Getter) -> None:
        self._get = getter
        super().__init__(path, meta)

    def _read(self, r0: int, r1: int, c0: int, c1: int, bands: list[int] | None) -> np.ndarray:
        return self._get(r0, r1, c0, c1, bands)


def _meta(path: Path, fmt: str, rows: int, cols: int, bands: int, dtype: np.dtype, wl: Any, var: str,
          extra: dict[str, str] | None = None) -> SceneMeta:
    wavelengths = None
    if wl is not None:
        arr = np.asarray(wl, dtype=np.float64).reshape(-1)
        if arr.size == bands:
            wavelengths = to_nm(arr, None)
    info = {"variable": var, **(extra or {})}
    return SceneMeta(rows=rows, cols=cols, bands=bands, dtype=dtype, format=fmt,
                     wavelengths=wavelengths, wavelength_units=None if wavelengths is None else "nm",
                     source_info=info)


def _wavelength_var(values: dict[str, Any]) -> Any:
    for k, v in values.items():
        if k.lower() in _WAVELENGTH_NAMES:
            return v
    return None


def open_npy(path: Path, layout: str = "auto") -> Scene:
    """Open a ``.npy`` cube lazily (memory-mapped per window)."""
    check_file(path, ".npy file")
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise HsrInputError(f"{path}: not a readable .npy array ({exc})") from None
    if arr.ndim != 3 or not np.issubdtype(arr.dtype, np.number):
        raise HsrInputError(f"{path}: expected a numeric 3-D array, found shape {arr.shape} {arr.dtype}")
    lay = _resolve_layout(arr.shape, layout, str(path))
    rows, cols, bands = arr.shape if lay == "hwc" else (arr.shape[1], arr.shape[2], arr.shape[0])
    dtype = arr.dtype
    del arr

    def view() -> np.ndarray:  # (rows, cols, bands) of a new map
        mm = np.load(path, mmap_mode="r")
        return mm if lay == "hwc" else mm.transpose(1, 2, 0)

    def get(r0: int, r1: int, c0: int, c1: int, b: list[int] | None) -> np.ndarray:
        return copy_mapped(view, r0, r1, c0, c1, b, dtype, cols * bands * dtype.itemsize)

    meta = _meta(path, "npy", rows, cols, bands, dtype, None, "(array)", {"layout": lay})
    return ArrayScene(path, meta, get)


def _open_mat_v5(path: Path, var: str | None, layout: str) -> Scene:
    import scipy.io

    try:
        info = scipy.io.whosmat(str(path))
        variables = {name: (tuple(shape), np.dtype(_MAT_CLASSES.get(cls, "O"))) for name, shape, cls in info}
    except Exception as exc:  # noqa: BLE001 - scipy raises several types for damaged files
        raise HsrInputError(f"{path}: not a readable MATLAB file ({exc})") from None
    name = _choose(variables, var, path)
    small = [k for k, (shape, _) in variables.items() if int(np.prod(shape)) <= 4096]
    try:
        values = scipy.io.loadmat(str(path), variable_names=[name, *small])
    except Exception as exc:  # noqa: BLE001 - as above
        raise HsrInputError(f"{path}: cannot read variable {name!r} ({exc})") from None
    data = values[name]
    extra = {}
    if data.ndim == 2:
        rows, cols, bands, pixels_first = _matrix_geometry(
            data.shape, _scalar(values, _LINES_NAMES), _scalar(values, _COLS_NAMES), f"{path}:{name}")
        mat = data if pixels_first else data.T  # (pixels, bands)
        cube = mat.reshape((rows, cols, bands), order="F")
        extra["layout"] = "bands x pixels (column-major)"
    else:
        lay = _resolve_layout(data.shape, layout, str(path), matlab=True)
        cube = data if lay == "hwc" else data.transpose(1, 2, 0)
        rows, cols, bands = cube.shape
        extra["layout"] = lay
    max_value = _scalar(values, ("maxvalue", "max_value"))
    if max_value is not None:
        extra["max value"] = str(max_value)

    def get(r0: int, r1: int, c0: int, c1: int, b: list[int] | None) -> np.ndarray:
        """A copy, as every reader gives: the caller may write into it."""
        out = cube[r0:r1, c0:c1]
        return np.array(out if b is None else out[:, :, b])

    meta = _meta(path, "mat", rows, cols, bands, cube.dtype, _wavelength_var(values), name, extra)
    return ArrayScene(path, meta, get)


_MAT_CLASSES = {
    "double": "float64", "single": "float32", "int8": "int8", "uint8": "uint8", "int16": "int16",
    "uint16": "uint16", "int32": "int32", "uint32": "uint32", "int64": "int64", "uint64": "uint64",
    "logical": "bool",
}


class _H5Scene(ArrayScene):
    """An array scene read from an open HDF5 file (MATLAB v7.3), which :meth:`close` closes."""

    def __init__(self, path: Path, meta: SceneMeta, getter: Getter, h5: Any) -> None:
        super().__init__(path, meta, getter)
        self._h5: Any = h5

    def close(self) -> None:
        if self._h5 is not None:
            self._h5.close()
            self._h5 = None


def _open_mat_v73(path: Path, var: str | None, layout: str) -> Scene:
    import h5py

    try:
        h5 = h5py.File(path, "r")
    except OSError as exc:
        raise HsrInputError(f"{path}: not a readable MATLAB v7.3 file ({exc})") from None
    try:
        datasets = {k: v for k, v in h5.items() if isinstance(v, h5py.Dataset) and not k.startswith("#")}
        # MATLAB writes column-major arrays: HDF5 shape is MATLAB's shape reversed.
        variables = {k: (tuple(reversed(v.shape)), v.dtype) for k, v in datasets.items()}
        name = _choose(variables, var, path)
        small = {k: np.asarray(datasets[k][()]).T for k, (shape, dt) in variables.items()
                 if int(np.prod(shape)) <= 4096 and np.issubdtype(dt, np.number)}
        ds = datasets[name]
        mshape = variables[name][0]
        extra: dict[str, str] = {}
        if len(mshape) == 2:
            rows, cols, bands, pixels_first = _matrix_geometry(
                mshape, _scalar(small, _LINES_NAMES), _scalar(small, _COLS_NAMES), f"{path}:{name}")
            extra["layout"] = "bands x pixels (column-major)"

            def get(r0: int, r1: int, c0: int, c1: int, b: list[int] | None) -> np.ndarray:
                out = []
                for c in range(c0, c1):
                    p0, p1 = r0 + rows * c, r1 + rows * c
                    block = np.asarray(ds[:, p0:p1]).T if pixels_first else np.asarray(ds[p0:p1, :])
                    out.append(block if b is None else block[:, b])  # (h, bands)
                return np.stack(out, axis=1)
        else:
            lay = _resolve_layout(mshape, layout, str(path), matlab=True)
            rows, cols, bands = mshape if lay == "hwc" else (mshape[1], mshape[2], mshape[0])
            extra["layout"] = lay

            def get(r0: int, r1: int, c0: int, c1: int, b: list[int] | None) -> np.ndarray:
                picked = None if b is None else sorted(set(b))
                sel: slice | list[int] = slice(None) if picked is None else picked
                if lay == "hwc":  # HDF5 (bands, cols, rows)
                    block = np.asarray(ds[sel, c0:c1, r0:r1]).transpose(2, 1, 0)
                else:  # MATLAB (bands, rows, cols) -> HDF5 (cols, rows, bands)
                    block = np.asarray(ds[c0:c1, r0:r1, sel]).transpose(1, 0, 2)
                if b is not None and picked is not None and list(b) != picked:
                    block = block[:, :, [picked.index(x) for x in b]]
                return block
        max_value = _scalar(small, ("maxvalue", "max_value"))
        if max_value is not None:
            extra["max value"] = str(max_value)
        meta = _meta(path, "mat-v7.3", rows, cols, bands, ds.dtype, _wavelength_var(small), name, extra)
    except Exception:
        h5.close()
        raise
    scene = _H5Scene(path, meta, get, h5)
    return scene


def open_mat(path: Path, var: str | None = None, layout: str = "auto") -> Scene:
    """Open a MATLAB ``.mat`` file (v5 in memory, v7.3 lazily through h5py)."""
    import h5py

    check_file(path, ".mat file")
    layout = Layout.check(layout, "--layout")
    if h5py.is_hdf5(path):
        return _open_mat_v73(path, var, layout)
    return _open_mat_v5(path, var, layout)
