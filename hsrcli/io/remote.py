"""Remote rasters: GDAL virtual file system paths and URLs (no I/O here).

``hsr info``, ``upscale`` and ``metrics`` read GeoTIFF/COG scenes by windows straight from a server:
``/vsicurl/https://...``, ``/vsis3/bucket/key``, ``/vsigs/...`` (any ``/vsi`` prefix GDAL knows) or a
plain ``https://``/``http://``/``s3://``/``gs://`` URL, which becomes its ``/vsi`` path. Credentials
and options come from GDAL's and AWS's usual environment variables (``AWS_*``,
``GS_*``/``GOOGLE_APPLICATION_CREDENTIALS``, ``GDAL_HTTP_*``, ``CPL_VSIL_CURL_*``).

Such names must stay strings: :class:`pathlib.Path` would fold the ``//`` of a URL.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

#: URL scheme → GDAL virtual file system prefix
URL_PREFIXES = {"http": "/vsicurl/", "https": "/vsicurl/", "ftp": "/vsicurl/", "s3": "/vsis3/",
                "gs": "/vsigs/", "az": "/vsiaz/"}


def is_remote(spec: str | Path) -> bool:
    """Whether ``spec`` names a raster GDAL reads through a virtual file system (not a local file)."""
    if isinstance(spec, Path):
        return False
    return spec.startswith("/vsi") or urlsplit(spec).scheme.lower() in URL_PREFIXES


def gdal_path(spec: str) -> str:
    """The ``/vsi…`` path of a remote ``spec``: ``https://h/a.tif`` → ``/vsicurl/https://h/a.tif``,
    ``s3://b/k.tif`` → ``/vsis3/b/k.tif``; ``/vsi`` paths are returned as they are."""
    if spec.startswith("/vsi"):
        return spec
    parts = urlsplit(spec)
    prefix = URL_PREFIXES[parts.scheme.lower()]
    if prefix == "/vsicurl/":
        return prefix + spec
    return prefix + parts.netloc + parts.path


def remote_name(spec: str) -> str:
    """The file name at the end of a remote ``spec`` (query string left out): ``…/scene.tif?x=1`` →
    ``scene.tif``."""
    return Path(urlsplit(spec.split("/vsicurl/", 1)[-1]).path).name


def as_input(spec: str) -> str | Path:
    """A command-line scene argument: remote names stay strings, everything else is a :class:`Path`."""
    return spec if is_remote(spec) else Path(spec)
