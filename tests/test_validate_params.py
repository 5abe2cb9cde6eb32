"""The validate_params stage: the whole params file, checked before any other stage runs."""

from __future__ import annotations

from pathlib import Path

import validate_params

ROOT = Path(__file__).resolve().parents[1]


def test_a_valid_file_writes_the_same_text_every_time(tmp_path: Path) -> None:
    out = tmp_path / "params.valid"
    assert validate_params.main(["--params", str(ROOT / "params.yaml"), "--out", str(out)]) == 0
    first = out.read_bytes()
    assert validate_params.main(["--params", str(ROOT / "params.yaml"), "--out", str(out)]) == 0
    assert out.read_bytes() == first == validate_params.VALID


def test_a_bad_value_in_any_section_stops_it_and_writes_nothing(tmp_path: Path, capsys) -> None:
    text = (ROOT / "params.yaml").read_text()
    bad = text.replace("methods: [weight, unit, random, global]", "methods: [magnitude]")
    bad = bad.replace("repeats: 30", "repeats: 0")
    assert "methods: [magnitude]" in bad and "repeats: 0" in bad
    params, out = tmp_path / "params.yaml", tmp_path / "params.valid"
    params.write_text(bad)
    assert validate_params.main(["--params", str(params), "--out", str(out)]) == 1
    error = capsys.readouterr().err
    assert error.startswith(f"validate_params: error: {params} is invalid:")
    assert "'prune.methods' is ['magnitude']" in error and "'benchmark.repeats' is 0" in error
    assert not out.exists()
