"""gptoss_edu.course.real_weights: one variable for the real weights, or the classroom bundle."""
from __future__ import annotations

import json

import pytest

from gptoss_edu.config import GPT_OSS_20B, GPT_OSS_120B, TINY
from gptoss_edu.course import WEIGHTS_ENV, real_weights
from gptoss_edu.io.bundle import BUNDLE_ENV
from gptoss_edu.io.bundle import CHECKPOINTS_DIR as BUNDLE_CHECKPOINTS


def config_folder(folder, config):
    """A folder that find_checkpoint accepts: an original-layout config.json (no tensors are read)."""
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(config.to_original_dict()))
    return folder


@pytest.fixture
def no_weights(monkeypatch):
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    monkeypatch.delenv(BUNDLE_ENV, raising=False)


def test_none_without_variable_or_bundle(no_weights):
    assert real_weights() is None


def test_variable_names_the_folder(no_weights, monkeypatch, tmp_path):
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path))
    assert real_weights() == tmp_path


def test_variable_pointing_nowhere_is_an_error_naming_it(no_weights, monkeypatch, tmp_path):
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match=WEIGHTS_ENV):
        real_weights()


def test_bundle_gives_a_real_model_not_the_small_ones(no_weights, monkeypatch, tmp_path):
    checkpoints = tmp_path / BUNDLE_CHECKPOINTS
    config_folder(checkpoints / "a-nano", TINY)
    config_folder(checkpoints / "big" / "original", GPT_OSS_120B)
    twenty = config_folder(checkpoints / "z-twenty", GPT_OSS_20B)
    (checkpoints / "notes").mkdir()  # not a checkpoint: skipped
    monkeypatch.setenv(BUNDLE_ENV, str(tmp_path))
    assert real_weights() == twenty  # the 20b is preferred over the 120b


def test_bundle_with_only_small_models_gives_none(no_weights, monkeypatch, tmp_path):
    config_folder(tmp_path / BUNDLE_CHECKPOINTS / "nano", TINY)
    monkeypatch.setenv(BUNDLE_ENV, str(tmp_path))
    assert real_weights() is None


def test_variable_wins_over_bundle(no_weights, monkeypatch, tmp_path):
    config_folder(tmp_path / "bundle" / BUNDLE_CHECKPOINTS / "gpt-oss-20b", GPT_OSS_20B)
    monkeypatch.setenv(BUNDLE_ENV, str(tmp_path / "bundle"))
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path))
    assert real_weights() == tmp_path
