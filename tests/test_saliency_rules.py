"""Saliency building blocks without a model: argument checks, quadrature rules, normalisation, result containers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from generator.attribution.quadrature import IG_METHODS, check_ig_method, ig_rule
from generator.attribution.shares import causal_mask, completeness_gap, normalise, token_norms
from generator.methods.saliency.scores import METHODS, check_methods, frozen
from generator.attribution.checks import check_ig_steps, check_n_prompt
from generator.attribution.targets import check_target


@pytest.mark.parametrize("steps", [1, 0, -3, 513, 2.5, "50", True, None])
def test_ig_steps_out_of_range_is_refused(steps):
    with pytest.raises(ValueError, match=r"ig_steps must be an integer from 2 to 512"):
        check_ig_steps(steps)


@pytest.mark.parametrize("steps", [2, 50, 512, np.int64(7)])
def test_ig_steps_in_range_is_accepted(steps):
    assert check_ig_steps(steps) == int(steps)


@pytest.mark.parametrize("n_prompt, message", [(0, "between 1 and the sequence length 8"),
                                               (-1, "between 1 and the sequence length 8"),
                                               (9, "between 1 and the sequence length 8"),
                                               (8, "nothing generated"), (2.0, "must be an integer")])
def test_n_prompt_out_of_range_is_refused(n_prompt, message):
    with pytest.raises(ValueError, match=message):
        check_n_prompt(n_prompt, 8)


def test_target_and_methods_are_checked():
    assert check_target("probability") == "probability"
    with pytest.raises(ValueError, match="target must be one of 'logit', 'probability'"):
        check_target("loss")
    assert check_methods(["integrated_gradients", "gradient_norm"]) == ("gradient_norm", "integrated_gradients")
    for bad in [(), ["shap"], "gradient"]:
        with pytest.raises(ValueError, match="methods must be a non-empty subset"):
            check_methods(bad)


def test_captum_biased_trapezoid_is_refused_with_the_reason():
    with pytest.raises(ValueError, match=r"\(n-1\)/n.*use 'trapezoid'"):
        check_ig_method("riemann_trapezoid")
    with pytest.raises(ValueError, match="ig_method must be one of"):
        check_ig_method("simpson")


@pytest.mark.parametrize("method", IG_METHODS)
@pytest.mark.parametrize("steps", [2, 7, 50, 512])
def test_rules_have_weights_summing_to_one_and_nodes_in_the_unit_interval(method, steps):
    alphas, weights = ig_rule(method, steps)
    assert alphas.shape == weights.shape == (steps,)
    assert np.all(np.diff(alphas) > 0) and alphas[0] >= 0 and alphas[-1] <= 1
    assert np.all(weights > 0)
    assert weights.sum() == pytest.approx(1.0, abs=1e-12)


def test_rules_integrate_what_they_should_exactly():
    cubic = lambda a: 4 * a ** 3 - 3 * a ** 2 + 2 * a  # integral over [0, 1] is 1
    alphas, weights = ig_rule("gausslegendre", 2)  # exact to degree 3
    assert weights @ cubic(alphas) == pytest.approx(1.0, abs=1e-14)
    for method in ["trapezoid", "riemann_middle"]:  # exact for linear functions
        alphas, weights = ig_rule(method, 5)
        assert weights @ (3 * alphas + 1) == pytest.approx(2.5, abs=1e-14)
    alphas, weights = ig_rule("trapezoid", 5)
    assert alphas[0] == 0 and alphas[-1] == 1 and weights[0] == weights[-1] == pytest.approx(1 / 8)


@pytest.mark.parametrize("method", ["gausslegendre", "riemann_left", "riemann_right", "riemann_middle"])
def test_rules_equal_captums_rules_of_the_same_name(method):
    from captum.attr._utils.approximation_methods import approximation_parameters
    step_sizes, alphas = approximation_parameters(method)
    ours_alphas, ours_weights = ig_rule(method, 50)
    np.testing.assert_allclose(ours_alphas, alphas(50), atol=1e-7)  # Captum rounds Riemann nodes to float32
    np.testing.assert_allclose(ours_weights, step_sizes(50), atol=1e-12)


def test_captum_trapezoid_is_ours_scaled_by_n_minus_1_over_n():
    from captum.attr._utils.approximation_methods import approximation_parameters
    step_sizes, alphas = approximation_parameters("riemann_trapezoid")
    ours_alphas, ours_weights = ig_rule("trapezoid", 50)
    np.testing.assert_allclose(ours_alphas, alphas(50), atol=1e-7)
    np.testing.assert_allclose(np.array(step_sizes(50)), ours_weights * 49 / 50, atol=1e-12)
    assert sum(step_sizes(50)) == pytest.approx(0.98)


def test_normalise_makes_nonnegative_rows_summing_to_one_over_valid_entries():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(3, 5, 4))
    valid = causal_mask(2, 5)
    assert valid.tolist() == [[True, True, False, False, False], [True, True, True, False, False],
                              [True, True, True, True, False]]
    norms = token_norms(vectors)
    np.testing.assert_allclose(norms, np.sqrt((vectors ** 2).sum(-1)))
    scores = normalise(norms, valid)
    assert np.all(scores >= 0) and np.all(scores[~valid] == 0)
    np.testing.assert_allclose(scores.sum(-1), 1.0, atol=1e-12)
    np.testing.assert_allclose(scores[0, :2], norms[0, :2] / norms[0, :2].sum())
    assert normalise(np.zeros((1, 3))).tolist() == [[0.0, 0.0, 0.0]]  # nothing reached the inputs: no invention


def test_completeness_gap():
    gap = completeness_gap(np.array([1.0, 2.0, 0.0, 1.0]), np.array([3.0, 2.0, 1.0, 1.0]), np.array([1.0, 0.0, 1.0, 1.0]))
    assert gap[0] == pytest.approx(0.5) and gap[1] == 0.0 and gap[2] == 0.0 and gap[3] == np.inf


def test_result_arrays_are_float32_and_read_only():
    array = frozen(np.arange(3, dtype=np.float64))
    assert array.dtype == np.float32
    with pytest.raises(ValueError):
        array[0] = 1
    assert METHODS == ("gradient_x_input", "gradient_norm", "integrated_gradients")


def test_importing_the_package_and_its_results_does_not_import_torch():
    code = ("import sys, generator.methods.saliency.scores as s, generator.attribution.quadrature as q, "
            "generator.methods.saliency.section, generator.attribution.targets, generator.attribution.baselines, "
            "generator.attribution.shares, generator.attribution.rules, generator.attribution.options; "
            "s.CausalSaliency; q.ig_rule('gausslegendre', 4); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parent.parent)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("n", [2, 3, 8, 49, 50, 128])
def test_gauss_legendre_equals_numpy_leggauss(n):
    from generator.attribution.quadrature import gauss_legendre
    nodes, weights = gauss_legendre(n)
    expected_nodes, expected_weights = np.polynomial.legendre.leggauss(n)
    np.testing.assert_allclose(nodes, expected_nodes, atol=1e-14)
    np.testing.assert_allclose(weights, expected_weights, atol=1e-14)
