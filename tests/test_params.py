"""params.yaml validation: the real file passes; every error names the dotted key and the fix.
What passes is frozen into typed, immutable sections; a stage gets the sections it asks for."""

import copy
import dataclasses
from pathlib import Path

import pytest
import yaml

from prunelab.schema.benchmark import BENCHMARK
from prunelab.schema.every_section import SECTIONS, validate_file
from prunelab.schema.train import TRAIN
from prunelab.wiring.params import ParamsError, build_params, load_params, validate_whole

PROJECT_PARAMS = Path(__file__).resolve().parents[1] / "params.yaml"
REAL = yaml.safe_load(PROJECT_PARAMS.read_text())
SCHEMA = {section.name: section.fields for section in SECTIONS}
KS_ALLOWED = "a non-empty list without duplicates of percentages (an integer in [0, 100))"


@pytest.fixture
def params() -> dict:
    return copy.deepcopy(REAL)


def _error(params) -> str:
    with pytest.raises(ParamsError) as info:
        validate_whole(params, SECTIONS, "p.yaml")
    message = str(info.value)
    assert message.startswith("p.yaml")
    return message


def _valid(params):
    """The whole-file check passes; every section frozen."""
    validate_whole(params, SECTIONS)
    return build_params(params, SECTIONS)


def _frozen(value):
    return tuple(value) if isinstance(value, list) else value


def test_real_params_file_is_valid():
    loaded = validate_file(PROJECT_PARAMS)
    # Every section and key of the schema, in the file's order, holding the file's value.
    assert list(SCHEMA) == list(REAL)
    for name, keys in SCHEMA.items():
        section = getattr(loaded, name)
        assert [field.name for field in dataclasses.fields(section)] == list(keys)
        assert dataclasses.asdict(section) == {k: _frozen(v) for k, v in REAL[name].items()}


def test_build_params_freezes_every_section(params):
    built = build_params(params, SECTIONS)
    assert built.train.seeds == (0, 1, 2) and built.benchmark.batch_sizes == (1, 256)
    assert built.prune.methods == ("weight", "unit", "random", "global")
    assert built.reconstruct.calibration_images == 4096 and built.reconstruct.refit_logits is True
    assert built.data.dataset == "fashion-mnist" and built.finetune.learning_rate == 0.002
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.train.epochs = 1  # type: ignore[misc]


def test_a_stage_gets_only_the_sections_it_loads(params):
    """A stage validates and holds its own sections: a bad value elsewhere is the validation
    stage's to report, and reading a section not loaded names the fix."""
    params["prune"]["ks"] = [100]
    built = build_params(params, (TRAIN, BENCHMARK))
    assert built.train.epochs == 24 and built.benchmark.repeats == 30
    with pytest.raises(ParamsError, match="section 'prune' of params.yaml was not loaded: pass "
                                          "prunelab.schema.prune.PRUNE to load_params"):
        built.prune  # noqa: B018
    params["train"]["epochs"] = 0
    with pytest.raises(ParamsError, match="'train.epochs' is 0"):
        build_params(params, (TRAIN,))


def test_read_log_records_each_value_read(params, tmp_path, monkeypatch):
    from prunelab.wiring.params import READ_LOG_ENV

    log = tmp_path / "reads.log"
    monkeypatch.setenv(READ_LOG_ENV, str(log))
    built = build_params(params, (TRAIN, BENCHMARK))
    assert built.train.epochs == 24 and built.benchmark.curves[0] == "weight"
    scripts_and_keys = [line.split("\t") for line in log.read_text().splitlines()]
    assert [key for _, key in scripts_and_keys] == ["train.epochs", "benchmark.curves"]


def test_unknown_section(params):
    params["pruning"] = {"ks": [1]}
    message = _error(params)
    assert "unknown section 'pruning'" in message
    assert "(allowed: " + ", ".join(SCHEMA) + ")" in message


def test_unknown_key_typo(params):
    params["train"]["epoch"] = 3
    message = _error(params)
    assert "unknown key 'train.epoch'" in message
    assert "epochs" in message and "batch_size" in message  # the allowed keys are listed


