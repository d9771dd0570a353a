"""Remote rasters (``hsrcli.io.remote``): URL → ``/vsi`` paths, and scenes served over HTTP read through
``/vsicurl/`` by ``hsr info``, ``upscale`` and ``metrics`` exactly as the local file."""

from __future__ import annotations

import http.server
import json
import os
import re
import threading
from pathlib import Path

import numpy as np
import pytest
from rasters import make_cube, write_geotiff

from hsrcli.cli import app
from hsrcli.io import open_scene
from hsrcli.io.remote import as_input, gdal_path, is_remote, remote_name


@pytest.mark.parametrize("spec,vsi", [
    ("https://example.com/a/scene.tif", "/vsicurl/https://example.com/a/scene.tif"),
    ("http://127.0.0.1:8000/s.tif?sig=1", "/vsicurl/http://127.0.0.1:8000/s.tif?sig=1"),
    ("s3://bucket/key/scene.tif", "/vsis3/bucket/key/scene.tif"),
    ("gs://bucket/scene.tif", "/vsigs/bucket/scene.tif"),
    ("/vsis3/bucket/scene.tif", "/vsis3/bucket/scene.tif"),
])
def test_urls_become_gdal_virtual_paths(spec, vsi):
    assert is_remote(spec) and gdal_path(spec) == vsi and as_input(spec) == spec
    assert remote_name(spec) == Path(vsi.split("?")[0]).name


def test_local_names_are_paths():
    for spec in ("scene.tif", "/data/scene.hdr", "C:/x.tif", "dir/s3:thing.tif"):
        assert not is_remote(spec) and as_input(spec) == Path(spec)
    assert not is_remote(Path("/vsicurl/x"))  # a Path is local by construction


class _RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Static files with HTTP range requests (what /vsicurl/ reads windows with)."""

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def send_head(self):
        m = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        path = Path(self.translate_path(self.path))
        if m is None or not path.is_file():
            return super().send_head()
        size = path.stat().st_size
        start, end = int(m[1]), min(int(m[2] or size - 1), size - 1)
        f = open(path, "rb")  # noqa: SIM115 - closed by the caller (copyfile then close)
        f.seek(start)
        self.send_response(206)
        self.send_header("Content-Type", "image/tiff")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        self._remaining = end - start + 1
        return _Limited(f, end - start + 1)


class _Limited:
    """A file object that stops after ``n`` bytes (the requested range)."""

    def __init__(self, f, n: int) -> None:
        self.f, self.n = f, n

    def read(self, size: int = -1) -> bytes:
        if self.n <= 0:
            return b""
        data = self.f.read(self.n if size < 0 else min(size, self.n))
        self.n -= len(data)
        return data

    def close(self) -> None:
        self.f.close()


@pytest.fixture
def served(tmp_path, monkeypatch):
    """``(folder, base URL)``: files in ``folder`` served on 127.0.0.1 with range requests."""
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("GDAL_DISABLE_READDIR_ON_OPEN", "EMPTY_DIR")
    root = tmp_path / "www"
    root.mkdir()

    def handler(*args, **kw):
        return _RangeHandler(*args, directory=str(root), **kw)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_upscale_info_and_metrics_of_a_served_geotiff_equal_the_local_file(runner, tmp_path, served):
    root, url = served
    cube = make_cube(40, 36, 6, "float32")
    src = write_geotiff(root / "scene.tif", cube, nodata=-9999.0)
    remote = f"/vsicurl/{url}/scene.tif"
    write_geotiff(root / "hr.tif", make_cube(80, 72, 6, "float32", seed=1), nodata=-9999.0)

    res = runner.invoke(app, ["info", remote, "--json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.stdout)
    assert (info["rows"], info["cols"], info["bands"], info["nodata"]) == (40, 36, 6, -9999.0)

    for name, spec in (("local.tif", str(src)), ("remote.tif", remote), ("url.tif", f"{url}/scene.tif")):
        res = runner.invoke(app, ["upscale", spec, "-s", "2", "-m", "bicubic", "-o", str(tmp_path / name), "-q"])
        assert res.exit_code == 0, res.output
    local = open_scene(tmp_path / "local.tif")
    for name in ("remote.tif", "url.tif"):
        other = open_scene(tmp_path / name)
        np.testing.assert_array_equal(other.read(), local.read())
        assert (other.meta.crs, other.meta.transform, other.meta.nodata) == \
            (local.meta.crs, local.meta.transform, local.meta.nodata)

    scores = []
    for sr in (f"{url}/hr.tif", str(root / "hr.tif")):
        res = runner.invoke(app, ["metrics", sr, str(tmp_path / "url.tif"), "--json"])
        assert res.exit_code == 0, res.output
        scores.append({k: v for k, v in json.loads(res.stdout).items() if k not in ("sr", "seconds")})
    assert scores[0] == scores[1]


def test_remote_errors_exit_2_with_one_line(runner, tmp_path, served):
    root, url = served
    write_geotiff(root / "scene.tif", make_cube(16, 16, 5, "float32"))
    res = runner.invoke(app, ["upscale", f"{url}/scene.tif", "-s", "2", "-m", "bicubic"])
    assert res.exit_code == 2 and "a remote input needs -o" in res.stderr
    res = runner.invoke(app, ["info", f"{url}/missing.tif"])
    assert res.exit_code == 2 and "missing.tif" in res.stderr and "Traceback" not in res.output
    assert os.listdir(tmp_path) == ["www"]
