"""Foundation (issue 2): building, shape inference, summary, weights, config, seeds and the teaching errors."""
import numpy as np
import pytest
import seqlearn
from seqlearn import Sequential, Dense, Dropout, Flatten, Activation, Input, Reshape, set_seed, clear_session, ShapeError
from seqlearn.activations import get_activation, ACTIVATIONS
from seqlearn.initializers import get_initializer, INITIALIZERS


def seed_model():
    return Sequential([Dense(32, activation='relu', input_shape=(10,)), Dense(16, activation='relu'), Dense(1, activation='sigmoid')])


def test_seed_tutorial_summary(capsys):
    clear_session()
    m = seed_model()
    m.summary()
    out = capsys.readouterr().out
    for row in ['dense (Dense)', '(None, 32)', '352', 'dense_1 (Dense)', '528', 'dense_2 (Dense)', '(None, 1)', '17',
                'Total params: 897', 'Trainable params: 897', 'Non-trainable params: 0']:
        assert row in out, row
    assert [l.name for l in m.layers] == ['dense', 'dense_1', 'dense_2']


def test_add_builds_at_once_and_lazy_model_builds_on_data():
    m = Sequential(); m.add(Dense(4, input_shape=(3,)))
    assert m.built and m.layers[0].kernel.shape == (3, 4)
    m.add(Dense(2)); assert m.output_shape == (None, 2)
    lazy = Sequential([Dense(4), Dense(2)])
    assert not lazy.built and not hasattr(lazy, 'input_shape') and lazy.output_shape is None
    out = []; lazy.summary(print_fn=out.append)  # as Keras: the table before build, shapes unknown
    assert 'dense_' in out[0] and '?' in out[0] and '0 (unbuilt)' in out[0]
    lazy.build((None, 7)); assert lazy.count_params() == 7 * 4 + 4 + 4 * 2 + 2


def test_layers_are_read_only():
    m = seed_model()
    with pytest.raises(AttributeError, match=r"add\(layer\)"): m.layers = []
    for op in [lambda l: l.append(Dense(1)), lambda l: l.pop(), lambda l: l.__setitem__(0, Dense(1)), lambda l: l.clear()]:
        with pytest.raises(TypeError, match='read-only'): op(m.layers)
    assert len(m.layers) == 3


@pytest.mark.parametrize('bad, msg', [
    (5, 'Only instances of Layer can be added'), ('dense', 'Only instances of Layer can be added'), ({}, 'Only instances of Layer'),
    (Dense, 'the class Dense, not a layer')])
def test_add_refuses_non_layers(bad, msg):
    with pytest.raises((TypeError, ValueError), match=msg) as e: Sequential().add(bad)
    assert e.type is (TypeError if bad is Dense else ValueError)  # Keras: ValueError for a non-layer


def test_second_input_duplicate_names_and_two_inputs_refused():
    with pytest.raises(ValueError, match='already has an Input'): Sequential([Input((3,)), Input((3,))])
    m = Sequential([Dense(2, input_shape=(3,), name='a')])
    with pytest.raises(ValueError, match='names must be unique'): m.add(Dense(2, name='a'))
    with pytest.raises(ValueError, match='Functional API'): Dense(2, input_shape=[(3,), (4,)])
    with pytest.raises(ValueError, match='Functional API'): Input([(3,), (4,)])
    with pytest.raises(ValueError, match='Functional API'): m([np.ones((2, 3)), np.ones((2, 3))])
    with pytest.raises(ValueError, match='is empty'): Sequential()(np.ones((2, 3)))


def test_shape_error_names_layer_shapes_fix_and_shows_table():
    m = Sequential([Dense(8, input_shape=(10,)), Dense(4)])
    with pytest.warns(UserWarning, match=r"input_shape=\(5,\), but the layer before it produces \(None, 4\); the argument is ignored"):
        m.add(Dense(2, input_shape=(5,)))  # as Keras: a later layer's input_shape is ignored
    assert len(m.layers) == 3 and m.output_shape == (None, 2)
    m.pop()
    with pytest.raises(ShapeError) as e: m.add(Reshape((3, 3)))
    msg = str(e.value)
    assert "Reshape 'reshape" in msg and '(4,) (4 values) to (3, 3)' in msg
    assert 'The model up to the failing layer' in msg and 'cannot take (None, 4)' in msg
    assert len(m.layers) == 2
    with pytest.raises(ValueError, match=r"expects inputs with 10 features, got 7\. Check the input_shape of the first layer"):
        m(np.ones((3, 7)))


