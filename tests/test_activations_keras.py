"""Every activation seqlearn has by name, against Keras 3's function of the same name on the same inputs (the interop extra)."""
import os
import numpy as np
import pytest
os.environ.setdefault('KERAS_BACKEND', 'torch')
keras = pytest.importorskip('keras')
from seqlearn.activations import ACTIVATIONS

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
X = (np.random.default_rng(0).normal(size=(6, 5)) * 4).astype('float32')


@pytest.mark.parametrize('name', sorted(n for n in ACTIVATIONS if n != 'leaky_relu'))
def test_activation_matches_keras(name):
    want = keras.ops.convert_to_numpy(getattr(keras.activations, name)(X))
    np.testing.assert_allclose(ACTIVATIONS[name](X), want, rtol=2e-6, atol=2e-6)


def test_leaky_relu_uses_keras_s_slope():
    "Keras's leaky_relu function defaults to negative_slope=0.2 (its LeakyReLU layer to 0.3)."
    want = keras.ops.convert_to_numpy(keras.activations.leaky_relu(X))
    np.testing.assert_allclose(ACTIVATIONS['leaky_relu'](X), want, rtol=1e-6, atol=1e-7)
