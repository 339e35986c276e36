"""ReLU, LeakyReLU, ELU, Softmax and PReLU against Keras 3's layers of the same names (same inputs, same alpha), and through
to_keras / from_keras / to_torch (the interop extra)."""
import os
import numpy as np
import pytest
os.environ.setdefault('KERAS_BACKEND', 'torch')
keras = pytest.importorskip('keras')
torch = pytest.importorskip('torch')
from seqlearn import Sequential, Input, Dense, set_seed
from seqlearn import layers as L
from seqlearn.export import to_keras, from_keras, to_torch

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
X = (np.random.default_rng(0).normal(size=(5, 3, 4)) * 3).astype('float32')
CASES = [('ReLU', {}), ('ReLU', {'max_value': 6.0}), ('ReLU', {'max_value': 2.0, 'negative_slope': 0.1, 'threshold': 0.5}),
         ('LeakyReLU', {}), ('LeakyReLU', {'negative_slope': 0.05}), ('ELU', {}), ('ELU', {'alpha': 0.5}),
         ('Softmax', {}), ('Softmax', {'axis': 1}), ('PReLU', {}), ('PReLU', {'shared_axes': [1]})]


@pytest.mark.parametrize('cls, kw', CASES, ids=[f"{c}-{i}" for i, (c, _) in enumerate(CASES)])
def test_layer_matches_keras(cls, kw):
    mine, theirs = getattr(L, cls)(**kw), getattr(keras.layers, cls)(**kw)
    mine(X); theirs(X)
    if cls == 'PReLU':
        alpha = np.random.default_rng(1).normal(size=mine.alpha.shape).astype('float32')
        mine.set_weights([alpha]); theirs.set_weights([alpha])
    np.testing.assert_allclose(mine(X), keras.ops.convert_to_numpy(theirs(X)), rtol=1e-6, atol=1e-6)


def test_models_with_activation_layers_travel_to_keras_and_torch_and_back():
    set_seed(0)
    m = Sequential([Input((3, 4)), Dense(6), L.PReLU(alpha_initializer='random_normal', shared_axes=[1]), L.ReLU(max_value=4.0),
                    Dense(5), L.LeakyReLU(0.1), L.ELU(0.7), L.Softmax(axis=1)])
    want = m.predict(X, verbose=0)
    km = to_keras(m)
    np.testing.assert_allclose(km.predict(X, verbose=0), want, rtol=1e-5, atol=1e-6)
    back = from_keras(km)
    assert [type(l).__name__ for l in back.layers] == [type(l).__name__ for l in m.layers]
    np.testing.assert_allclose(back.predict(X, verbose=0), want, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(to_torch(m).eval()(torch.from_numpy(X)).detach().numpy(), want, rtol=1e-5, atol=1e-6)


def test_prelu_trains():
    set_seed(0)
    m = Sequential([Input((4,)), Dense(8), L.PReLU(alpha_initializer='constant'), Dense(1)])
    m.compile('adam', 'mse')
    x = np.random.default_rng(2).normal(size=(64, 4)).astype('float32')
    a0 = m.layers[1].alpha.value.copy()
    m.fit(x, np.abs(x[:, :1]), epochs=3, verbose=0)
    assert not np.array_equal(m.layers[1].alpha.value, a0)
