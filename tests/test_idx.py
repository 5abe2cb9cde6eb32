"""The IDX reader/writer: round trips, and a clear IdxError for every malformed input."""

import gzip

import numpy as np
import pytest

from prunelab.data.idx import encode_idx, parse_idx, read_idx_file
from prunelab.wiring.errors import IdxError


@pytest.fixture
def images() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, size=(7, 28, 28), dtype=np.uint8)


@pytest.fixture
def labels() -> np.ndarray:
    return np.array([9, 0, 0, 3, 0, 2, 7], dtype=np.uint8)


def test_idx1_round_trip_and_header(labels):
    raw = encode_idx(labels)
    assert raw[:4] == bytes([0, 0, 0x08, 1])
    assert int.from_bytes(raw[4:8], "big") == 7
    assert len(raw) == 8 + 7
    decoded = parse_idx(raw)
    assert decoded.dtype == np.uint8
    assert decoded.shape == (7,)
    np.testing.assert_array_equal(decoded, labels)


def test_idx3_round_trip_and_header(images):
    raw = encode_idx(images)
    assert raw[:4] == bytes([0, 0, 0x08, 3])
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(3)]
    assert dims == [7, 28, 28]
    assert len(raw) == 16 + 7 * 28 * 28
    decoded = parse_idx(raw)
    assert decoded.shape == (7, 28, 28)
    np.testing.assert_array_equal(decoded, images)
    assert encode_idx(decoded) == raw


def test_parse_matches_hand_written_bytes():
    raw = bytes([0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 255])
    np.testing.assert_array_equal(parse_idx(raw), [[1, 2, 3], [4, 5, 255]])


def test_encode_rejects_non_uint8():
    with pytest.raises(IdxError, match="uint8"):
        encode_idx(np.zeros((2, 2), dtype=np.int64))


def test_bad_magic(labels):
    raw = bytearray(encode_idx(labels))
    raw[0] = 0x1F
    with pytest.raises(IdxError, match=r"labels\.idx: bad magic number 1f00"):
        parse_idx(bytes(raw), "labels.idx")


def test_wrong_type_code(labels):
    raw = bytearray(encode_idx(labels))
    raw[2] = 0x0D  # float
    with pytest.raises(IdxError, match=r"type code 0x0d is not unsigned byte"):
        parse_idx(bytes(raw))


@pytest.mark.parametrize("raw", [b"", b"\x00\x00\x08"], ids=["empty", "three-bytes"])
def test_too_short_for_a_header(raw):
    with pytest.raises(IdxError, match="too short for an IDX header"):
        parse_idx(raw, "x.idx")


def test_truncated_dimensions(images):
    raw = encode_idx(images)[:10]  # 3 dimensions declared, only 1.5 present
    with pytest.raises(IdxError, match=r"truncated header \(3 dimensions, 10 bytes\)"):
        parse_idx(raw)


def test_zero_dimensions_is_rejected():
    with pytest.raises(IdxError, match="truncated header"):
        parse_idx(bytes([0, 0, 8, 0]))


@pytest.mark.parametrize("delta", [-1, 1, -100])
def test_data_length_disagrees_with_header(images, delta):
    raw = encode_idx(images)
    raw = raw[:delta] if delta < 0 else raw + b"\x00" * delta
    with pytest.raises(IdxError, match=r"declares shape \(7, 28, 28\) \(5504 bytes\)") as info:
        parse_idx(raw, "img.idx")
    assert f"the file has {len(raw)}" in str(info.value)
    assert str(info.value).startswith("img.idx:")


def test_read_idx_file_plain_and_gz(tmp_path, images):
    raw = encode_idx(images)
    plain = tmp_path / "train-images-idx3-ubyte"
    plain.write_bytes(raw)
    packed = tmp_path / "train-images-idx3-ubyte.gz"
    packed.write_bytes(gzip.compress(raw))
    np.testing.assert_array_equal(read_idx_file(plain), images)
    np.testing.assert_array_equal(read_idx_file(packed), images)


def test_read_idx_file_error_names_the_path(tmp_path, labels):
    path = tmp_path / "broken.gz"
    path.write_bytes(gzip.compress(encode_idx(labels)[:-2]))
    with pytest.raises(IdxError) as info:
        read_idx_file(path)
    assert str(path) in str(info.value)