def test_missing_key(params):
    del params["train"]["batch_size"]
    message = _error(params)
    assert "missing key 'train.batch_size'" in message
    assert "an integer >= 1" in message


def test_missing_section(params):
    del params["prune"]
    message = _error(params)
    assert "missing section 'prune'" in message
    assert "methods, ks" in message


@pytest.mark.parametrize(
    ("section", "key", "value", "allowed"),
    [
        # the wrong type
        ("train", "epochs", "ten", "an integer >= 1"),
        ("train", "epochs", True, "an integer >= 1"),
        ("train", "epochs", 10.0, "an integer >= 1"),
        ("train", "batch_size", None, "an integer >= 1"),
        ("train", "seeds", 0, "a non-empty list without duplicates of seeds"),
        ("train", "seeds", [0, False], "(an integer >= 0)"),
        ("finetune", "epochs", 2.5, "an integer >= 1"),
        ("gradual", "ramp", "half", "a number in (0, 1]"),
        ("sensitivity", "methods", ["random"], "of pruning methods (one of 'weight', 'unit')"),
        ("train", "learning_rate", "1e-3", "a number in (0, 1]"),
        ("train", "learning_rate", True, "a number in (0, 1]"),
        ("train", "learning_rate", float("nan"), "a number in (0, 1]"),
        ("data", "local_dir", None, "a folder path as a string"),
        ("data", "train_images", "all", "an integer >= 0"),
        ("prune", "ks", 50, "a non-empty list without duplicates of percentages"),
        ("prune", "ks", [50, "60"], "(an integer in [0, 100))"),
        ("prune", "methods", "weight", "a non-empty list without duplicates of pruning methods"),
        # the right type, out of range
        ("train", "epochs", 0, "an integer >= 1"),
        ("train", "epochs", -3, "an integer >= 1"),
        ("train", "batch_size", 0, "an integer >= 1"),
        ("data", "train_images", -1, "an integer >= 0"),
        ("train", "learning_rate", 0, "a number in (0, 1]"),
        ("train", "learning_rate", 1.5, "a number in (0, 1]"),
        ("train", "validation_split", 1.0, "a number in (0, 1)"),
        ("train", "validation_split", 0.0, "a number in (0, 1)"),
        ("train", "weight_decay", 1, "a number in [0, 1)"),
        ("train", "dropout", -0.1, "a number in [0, 1)"),
        ("prune", "ks", [0, 50, 100], KS_ALLOWED),
        ("prune", "ks", [-1, 50], KS_ALLOWED),
        ("train", "seeds", [0, -1], "(an integer >= 0)"),
        ("train", "seeds", [1, 1], "without duplicates"),
        ("finetune", "ks", [50, 100], KS_ALLOWED),
        ("finetune", "learning_rate", 0, "a number in (0, 1]"),
        ("gradual", "ramp", 0, "a number in (0, 1]"),
        ("gradual", "updates", 0, "an integer >= 1"),
        ("sensitivity", "ks", [100], KS_ALLOWED),
    ],
)
def test_a_bad_value_names_its_key_and_what_is_allowed(params, section, key, value, allowed):
    params[section][key] = value
    message = _error(params)
    assert f"'{section}.{key}' is {value!r}: it must be " in message
    assert allowed in message


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("train", "learning_rate", 1),
        ("train", "validation_split", 0.5),
        ("train", "weight_decay", 0),
        ("train", "dropout", 0.0),
        ("train", "epochs", 1),
        ("data", "train_images", 0),
        ("data", "dataset", "mnist"),
        ("data", "local_dir", "/some/folder"),
        ("train", "lr_schedule", "constant"),
        ("prune", "ks", [0, 99]),
        ("prune", "methods", ["unit", "weight"]),
        ("train", "seeds", [7]),
        ("finetune", "methods", ["random", "global"]),
        ("gradual", "ramp", 1),
        ("gradual", "updates", 1),
        ("benchmark", "random_input_curves", []),
        ("benchmark", "curves", ["random+ft", "wanda"]),
    ],
)
def test_boundary_values_accepted(params, section, key, value):
    params[section][key] = value
    if (section, key) == ("finetune", "methods"):
        params["benchmark"].update(curves=["weight", "global+ft"], random_input_curves=[])
    if (section, key) == ("benchmark", "curves"):
        params["finetune"]["methods"] = ["random"]
        params["benchmark"]["random_input_curves"] = ["wanda"]
    if (section, key, value) == ("data", "dataset", "mnist"):
        params["train"]["flip_augment"] = False
    if (section, key) == ("prune", "ks"):
        params["finetune"]["ks"] = value  # fine-tuning starts from these one-shot models
        params["scratch"]["ks"] = [99]  # so do the controls
    assert getattr(getattr(_valid(params), section), key) == _frozen(value)


