"""Tuning the fast MoE kernels' tiles (``gptoss_edu.fast.moe_tuning``): the choice, the file, the capture rule.

The timing itself needs CUDA events; here a fake clock stands in for them, so what is tested
is everything around it: the fastest candidate wins, failing candidates are skipped, the
choice is remembered and written, a damaged file means tuning again, and nothing is timed
while a CUDA graph is being captured.
"""
from __future__ import annotations

import json

import pytest

from gptoss_edu.fast import moe_tuning

TABLE = (16, 64, 256, 4)


@pytest.fixture(autouse=True)
def forget(monkeypatch):
    monkeypatch.setattr(moe_tuning, "_remembered", {})


def fake_clock(costs: dict):
    """``seconds(call)`` that runs the call (which records its tile) and returns that tile's cost."""
    ran = []

    def seconds(call):
        call()
        return costs[ran[-1]]

    return ran, seconds


def test_the_fastest_candidate_wins_and_failures_are_skipped():
    ran, seconds = fake_clock({(1, 1, 1, 1): 3.0, (2, 2, 2, 2): 1.0, (3, 3, 3, 3): 2.0})

    def run(tile):
        ran.append(tile)
        if tile == (4, 4, 4, 4):
            raise RuntimeError("out of resources: shared memory")

    assert moe_tuning.fastest(((1, 1, 1, 1), (4, 4, 4, 4), (2, 2, 2, 2), (3, 3, 3, 3), (2, 2, 2, 2)), run,
                              seconds) == (2, 2, 2, 2)
    assert ran.count((2, 2, 2, 2)) == 1  # a repeated candidate is timed once
    assert moe_tuning.fastest(((4, 4, 4, 4),), run, seconds) is None


def test_a_tuned_tile_is_remembered_and_written_then_read_back_without_timing(tmp_path):
    path = tmp_path / "tiles.json"
    costs = {tile: 1.0 for tile in (TABLE, *moe_tuning.CANDIDATES["decode"])}
    costs[(16, 128, 128, 8)] = 0.5
    ran, seconds = fake_clock(costs)
    tile = moe_tuning.tuned_tile("H200 sm_90 decode 2880x2880 E32", TABLE, "decode", ran.append, capturing=False,
                                 seconds=seconds, path=path)
    assert tile == (16, 128, 128, 8) and set(ran) == set(costs)
    assert json.loads(path.read_text()) == {"H200 sm_90 decode 2880x2880 E32": [16, 128, 128, 8]}
    moe_tuning._remembered.clear()  # a new process: the file answers, nothing is timed
    ran.clear()
    again = moe_tuning.tuned_tile("H200 sm_90 decode 2880x2880 E32", TABLE, "decode", ran.append, capturing=False,
                                  seconds=seconds, path=path)
    assert again == tile and ran == []


def test_nothing_is_timed_while_capturing_a_graph(tmp_path):
    def run(tile):
        raise AssertionError("no launch may be timed inside a capture")

    assert moe_tuning.tuned_tile("k", TABLE, "grouped", run, capturing=True, path=tmp_path / "t.json") == TABLE
    assert not (tmp_path / "t.json").exists()


def test_a_damaged_file_means_tuning_again_and_other_problems_are_kept(tmp_path):
    path = tmp_path / "tiles.json"
    path.write_text("{not json")
    ran, seconds = fake_clock({tile: 1.0 for tile in (TABLE, *moe_tuning.CANDIDATES["decode"])})
    assert moe_tuning.tuned_tile("a", TABLE, "decode", ran.append, capturing=False, seconds=seconds,
                                 path=path) == TABLE  # all equal: the first (the table's) wins
    path.write_text(json.dumps({"b": [64, 64, 128, 4], "broken": [1, 2]}))
    moe_tuning._remembered.clear()
    moe_tuning.tuned_tile("a", TABLE, "decode", ran.append, capturing=False, seconds=seconds, path=path)
    assert json.loads(path.read_text()) == {"a": list(TABLE), "b": [64, 64, 128, 4]}


def test_an_unwritable_cache_only_costs_tuning_again(tmp_path):
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("")
    ran, seconds = fake_clock({tile: 1.0 for tile in (TABLE, *moe_tuning.CANDIDATES["decode"])})
    tile = moe_tuning.tuned_tile("a", TABLE, "decode", ran.append, capturing=False, seconds=seconds,
                                 path=blocked / "tiles.json")
    assert tile == TABLE
