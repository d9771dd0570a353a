"""Writers never leave partial files and never clobber without overwrite."""

from __future__ import annotations

import numpy as np
import pytest
from rasterio.windows import Window

from hsrcli.io import HsrInputError, OutputExistsError, open_scene, open_writer
from hsrcli.io.windows import iter_windows

FORMATS = [("o.hdr", None), ("o.tif", None), ("o.tif", "cog")]


@pytest.mark.parametrize("name,fmt", FORMATS)
def test_error_midway_leaves_nothing(tmp_path, utm_meta, name, fmt):
    with pytest.raises(RuntimeError), open_writer(tmp_path / name, utm_meta, fmt) as w:
        w.write(Window(0, 0, 16, 8), np.zeros((8, 16, 8), np.int16))
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name,fmt", FORMATS)
def test_existing_output_needs_overwrite_and_survives_a_failed_run(tmp_path, utm_meta, name, fmt):
    ones = np.ones((16, 16, 8), np.int16)
    with open_writer(tmp_path / name, utm_meta, fmt) as w:
        w.write(Window(0, 0, 16, 16), ones)
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(OutputExistsError, match="--overwrite"):
        open_writer(tmp_path / name, utm_meta, fmt)
    with pytest.raises(RuntimeError), open_writer(tmp_path / name, utm_meta, fmt, overwrite=True) as w:
        w.write(Window(0, 0, 16, 16), ones * 7)
        raise RuntimeError("killed")
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    np.testing.assert_array_equal(open_scene(tmp_path / name).read(), ones)
    with open_writer(tmp_path / name, utm_meta, fmt, overwrite=True) as w:
        w.write(Window(0, 0, 16, 16), ones * 7)
    np.testing.assert_array_equal(open_scene(tmp_path / name).read(), ones * 7)


@pytest.mark.parametrize("dtype", ["int16", "float32"])
def test_cog_is_cloud_optimised_and_keeps_every_metadata_item(tmp_path, utm_meta, dtype):
    import rasterio

    meta = utm_meta.replace(rows=600, cols=520, dtype=dtype)
    cube = np.random.default_rng(0).integers(0, 5000, (600, 520, 8)).astype(dtype)
    cube[:40, :30] = -9999
    out = tmp_path / "o.tif"
    with open_writer(out, meta, "cog") as w:
        for win in iter_windows(meta.rows, meta.cols, meta.bands, 4, max_bytes=8 * 4 * 200 * 520,
                                block_shape=w.block_shape):
            r, c = int(win.row_off), int(win.col_off)
            w.write(win, cube[r:r + int(win.height), c:c + int(win.width)])
    assert [p.name for p in tmp_path.iterdir()] == ["o.tif"]
    with rasterio.open(out) as ds:  # GDAL recognises the COG layout (ghost header, IFDs before data)
        assert ds.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        assert ds.block_shapes[0] == (256, 256) and ds.overviews(1) == [2, 4]
        assert ds.tags(1, ns="IMAGERY")["CENTRAL_WAVELENGTH_UM"] == repr(float(meta.wavelengths[0]) / 1000)
    back = open_scene(out)
    np.testing.assert_array_equal(back.read(), cube)
    m = back.meta
    assert (m.crs, m.transform, m.nodata, m.description, m.scale_factor) == \
        (meta.crs, meta.transform, meta.nodata, meta.description, meta.scale_factor)
    np.testing.assert_array_equal(m.wavelengths, meta.wavelengths)
    np.testing.assert_array_equal(m.fwhm, meta.fwhm)
    assert list(m.bbl) == list(meta.bbl) and list(m.band_names) == list(meta.band_names)


def test_missing_output_folder_and_bad_window(tmp_path, utm_meta):
    with pytest.raises(HsrInputError, match="output folder does not exist"):
        open_writer(tmp_path / "nope" / "o.hdr", utm_meta)
    with open_writer(tmp_path / "o.hdr", utm_meta) as w:
        with pytest.raises(ValueError, match="does not match"):
            w.write(Window(0, 0, 4, 4), np.zeros((4, 5, 8)))
        w.write(Window(0, 0, 16, 16), np.zeros((16, 16, 8)))


@pytest.mark.parametrize("interleave", ["bsq", "bil", "bip"])
def test_envi_interleaves_and_data_file_names(tmp_path, utm_meta, interleave):
    data = np.arange(16 * 16 * 8, dtype=np.int16).reshape(16, 16, 8)
    with open_writer(tmp_path / "x.dat", utm_meta, "envi", interleave=interleave) as w:
        for win in iter_windows(16, 16, 8, 2, max_bytes=16 * 8 * 2 * 5):
            r, h = int(win.row_off), int(win.height)
            w.write(win, data[r:r + h])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.dat", "x.hdr"]
    s = open_scene(tmp_path / "x.hdr")
    assert s.meta.interleave == interleave
    np.testing.assert_array_equal(s.read(), data)