def test_failed_build_leaves_no_layer_half_built():
    class Picky(Dense):
        def validate_input_shape(self, s):
            if s[-1] != 99: raise ValueError(f"{self.name} wants 99 features")
    m = Sequential([Dense(3), Picky(2)])
    with pytest.raises(ShapeError, match='wants 99'): m(np.ones((2, 5)))
    assert [l.built for l in m.layers] == [False, False]
    m2 = Sequential([Dense(99), Picky(2)]); m2(np.ones((2, 5))); assert m2.built


@pytest.mark.parametrize('kind, get, typo, right', [
    ('activation', get_activation, 'sigmoud', 'sigmoid'), ('initializer', get_initializer, 'glorot_unifrom', 'glorot_uniform')])
def test_unknown_names_suggest_closest(kind, get, typo, right):
    with pytest.raises(ValueError, match=f"Unknown {kind} '{typo}'. Did you mean '{right}'"): get(typo)


def test_all_issue_activations_and_initializers_exist():
    for a in ['linear', 'relu', 'sigmoid', 'tanh', 'softmax', 'leaky_relu', 'elu', 'selu', 'gelu', 'softplus', 'swish']:
        assert a in ACTIVATIONS
    for i in ['glorot_uniform', 'glorot_normal', 'he_uniform', 'he_normal', 'lecun_uniform', 'lecun_normal', 'zeros', 'ones',
              'random_normal', 'random_uniform']:
        w = get_initializer(i)((50, 40)); assert w.shape == (50, 40) and w.dtype == np.float32


def test_set_weights_validates_count_and_shapes_before_changing_anything():
    m = seed_model(); before = m.get_weights()
    assert [w.shape for w in before] == [(10, 32), (32,), (32, 16), (16,), (16, 1), (1,)]
    bad = [np.zeros_like(w) for w in before]; bad[4] = np.zeros((16, 2))
    with pytest.raises(ValueError, match=r"Layer 'dense_\d+' weight 0 \('kernel'\) expects shape \(16, 1\), got \(16, 2\)"):
        m.set_weights(bad)
    for a, b in zip(before, m.get_weights()): np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match=r'has 6 weights \(kernel .* but set_weights got 5 arrays'): m.set_weights(bad[:5])
    with pytest.raises(ValueError, match='has 2 weights'): m.layers[0].set_weights([np.zeros((10, 32))])


def test_trainable_and_counts():
    m = seed_model(); m.layers[0].trainable = False
    c = m.param_counts()
    assert (c['total'], c['trainable'], c['non_trainable']) == (897, 545, 352)
    assert len(m.trainable_weights) == 4 and len(m.non_trainable_weights) == 2


def test_config_round_trip_for_every_layer():
    m = Sequential([Input((4, 3)), Flatten(), Dense(5, activation='tanh', kernel_initializer='he_normal', kernel_regularizer='l2'),
                    Dropout(0.25), Activation('softmax')])
    cfg = m.get_config()
    import json; cfg = json.loads(json.dumps(cfg))  # plain data
    m2 = Sequential.from_config(cfg)
    assert [type(l).__name__ for l in m2.layers] == ['Flatten', 'Dense', 'Dropout', 'Activation']
    assert m2.output_shape == m.output_shape == (None, 5)
    assert m2.layers[1].kernel_regularizer.l2 == 0.01 and m2.layers[2].rate == 0.25
    with pytest.raises(ValueError, match=r"Unknown layer class 'Dens'.*Did you mean 'Dense'.*register_layer"):
        Sequential.from_config({'name': 'x', 'layers': [{'class_name': 'Dens', 'config': {'units': 1}}]})


def test_set_seed_reproduces_init_dropout_and_shuffling_bit_for_bit():
    X = np.random.default_rng(1).normal(size=(64, 6)).astype('float32'); y = (X[:, 0] > 0).astype('float32')
    def run():
        set_seed(42)
        m = Sequential([Dense(8, activation='relu', input_shape=(6,)), Dropout(0.3), Dense(1, activation='sigmoid')])
        m.compile('adam', 'binary_crossentropy')
        m.fit(X, y, epochs=2, batch_size=8, verbose=0)
        return m.get_weights()
    for a, b in zip(run(), run()): np.testing.assert_array_equal(a, b)


def test_float32_default_and_engine_does_not_import_ui():
    import subprocess, sys
    code = "import sys, seqlearn, numpy as np; m = seqlearn.Sequential([seqlearn.Dense(2, input_shape=(3,))]); " \
           "assert m(np.ones((1, 3))).dtype == np.float32; " \
           "assert 'ipywidgets' not in sys.modules and 'matplotlib' not in sys.modules, [k for k in sys.modules if 'widget' in k or 'matplotlib' in k]"
    subprocess.run([sys.executable, '-c', code], check=True)