def test_finetuning_needs_its_one_shot_models(params):
    params["finetune"].update(methods=["weight", "wanda"], ks=[0, 33, 90])
    params["reconstruct"]["methods"] = ["weight_refit"]
    message = _error(params)
    assert "'finetune.ks' has [33], which prune.ks lacks for 'weight'" in message
    assert "'finetune.methods' has 'wanda', which reconstruct.methods does not make" in message


def test_reconstruction_methods_can_be_fine_tuned_and_timed(params):
    params["finetune"].update(methods=["weight", "unit_refit"], ks=[0, 90])
    params["benchmark"]["curves"] = ["weight", "unit", "weight+ft", "unit_refit+ft"]
    built = _valid(params)
    assert built.finetune.methods == ("weight", "unit_refit")
    assert built.benchmark.curves == ("weight", "unit", "weight+ft", "unit_refit+ft")


def test_mirroring_digits_is_refused(params):
    params["data"]["dataset"] = "mnist"
    params["train"]["flip_augment"] = True
    assert "set train.flip_augment: false" in _error(params)


def test_unknown_dataset_lists_the_known_ones(params):
    params["data"]["dataset"] = "cifar"
    message = _error(params)
    assert "'data.dataset' is 'cifar'" in message
    assert "one of 'fashion-mnist', 'mnist'" in message


def test_unknown_lr_schedule(params):
    params["train"]["lr_schedule"] = "step"
    assert "'train.lr_schedule' is 'step': it must be one of 'constant', 'cosine'" in _error(params)


def test_unknown_prune_method(params):
    params["prune"]["methods"] = ["weight", "magnitude"]
    message = _error(params)
    assert "'prune.methods' is ['weight', 'magnitude']" in message
    assert "'weight', 'unit'" in message


def test_timing_a_curve_that_is_not_made_is_refused(params):
    params["prune"]["methods"] = ["weight", "random"]
    params["gradual"]["methods"] = ["random"]
    message = _error(params)
    assert ("'benchmark.curves' has 'unit', which no stage makes: add 'unit' to prune.methods "
            "or reconstruct.methods or drop 'unit' from benchmark.curves") in message
    assert ("'benchmark.curves' has 'weight+gradual', which no stage makes: add 'weight' to "
            "gradual.methods") in message


@pytest.mark.parametrize("curve", ["weight+", "+ft", "weight+tuned", "weight+ft+gradual", 3])
def test_a_malformed_curve_name_is_refused(params, curve):
    params["benchmark"]["curves"] = ["weight", curve]
    message = _error(params)
    assert "'benchmark.curves' is " in message
    assert "<method>, <method>+ft, <method>+gradual, unit+scratch" in message


def test_controls_start_from_models_the_prune_stage_makes(params):
    params["scratch"]["ks"] = [90, 33]
    params["lottery"]["ks"] = [99]
    params["prune"]["methods"] = ["unit", "random"]
    params["benchmark"].update(curves=["unit"], random_input_curves=[])
    params["finetune"]["methods"] = ["unit"]
    params["gradual"]["methods"] = ["random"]
    message = _error(params)
    assert "'scratch.ks' has [33], which prune.ks lacks" in message
    assert "'lottery.ks' needs 'weight' in prune.methods" in message