@pytest.mark.parametrize("block", [(1, 1), (16, 16), (8, 23)])
@pytest.mark.parametrize("budget", [1, 23 * 4 * 2, 23 * 4 * 2 * 7, 16 * 16 * 4 * 2, 10**9])
def test_windows_cover_scene_exactly_and_align_to_blocks(block, budget):
    seen = np.zeros((37, 23), int)
    for w in iter_windows(37, 23, 4, 2, max_bytes=budget, block_shape=block):
        seen[w.row_off:w.row_off + w.height, w.col_off:w.col_off + w.width] += 1
        assert w.row_off % block[0] == 0 and w.col_off % block[1] == 0
        if w.height * w.width * 8 > budget:  # over budget only when one block is
            assert (w.height, w.width) == (min(block[0], 37 - w.row_off), min(block[1], 23 - w.col_off))
    assert (seen == 1).all()


@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("interleave", ["bsq", "bil", "bip"])
def test_envi_band_ranges_of_any_window_in_any_order(tmp_path, utm_meta, interleave, threads, monkeypatch):
    """Band ranges of windows land where they belong, copied in one thread or in several, one
    mapped slab per band or row (``MAPPED_BYTES`` = 1 byte forces the smallest slabs)."""
    from hsrcli.io import envi_writer

    monkeypatch.setattr(envi_writer, "COPY_THREADS", threads)
    monkeypatch.setattr(envi_writer, "MAPPED_BYTES", 1 if threads > 1 else envi_writer.MAPPED_BYTES)
    g = np.random.default_rng(1)
    cube = g.integers(-3000, 3000, (16, 16, 8)).astype(np.int16)
    pieces = [(r0, c0, b0, b1) for r0 in (0, 5) for c0 in (0, 9) for b0, b1 in ((0, 3), (3, 8))]
    g.shuffle(pieces)
    with open_writer(tmp_path / "o.hdr", utm_meta, interleave=interleave) as w:
        assert w.band_writes
        for r0, c0, b0, b1 in pieces:
            r1, c1 = (5, 16)[r0 > 0], (9, 16)[c0 > 0]
            w.write_bands(r0, c0, b0, cube[r0:r1, c0:c1, b0:b1].transpose(2, 0, 1).astype(np.float32))
        with pytest.raises(ValueError, match="outside"):
            w.write_bands(10, 0, 6, np.zeros((3, 2, 2)))
    np.testing.assert_array_equal(open_scene(tmp_path / "o.hdr").read(), cube)


def test_geotiff_writes_whole_windows_only(tmp_path, utm_meta):
    w = open_writer(tmp_path / "o.tif", utm_meta)
    assert not w.band_writes
    with pytest.raises(NotImplementedError):
        w.write_bands(0, 0, 0, np.zeros((1, 2, 2)))
    w.abort()


def test_an_empty_window_writes_nothing(tmp_path, monkeypatch):
    """No rows, columns or bands: nothing mapped (a 0-byte mmap would map the whole file), nothing changed."""
    import mmap

    from hsrcli.io import envi_writer
    from hsrcli.io.envi_writer import map_assign

    maps, real = [], mmap.mmap
    monkeypatch.setattr(envi_writer.mmap, "mmap", lambda *a, **k: maps.append(a) or real(*a, **k))
    p = tmp_path / "raw.img"
    p.write_bytes(np.arange(24, dtype=np.int16).tobytes())
    for key in [(slice(1, 1), slice(0, 3), slice(0, 4)), (slice(0, 2), slice(2, 2), slice(0, 4)),
                (slice(0, 2), slice(0, 3), slice(1, 1))]:
        shape = tuple(len(range(*k.indices(n))) for k, n in zip(key, (2, 3, 4)))
        map_assign(p, 0, np.dtype(np.int16), (2, 3, 4), key, np.zeros(shape, np.int16))
    assert maps == [] and np.array_equal(np.frombuffer(p.read_bytes(), np.int16), np.arange(24))


