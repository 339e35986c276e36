"""Every layer's and activation's backward pass against central differences, in float64."""
import numpy as np
import pytest
from seqlearn import Dense, Activation, Flatten, Dropout, Sequential, Input, gradient_check
from seqlearn.activations import ACTIVATIONS

ACTS = sorted(set(ACTIVATIONS) - {'silu'})
X = np.random.default_rng(0).normal(size=(4, 3)) * 1.5


@pytest.mark.parametrize('act', ACTS)
def test_dense_gradients(act):
    errs = gradient_check(Dense(5, activation=act), X)
    assert set(errs) == {'input', 'kernel', 'bias'}
    assert max(errs.values()) < 1e-6, errs


@pytest.mark.parametrize('act', ACTS)
def test_activation_layer_gradients(act):
    assert max(gradient_check(Activation(act), X).values()) < 1e-6


def test_dense_without_bias_and_3d_input():
    errs = gradient_check(Dense(2, use_bias=False, activation='tanh'), np.random.default_rng(1).normal(size=(2, 3, 4)))
    assert set(errs) == {'input', 'kernel'} and max(errs.values()) < 1e-6


def test_flatten_and_dropout_gradients():
    assert max(gradient_check(Flatten(), np.random.default_rng(2).normal(size=(3, 2, 2))).values()) < 1e-6
    assert max(gradient_check(Dropout(0.4), X, training=True).values()) < 1e-6


def test_gradient_check_catches_a_wrong_backward():
    class BadDense(Dense):
        def backward(self, grad, **kw):
            dx = super().backward(grad, **kw)
            self.kernel.grad *= 1.01  # a 1% error must be visible
            return dx
    assert gradient_check(BadDense(3, activation='relu'), X)['kernel'] > 1e-3


def test_model_backward_matches_numerical_gradient():
    """The whole stack: d(loss)/d(every weight) by backprop equals central differences."""
    model = Sequential([Input((3,), dtype='float64'), Dense(4, activation='tanh', dtype='float64'),
                        Dense(2, activation='softmax', dtype='float64')])
    from seqlearn.losses import CategoricalCrossentropy
    loss = CategoricalCrossentropy()
    y = np.eye(2)[[0, 1, 1, 0]]
    out = model.call(X, training=True)
    model.backward(loss.logits_gradient(y, out), wrt_preactivation=True)
    for w in model.weights:
        num = np.zeros_like(w.value)
        for i in np.ndindex(w.shape):
            old = w.value[i]
            w.value[i] = old + 1e-6; lp = loss(y, model.call(X))
            w.value[i] = old - 1e-6; lm = loss(y, model.call(X))
            w.value[i] = old; num[i] = (lp - lm) / 2e-6
        np.testing.assert_allclose(w.grad, num, rtol=1e-5, atol=1e-8)
