"""The exercise mechanism: ``check_function`` accepts a right answer and explains every kind of wrong one."""
from __future__ import annotations

import math
import random

import pytest
import torch

from gptoss_edu.exercises import ExerciseError, check_function, describe_difference


def tensor_inputs(rng: random.Random) -> tuple:
    generator = torch.Generator().manual_seed(rng.randrange(2**31))
    return (torch.randn(2, 3, generator=generator),)


def float_inputs(rng: random.Random) -> tuple:
    return (rng.uniform(0.1, 10.0),)


def reject(candidate, reference, make_inputs, **kwargs) -> str:
    """Run the checker expecting a rejection; return its message."""
    with pytest.raises(ExerciseError) as caught:
        check_function(candidate, reference, make_inputs, **kwargs)
    return str(caught.value)


# ---- accepting ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "candidate, reference, make_inputs",
    [
        (lambda x: x * 2, lambda x: x + x, tensor_inputs),
        (lambda x: x.softmax(-1), lambda x: torch.exp(x) / torch.exp(x).sum(-1, keepdim=True), tensor_inputs),
        (lambda x: [x, x / 2], lambda x: [x, x * 0.5], float_inputs),
        (lambda x: {"root": x**0.5, "n": 1}, lambda x: {"n": 1, "root": math.sqrt(x)}, float_inputs),
        (lambda x: math.log(x), lambda x: math.log2(x) * math.log(2), float_inputs),
        (lambda x: (x > 0).long(), lambda x: (x > 0).to(torch.int64), tensor_inputs),
    ],
    ids=["tensor", "tensor-within-tolerance", "list", "dict", "float", "int-tensor"],
)
def test_accepts_a_correct_function_and_says_so(candidate, reference, make_inputs, capsys):
    check_function(candidate, reference, make_inputs, name="answer")
    assert "✓ answer matches the library on 5 random inputs" in capsys.readouterr().out


def test_runs_both_functions_on_the_same_inputs_for_each_trial():
    seen_by_reference, seen_by_candidate = [], []
    check_function(
        lambda x: seen_by_candidate.append(x), lambda x: seen_by_reference.append(x), float_inputs, trials=7,
    )
    assert len(seen_by_candidate) == 7 and seen_by_candidate == seen_by_reference
    assert len(set(seen_by_candidate)) == 7, "each trial draws fresh inputs"


def test_inputs_are_reproducible_from_the_seed():
    def inputs_seen(seed: int) -> list[float]:
        seen = []
        check_function(lambda x: x, lambda x: seen.append(x) or x, float_inputs, seed=seed)
        return seen

    assert inputs_seen(3) == inputs_seen(3) != inputs_seen(4)


def test_default_name_is_the_function_name(capsys):
    def scaled_sum(x):
        return x * 2

    check_function(scaled_sum, lambda x: x + x, float_inputs)
    assert "scaled_sum matches" in capsys.readouterr().out


# ---- rejecting: the learner's code does not run -------------------------------------------
def test_stub_is_reported_as_not_written_yet_without_an_error(capsys):
    def my_softmax(x, dim):
        raise NotImplementedError

    assert check_function(my_softmax, torch.softmax, lambda rng: (torch.zeros(3), 0)) is False
    out = capsys.readouterr().out
    assert "my_softmax is not written yet" in out and "✓" not in out


def test_exception_in_learner_code_is_shown_with_the_inputs():
    def inverse(x):
        return 1 / (x - x)

    message = reject(inverse, lambda x: 1 / x, float_inputs)
    assert "Your function raised ZeroDivisionError" in message
    assert "Smallest failing input found:\n  argument 0 = " in message


def test_exception_keeps_the_learners_traceback():
    with pytest.raises(ExerciseError) as caught:
        check_function(lambda x: [][1], lambda x: x, float_inputs)
    assert isinstance(caught.value.__cause__, IndexError)


def test_reports_the_smallest_failing_input_it_finds():
    def wrong_for_long_lists(xs):
        return xs if len(xs) < 3 else xs[::-1]

    message = reject(wrong_for_long_lists, lambda xs: xs, lambda rng: ([rng.random() for _ in range(rng.randint(0, 30))],))
    shown = eval(message.split("argument 0 = ")[1].split("\n")[0])
    assert len(shown) < 8, "a short failing list is found among the extra draws"


def test_a_single_failing_row_is_cut_out_of_a_batch():
    def wrong_on_negative_rows(x):
        return torch.where(x[:, :1] < 0, -x, x)

    message = reject(wrong_on_negative_rows, lambda x: x, tensor_inputs, inputs=("x",))
    assert "x = tensor([[" in message and message.count("], [") == 0, "one row of the batch is enough to show it"