@pytest.mark.parametrize("fmt", [None, "cog"])
def test_geotiff_blocks_are_compressed_on_every_cpu_with_the_bytes_of_one_thread(tmp_path, utm_meta, fmt,
                                                                                  monkeypatch):
    """GDAL compresses DEFLATE blocks on every usable CPU within a memory bound (``NUM_THREADS``, unless
    the user set ``GDAL_NUM_THREADS``): the file is byte for byte the one a single thread writes."""
    import rasterio

    from hsrcli.io import geotiff_writer
    from hsrcli.io.geotiff import gdal_env
    from hsrcli.io.resources import usable_cpus

    monkeypatch.delenv("GDAL_NUM_THREADS", raising=False)
    with gdal_env():  # reads decode several blocks at once on every CPU too
        assert rasterio.env.getenv()["GDAL_NUM_THREADS"] == str(usable_cpus())
    assert geotiff_writer.compression_threads(2**20) == min(usable_cpus(), 128)
    assert geotiff_writer.compression_threads(geotiff_writer.COMPRESSION_BYTES) == 1  # huge blocks: one
    monkeypatch.setenv("GDAL_NUM_THREADS", "3")
    assert geotiff_writer.compression_threads(2**20) is None  # the user's choice
    with gdal_env():
        assert "GDAL_NUM_THREADS" not in rasterio.env.getenv()  # left to GDAL, which reads the variable
    monkeypatch.delenv("GDAL_NUM_THREADS")
    meta = utm_meta.replace(rows=600, cols=520, dtype=np.dtype("float32"), nodata=None)
    cube = np.random.default_rng(0).random((600, 520, 8), dtype=np.float32)
    files = {}
    for cpus in (1, 4):
        monkeypatch.setattr("hsrcli.io.resources.usable_cpus", lambda cpus=cpus: cpus)
        out = tmp_path / f"t{cpus}.tif"
        with open_writer(out, meta, fmt) as w:
            assert w._threads == cpus
            for win in iter_windows(600, 520, 8, 4, 2**20, w.block_shape):
                w.write(win, cube[win.row_off:win.row_off + win.height, win.col_off:win.col_off + win.width])
        files[cpus] = out.read_bytes()
    assert files[1] == files[4]
    np.testing.assert_array_equal(open_scene(tmp_path / "t4.tif").read(), cube)


@pytest.mark.parametrize("name,fmt", FORMATS + [("o.hdr", "envi-bil")])
def test_band_planes_write_what_pixel_interleaved_windows_write(tmp_path, utm_meta, name, fmt):
    """``write_planes`` (bands, h, w) — the accumulators' layout — stores what ``write`` (h, w, bands) does,
    in every format and interleave; a wrong shape or window is refused."""
    cube = np.random.default_rng(4).integers(-500, 500, (16, 16, 8)).astype(np.int16)
    kw = {"interleave": "bil"} if fmt == "envi-bil" else {}
    fmt = None if fmt == "envi-bil" else fmt
    for mode in ("pixels", "planes"):
        (tmp_path / mode).mkdir()
        with open_writer(tmp_path / mode / name, utm_meta, fmt, **kw) as w:
            for r0 in (0, 8):
                win = Window(0, r0, 16, 8)
                if mode == "pixels":
                    w.write(win, cube[r0:r0 + 8])
                else:
                    w.write_planes(win, np.ascontiguousarray(cube[r0:r0 + 8].transpose(2, 0, 1)))
            with pytest.raises(ValueError, match="does not match"):
                w.write_planes(Window(0, 0, 16, 8), cube[:8])
            with pytest.raises(ValueError, match="outside"):
                w.write_planes(Window(0, 12, 16, 8), np.zeros((8, 8, 16), np.int16))
    np.testing.assert_array_equal(open_scene(tmp_path / "planes" / name).read(), cube)
    np.testing.assert_array_equal(open_scene(tmp_path / "pixels" / name).read(), cube)


def test_the_cog_copy_holds_two_block_rows_in_gdal_cache(tmp_path, utm_meta, monkeypatch):
    """The COG driver re-reads the intermediate GeoTIFF for its overviews: with GDAL's cache under two
    rows of its blocks it re-inflated blocks for minutes (2048² × 64 float32: ~270 s, 27 s with them);
    the user's ``GDAL_CACHEMAX`` still decides when set."""
    import rasterio
    import rasterio.shutil

    from hsrcli.io.geotiff import GDAL_CACHE_BYTES
    from hsrcli.io.geotiff_writer import cog_cache_bytes

    big = utm_meta.replace(rows=2048, cols=2048, bands=64, dtype=np.dtype("float32"), wavelengths=None, fwhm=None,
                           band_names=None, bbl=None)
    assert cog_cache_bytes(big, (256, 256)) == GDAL_CACHE_BYTES + 2 * 8 * 256 * 256 * 64 * 4
    seen, real = [], rasterio.shutil.copy

    def spy(*args, **kwargs):
        seen.append(rasterio.env.getenv().get("GDAL_CACHEMAX"))
        return real(*args, **kwargs)

    monkeypatch.setattr(rasterio.shutil, "copy", spy)
    monkeypatch.delenv("GDAL_CACHEMAX", raising=False)
    for name, user in (("a.tif", None), ("b.tif", "32")):
        if user:
            monkeypatch.setenv("GDAL_CACHEMAX", user)
        with open_writer(tmp_path / name, utm_meta, "cog") as w:
            w.write(Window(0, 0, 16, 16), np.ones((16, 16, 8), np.int16))
            want = cog_cache_bytes(utm_meta, w.block_shape)
    assert seen == [want, None]  # ours, then the user's own (no override)
    np.testing.assert_array_equal(open_scene(tmp_path / "a.tif").read(), 1)


