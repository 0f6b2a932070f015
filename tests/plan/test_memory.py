"""The memory model against public figures for a 7B Llama (seq 512, batch 1)."""

import pytest

from zaomo.plan.memory import (
    inference_memory_gb,
    largest_model_that_fits,
    lora_params,
    shape_for,
    training_memory_gb,
)

N7B = 6.74e9


@pytest.mark.parametrize(("method", "public_gb"), [("full", 120.0), ("lora", 16.0), ("qlora", 6.0)])
def test_7b_training_memory_within_25_percent_of_public_figures(method, public_gb):
    est = training_memory_gb(N7B, method)
    assert abs(est - public_gb) / public_gb <= 0.25, (method, est)


def test_7b_fp16_inference_memory():
    assert 13.0 <= inference_memory_gb(N7B, bits=16, context=512) <= 16.0


def test_methods_order_and_lora_is_small():
    full, lora, qlora = (training_memory_gb(N7B, m) for m in ("full", "lora", "qlora"))
    assert full > lora > qlora
    # r=8 on every linear layer of Llama-2-7B: ~20M trainable parameters (0.3%)
    assert 15e6 < lora_params(shape_for(N7B), r=8) < 25e6


def test_largest_model_that_fits_grows_with_memory_and_cheaper_methods():
    assert largest_model_that_fits(24, "qlora") > largest_model_that_fits(24, "lora") >= 3e9
    assert largest_model_that_fits(80, "full") > largest_model_that_fits(24, "full")
    assert largest_model_that_fits(0.1, "full") == 0.0


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="method"):
        training_memory_gb(N7B, "adapter")