def test_controls_may_be_switched_off_and_then_not_timed(params):
    params["scratch"]["ks"] = []
    message = _error(params)  # benchmark.curves still has unit+scratch
    assert ("'benchmark.curves' has 'unit+scratch', which no stage makes: add a k to "
            "scratch.ks") in message
    params["benchmark"]["curves"].remove("unit+scratch")
    built = _valid(params)
    assert built.scratch.ks == () and built.lottery.ks == ()


def test_random_inputs_only_for_timed_curves(params):
    params["benchmark"]["random_input_curves"] = ["unit", "wanda"]
    assert ("'benchmark.random_input_curves' has ['wanda'], which benchmark.curves does not "
            "time") in _error(params)


@pytest.mark.parametrize("text", ["100", "-1", "5_0", " 50", "50.0", "", "x"])
def test_parse_percent_refuses(text):
    from prunelab.wiring.params import parse_percent

    with pytest.raises(ParamsError, match=r"--k is .*: it must be an integer in \[0, 100\)"):
        parse_percent("--k", text)


def test_parse_percent_and_choice_accept():
    from prunelab.wiring.params import parse_choice, parse_percent

    assert parse_percent("--k", "0") == 0 and parse_percent("--k", "99") == 99
    assert parse_choice("--method", "unit", ("weight", "unit")) == "unit"
    with pytest.raises(ParamsError, match="--method is 'Unit': it must be one of 'weight', 'unit'"):
        parse_choice("--method", "Unit", ("weight", "unit"))


def test_duplicate_ks(params):
    params["prune"]["ks"] = [0, 50, 50]
    message = _error(params)
    assert "'prune.ks' is [0, 50, 50]" in message
    assert "without duplicates" in message


def test_duplicate_methods(params):
    params["prune"]["methods"] = ["unit", "unit"]
    assert "'prune.methods' is ['unit', 'unit']" in _error(params)


@pytest.mark.parametrize("key", ["ks", "methods"])
def test_empty_list(params, key):
    params["prune"][key] = []
    message = _error(params)
    assert f"'prune.{key}' is []" in message
    assert "non-empty list" in message


def test_several_problems_reported_together(params):
    params["train"]["epochs"] = 0
    params["train"]["epoch"] = 5
    params["data"]["dataset"] = "cifar"
    del params["prune"]["ks"]
    params["extra"] = {}
    message = _error(params)
    for expected in (
        "'train.epochs' is 0",
        "unknown key 'train.epoch'",
        "'data.dataset' is 'cifar'",
        "missing key 'prune.ks'",
        "unknown section 'extra'",
    ):
        assert expected in message
    assert message.count("\n  - ") == 5


@pytest.mark.parametrize("value", [None, [], "data: x", 3])
def test_not_a_mapping(value):
    with pytest.raises(ParamsError, match="expected a mapping of sections"):
        build_params(value, SECTIONS)
    with pytest.raises(ParamsError, match="expected a mapping of sections"):
        validate_whole(value, SECTIONS)


def test_load_params_invalid_yaml(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("train:\n  epochs: [1, 2\n")
    with pytest.raises(ParamsError) as info:
        load_params(path, TRAIN)
    assert str(info.value).startswith(f"{path}: not valid YAML")


def test_load_params_empty_file(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("")
    with pytest.raises(ParamsError, match="expected a mapping of sections"):
        load_params(path, TRAIN)


def test_load_params_missing_file(tmp_path):
    path = tmp_path / "nope.yaml"
    with pytest.raises(ParamsError) as info:
        load_params(path, TRAIN)
    assert str(info.value) == f"{path}: no such params file (run from the project root)"


def test_load_params_reports_the_path_and_key(tmp_path):
    params = copy.deepcopy(REAL)
    params["train"]["epochs"] = "ten"
    path = tmp_path / "custom.yaml"
    path.write_text(yaml.safe_dump(params))
    with pytest.raises(ParamsError) as info:
        load_params(path, TRAIN)
    assert str(info.value).startswith(f"{path} is invalid:")
    assert "'train.epochs' is 'ten'" in str(info.value)