def test_the_cog_copy_cache_is_bounded_by_the_memory_the_process_may_use(utm_meta, monkeypatch):
    """Two block rows of a wide many-band output would be gigabytes (20 000 px × 224 bands float32: ~9 GB):
    the cache takes at most a quarter of the memory the process may use, never less than GDAL's default
    bound; where that memory is unknown, 512 MB."""
    from hsrcli.io import geotiff_writer
    from hsrcli.io.geotiff import GDAL_CACHE_BYTES, blocks_bytes

    wide = utm_meta.replace(rows=20_000, cols=20_000, bands=224, dtype=np.dtype("float32"), wavelengths=None,
                            fwhm=None, band_names=None, bbl=None)
    rows2 = blocks_bytes(wide, (256, 256), rows=2)
    assert rows2 > 9e9
    monkeypatch.setattr("hsrcli.io.resources.usable_memory", lambda: 16 * 2**30)  # the bound: a quarter
    assert geotiff_writer.cog_cache_bytes(wide, (256, 256)) == 4 * 2**30
    small = wide.replace(cols=512, bands=8)  # fits: two block rows
    assert geotiff_writer.cog_cache_bytes(small, (256, 256)) == GDAL_CACHE_BYTES + blocks_bytes(small, (256, 256))
    monkeypatch.setattr("hsrcli.io.resources.usable_memory", lambda: 2**20)  # tiny: GDAL's default bound
    assert geotiff_writer.cog_cache_bytes(wide, (256, 256)) == GDAL_CACHE_BYTES
    monkeypatch.setattr("hsrcli.io.resources.usable_memory", lambda: None)  # unknown: 512 MB
    assert geotiff_writer.cog_cache_bytes(wide, (256, 256)) == 512 * 2**20


@pytest.mark.parametrize("fmt", [None, "cog"])
def test_geotiff_deflate_level_is_the_fast_one(tmp_path, utm_meta, fmt, monkeypatch):
    """GeoTIFF and COG blocks are DEFLATE-compressed at :data:`DEFLATE_LEVEL` (1: 2–5× faster writes than
    GDAL's default level 6, files a few % larger): the level reaches GDAL for both (a smooth,
    compressible cube is larger at level 1 than at level 9) and the values read back exactly."""
    from hsrcli.io import geotiff_writer

    assert geotiff_writer.DEFLATE_LEVEL == 1
    meta = utm_meta.replace(rows=256, cols=256, dtype=np.dtype("int16"), nodata=None)
    yy, xx = np.mgrid[0:256, 0:256]
    noise = np.random.default_rng(0).integers(0, 4, (256, 256, 8))
    cube = ((yy + xx)[:, :, None] * np.arange(1, 9) // 8 + noise).astype(np.int16)
    sizes = {}
    for level in (1, 9):
        monkeypatch.setattr(geotiff_writer, "DEFLATE_LEVEL", level)
        out = tmp_path / f"l{level}.tif"
        with open_writer(out, meta, fmt) as w:
            w.write(Window(0, 0, 256, 256), cube)
        np.testing.assert_array_equal(open_scene(out).read(), cube)
        sizes[level] = out.stat().st_size
    assert sizes[1] > 1.02 * sizes[9]


def test_a_codec_this_gdal_cannot_write_is_refused_before_the_file_is_made(tmp_path, utm_meta, monkeypatch):
    """GDAL only warns about a codec it lacks (ZSTD before 2.3) and writes the blocks uncompressed: the
    writer probes the codec first (:func:`codec_available`, a 16² file in ``/vsimem``) and refuses."""
    from hsrcli.io import geotiff_writer

    assert all(geotiff_writer.codec_available(c) for c in ("deflate", "lzw", "none"))
    real = geotiff_writer.compression_options
    monkeypatch.setattr(geotiff_writer, "compression_options",
                        lambda c, integer, cog=False: {"compress": "NOSUCH"} if c == "zstd" else real(c, integer, cog))
    geotiff_writer.codec_available.cache_clear()
    try:
        assert not geotiff_writer.codec_available("zstd")
        with pytest.raises(HsrInputError, match="--compress zstd: this GDAL .* cannot write it"):
            open_writer(tmp_path / "o.tif", utm_meta, compress="zstd")
        assert list(tmp_path.iterdir()) == []
    finally:
        geotiff_writer.codec_available.cache_clear()
    with pytest.raises(HsrInputError, match="applies to GeoTIFF and COG outputs"):
        open_writer(tmp_path / "o.hdr", utm_meta, compress="deflate")
