"""Keras's own contract for Sequential (behaviours from Keras 3's Sequential test suite), each as seqlearn does it."""
import pickle, warnings
import numpy as np
import pytest
from seqlearn import set_seed, clear_session, ShapeError
from seqlearn.layers import Input, Dense, Dropout, Layer, Flatten, Reshape
from seqlearn.models import Sequential, Model

X = np.random.default_rng(0).normal(size=(32, 4)).astype('float32')


@pytest.fixture(autouse=True)
def _fresh():
    clear_session(); set_seed(0)


def test_inputs_and_outputs_exist_once_built():
    m = Sequential([Dense(3), Dense(2)])
    with pytest.raises(AttributeError, match='not built yet'): m.inputs   # as Keras: hasattr(m, 'inputs') is False
    m.build((None, 4))
    assert [t.shape for t in m.inputs] == [(None, 4)] and [t.shape for t in m.outputs] == [(None, 2)]
    assert m.layers[0].input.shape == (None, 4) and m.layers[1].output is m.outputs[0]
    again = Model(m.inputs, m.outputs)  # the symbolic graph of a Sequential model is a functional model
    np.testing.assert_array_equal(again.predict(X, verbose=0), m.predict(X, verbose=0))


def test_input_shape_is_an_attribute_error_until_known():
    assert not hasattr(Sequential(), 'input_shape')
    assert not hasattr(Sequential([Dense(2)]), 'input_shape')
    assert Sequential([Input((3,)), Dense(2)]).input_shape == (None, 3)


def test_compute_output_shape_without_building():
    m = Sequential([Dense(5), Dense(2)])
    assert m.compute_output_shape((None, 3)) == (None, 2) and not m.built
    assert Sequential([Reshape((2, 3)), Flatten()]).compute_output_shape((None, 6)) == (None, 6)


def test_summary_before_build_shows_unknown_shapes():
    out = []; Sequential([Dense(4), Dense(1)]).summary(print_fn=out.append)
    assert '?' in out[0] and 'Total params: 0' in out[0]


def test_later_input_shape_is_ignored_with_a_warning():
    with pytest.warns(UserWarning, match='ignored'):
        m = Sequential([Dense(3, input_shape=(4,)), Dense(2, input_shape=(7,))])
    assert m.output_shape == (None, 2) and m.layers[1].kernel.shape == (3, 2)


class KerasStyle(Layer):
    "A custom layer written the Keras way: weights in build, the forward pass in call(self, inputs, training=None)."
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs); self.units = units
    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer='random_normal', trainable=True, name='w')
    def call(self, inputs, training=None):
        self.x = inputs
        return inputs @ self.w.value
    def backward(self, grad):
        self.w.grad[...] = self.x.T @ grad
        return grad @ self.w.value.T


class NoShape(Layer):
    "A layer that does not say its output shape: it is built by running it on a sample batch."
    def call(self, inputs, training=None): return np.concatenate([inputs, inputs], axis=-1)
    def backward(self, grad): return grad[:, :grad.shape[1] // 2] + grad[:, grad.shape[1] // 2:]


def test_custom_layers_written_the_keras_way_work_in_a_sequential_model():
    m = Sequential([Input((4,)), KerasStyle(3), NoShape(), Dense(1)])
    assert [l.output_shape for l in m.layers] == [(None, 3), (None, 6), (None, 1)]
    m.compile('adam', 'mse')
    h = m.fit(X, X[:, :1], epochs=40, verbose=0)
    assert h.history['loss'][-1] < h.history['loss'][0]


def test_models_and_layers_pickle():
    m = Sequential([Input((4,)), Dense(3, activation='relu'), Dropout(0.1), Dense(1, activation='sigmoid')])
    m.compile('adam', 'binary_crossentropy', metrics=['accuracy'])
    m.fit(X, (X[:, 0] > 0).astype('float32'), epochs=1, verbose=0)
    m2 = pickle.loads(pickle.dumps(m))
    np.testing.assert_array_equal(m.predict(X, verbose=0), m2.predict(X, verbose=0))
    m2.fit(X, (X[:, 0] > 0).astype('float32'), epochs=1, verbose=0)  # and it still trains
    d = pickle.loads(pickle.dumps(Dense(2, activation='gelu')))
    assert d.activation.name == 'gelu'
    a = Input((4,)); f = Model(a, Dense(1)(a))
    f2 = pickle.loads(pickle.dumps(f))
    np.testing.assert_array_equal(f.predict(X, verbose=0), f2.predict(X, verbose=0))


def test_messages_say_what_keras_says_in_seqlearns_words():
    with pytest.raises(ValueError, match='Only instances of Layer can be added'): Sequential().add({})
    with pytest.raises(ValueError, match='already has an Input'): Sequential([Input((3,)), Input((3,))])
    with pytest.raises(ValueError, match='layer names must be unique'): Sequential([Dense(2, name='d'), Dense(2, name='d')])
    with pytest.raises(ValueError, match='is empty'): Sequential()(X)
    with pytest.raises(ShapeError, match=r'declared with Input shape \(3,\), but build\(\) got \(None, 4\)'):
        Sequential([Input((3,)), Dense(2)]).build((None, 4))
    m = Sequential([Dense(2)])
    with pytest.raises(AttributeError, match='model.layers cannot be assigned'): m.layers = []
    m = Sequential([Dense(2)]); m.compile('sgd', 'mse')
    with pytest.raises(ValueError, match='Functional API'): m.fit([X, X], X, verbose=0)


def test_a_model_inside_a_sequential_model():
    inner = Sequential([Dense(3, activation='relu', input_shape=(4,))], name='inner')
    m = Sequential([inner, Dense(1)])
    assert m.output_shape == (None, 1) and m.count_params() == 4 * 3 + 3 + 3 + 1
    m.compile('adam', 'mse'); m.fit(X, X[:, :1], epochs=2, verbose=0)
    out = []; m.summary(print_fn=out.append); assert 'inner (Sequential)' in out[0]