# ---- rejecting: the answer has the wrong form ---------------------------------------------
@pytest.mark.parametrize(
    "candidate, make_inputs, reference, expected_words",
    [
        (lambda x: x.tolist(), tensor_inputs, lambda x: x, "type: expected a torch.Tensor, got list"),
        (lambda x: str(x), float_inputs, lambda x: x, "type: expected float, got str"),
        (lambda x: (x,), float_inputs, lambda x: {"x": x}, "type: expected dict, got tuple"),
        (lambda x: x.T, tensor_inputs, lambda x: x, "shape: expected (1, 3), got (3, 1)"),
        (lambda x: x.double(), tensor_inputs, lambda x: x, "dtype: expected torch.float32, got torch.float64"),
        (lambda x: [x], float_inputs, lambda x: [x, x], "length: expected 2 items, got 1"),
        (lambda x: {"a": x}, float_inputs, lambda x: {"a": x, "b": x}, "keys: missing ['b'], unexpected []"),
    ],
    ids=["tensor-vs-list", "float-vs-str", "dict-vs-tuple", "shape", "dtype", "list-length", "dict-keys"],
)
def test_wrong_form_is_named(candidate, make_inputs, reference, expected_words):
    assert expected_words in reject(candidate, reference, make_inputs)


# ---- rejecting: wrong values, with the worst place named ----------------------------------
def test_tensor_values_name_the_worst_index():
    def off_in_two_places(x):
        y = x.clone()
        y[0, 0] += 0.01
        y[1, 2] += 1.0  # the worst one
        return y

    message = reject(off_in_two_places, lambda x: x, tensor_inputs)
    assert "2 of 6 elements are off" in message
    assert "worst at index (1, 2)" in message


def test_tensor_difference_inside_tolerance_is_accepted_and_outside_is_not():
    x = torch.ones(4)
    assert describe_difference(x, x + 5e-7) is None
    assert describe_difference(x, x + 1e-3, atol=1e-2) is None
    assert "worst at index (3,)" in describe_difference(x, torch.tensor([1.0, 1.0, 1.0, 1.1]))


def test_nan_matches_only_nan():
    nan = torch.tensor([1.0, math.nan])
    assert describe_difference(nan, nan.clone()) is None
    assert "index (1,)" in describe_difference(nan, torch.tensor([1.0, 0.0]))
    assert "index (1,)" in describe_difference(torch.tensor([1.0, 0.0]), nan)
    assert describe_difference(math.nan, math.nan) is None


def test_integer_tensors_must_match_exactly():
    message = describe_difference(torch.tensor([[1, 2], [3, 4]]), torch.tensor([[1, 2], [3, 5]]))
    assert "1 elements differ; first at index (1, 1): expected 4, got 5" in message


def test_zero_dimensional_tensor():
    assert describe_difference(torch.tensor(1.0), torch.tensor(1.0)) is None
    assert "expected 1, got 2" in describe_difference(torch.tensor(1.0), torch.tensor(2.0))


def test_list_and_dict_values_name_the_path():
    assert describe_difference([1.0, 2.0, 3.0], [1.0, 2.0, 3.5]) == "value at [2]: expected 3.0, got 3.5"
    nested = describe_difference({"a": [1, {"b": torch.zeros(2)}]}, {"a": [1, {"b": torch.ones(2)}]})
    assert nested.startswith("value at ['a'][1]['b']: 2 of 2 elements are off")


def test_floats_use_tolerance_and_ints_compare_exactly():
    assert describe_difference(1.0, 1.0 + 1e-9) is None
    assert describe_difference(1.0, 1) is None, "an int is fine where a float is expected"
    assert describe_difference(1.0, 1.1) == "value: expected 1.0, got 1.1"
    assert describe_difference(3, 4) == "value: expected 3, got 4"
    assert "type: expected int, got float" in describe_difference(3, 3.0)
    assert "type: expected float, got bool" in describe_difference(1.0, True)


def test_float_message_from_check_function():
    message = reject(lambda x: x + 0.1, lambda x: x, float_inputs)
    assert "differs from the library" in message and "value: expected" in message


# ---- infinities and strings -------------------------------------------------------------------
def test_infinite_expected_value_is_not_matched_by_a_finite_one():
    mask = torch.tensor([0.0, -math.inf])
    assert describe_difference(mask, torch.tensor([0.0, 0.0])) is not None
    assert describe_difference(mask, torch.tensor([0.0, math.inf])) is not None
    assert describe_difference(mask, mask.clone()) is None


def test_a_string_is_not_a_list_of_characters():
    assert describe_difference(["a", "b"], "ab") is not None


# ---- notebook 00's checker ----------------------------------------------------------------
def test_welcome_checker_accepts_a_count_from_the_config_and_rejects_wrong_ones(capsys):
    from gptoss_edu.config import GPT_OSS_20B
    from gptoss_edu.exercises.welcome import check_attention_parameters

    def from_the_config(c):
        return c.hidden_size * c.qkv_dim + c.qkv_dim + c.q_dim * c.hidden_size + c.hidden_size + c.num_attention_heads

    check_attention_parameters(from_the_config)
    assert "✓ from_the_config matches" in capsys.readouterr().out

    def forgot_the_sinks(c):
        return from_the_config(c) - c.num_attention_heads

    def typed_in_20b(c):
        return from_the_config(GPT_OSS_20B)

    def divides(c):
        return from_the_config(c) / 1

    for wrong, words in [(forgot_the_sinks, "value: expected"), (typed_in_20b, "value: expected"),
                         (divides, "type: expected int, got float")]:
        with pytest.raises(ExerciseError, match=words):
            check_attention_parameters(wrong)
