"""Keras 3's functional-model contract, from keras/src/models/functional_test.py and sequential_test.py, ported with numpy
arrays and seqlearn's public API: input and output structures, dict inputs by key, models cut from the middle of a graph,
the training flag fixed while drawing, rank standardization, any-length axes, known batch sizes."""
import json
import numpy as np
import pytest
from seqlearn import Model, Sequential, Input, Dense, Dropout, Concatenate, Layer, load_model, model_from_json
from seqlearn.layers import KerasTensor
from seqlearn.models import Functional

rng = np.random.default_rng(0)


def test_dict_inputs_are_matched_by_key_not_by_position():
    a, b = Input((3,), name='a'), Input((4,), name='b')
    out = Dense(2)(Concatenate()([Dense(5)(a), Dense(5)(b)]))
    model = Functional({'c': a, 'd': b}, out)
    xc, xd = rng.random((2, 3)), rng.random((2, 4))
    y = model({'c': xc, 'd': xd})
    assert y.shape == (2, 2)
    np.testing.assert_array_equal(model({'d': xd, 'c': xc}), y)   # keys, not order
    with pytest.raises(ValueError, match="'a'"): model({'a': xc, 'b': xd})   # the Inputs' own names are not the keys
    with pytest.raises(ValueError, match="takes its inputs as a dict"): model([xc, xd])
    sym = model({'c': Input((3,)), 'd': Input((4,))})
    assert sym.shape == (None, 2)


def test_inputs_by_name_and_an_extra_key_warns_and_is_ignored():
    a = Input((3,), name='a')
    model = Model(a, Dense(2)(a))
    x = rng.random((2, 3))
    with pytest.warns(UserWarning, match="The structure of `inputs` doesn't match the expected structure"):
        y = model({'a': x, 'b': rng.random((2, 1))})
    np.testing.assert_array_equal(y, model(x))
    with pytest.raises(ValueError, match="x has the key 'aa'.*Did you mean 'a'"): model({'aa': x})   # a typo is an error


def test_nested_input_structure_round_trips():
    a = Input((3,), name='input_a')
    model = Functional([[a]], Dense(4)(Dense(5)(a)))
    x = rng.random((2, 3))
    np.testing.assert_array_equal(model([[x]]), model(x))
    cfg = model.to_json()
    assert model_from_json(cfg).to_json() == cfg


@pytest.mark.parametrize('kind', [list, tuple, dict])
def test_output_structures_survive_from_config(kind):
    x = Input((3,))
    h = Dense(5)(x)
    oa, ob = Dense(4)(h), Dense(5)(h)
    outs = {'a': oa, 'b': ob} if kind is dict else kind([oa, ob])
    restored = Functional.from_config(Functional(x, outs).get_config())
    assert isinstance(restored(rng.random((2, 3))), kind)
    assert isinstance(restored(Input((3,))), kind)                 # symbolic too
    assert isinstance(restored.predict(rng.random((2, 3)), verbose=0), kind)


def test_one_output_in_a_list_is_one_output():
    x = Input((4,)); y = Dense(2)(x)
    assert isinstance(Model([x], [y]).predict(np.ones((3, 4)), verbose=0), np.ndarray)


def test_a_model_cut_from_the_middle_of_a_graph_trains_and_saves(tmp_path):
    x = Input((4,))
    h = Dense(8, activation='relu', name='h')(x)
    out = Dense(1, name='out')(Dense(6, name='mid')(h))
    head = Model(h, out)                                   # from an intermediate tensor
    assert [l.name for l in head.layers] == ['mid', 'out']
    z = rng.random((16, 8)).astype('float32')
    head.compile('sgd', 'mse'); head.fit(z, z[:, :1], epochs=2, verbose=0)
    head.save(tmp_path / 'head.seqlearn')
    np.testing.assert_allclose(load_model(tmp_path / 'head.seqlearn').predict(z, verbose=0), head.predict(z, verbose=0), rtol=1e-6)


def test_training_fixed_while_drawing_survives_from_config():
    x = Input((4,))
    model = Model(x, Dropout(0.5)(x, training=True))
    again = Functional.from_config(model.get_config())
    ones = np.ones((64, 4), 'float32')
    assert (again.predict(ones, verbose=0) == 0).any()       # drops in inference: the call fixed training=True


def test_rank_standardization():
    down = Model(x := Input((3,)), Dense(3)(x))
    assert down(rng.random((2, 3, 1))).shape == (2, 3)
    up = Model(x := Input((3, 1)), Dense(3)(x))
    assert up(rng.random((2, 3))).shape == (2, 3, 3)
    with pytest.raises(ValueError, match="input 'foo'"): Model(x := Input((3,), name='foo'), Dense(3)(x))(rng.random((2, 3, 4)))


def test_any_length_axis():
    x = Input((None, 3))
    model = Model(x, Dense(2)(x))
    for n in (5, 7): assert model(rng.random((2, n, 3))).shape == (2, n, 2)
    with pytest.raises(ValueError, match=r"axis 1 may have any size"): model(rng.random((2, 5, 4)))
    seq = Sequential([Input((None, 3)), Dense(2)])
    for n in (5, 7): assert seq.predict(rng.random((2, n, 3)), verbose=0).shape == (2, n, 2)


def test_known_batch_size_is_kept():
    assert Dense(4)(KerasTensor((3, 2))).shape == (3, 4)
    assert Dense(5)(Input((3,), batch_size=2)).shape == (2, 5)


def test_layer_without_compute_output_shape_is_built_by_running_it():
    class FirstTwo(Layer):
        def call(self, inputs): return inputs[:, :2]
        def compute_output_shape(self, input_shape): raise NotImplementedError
        def backward(self, grad): return np.pad(grad, ((0, 0), (0, 2)))
    assert FirstTwo()(Input((4,))).shape == (None, 2)


def test_sequential_inputs_are_absent_until_built():
    assert not hasattr(Sequential(), 'inputs')
    assert not hasattr(Sequential([Dense(2)]), 'outputs')


def test_a_frozen_functional_model_keeps_its_layers_flags_in_config():
    x = Input((3,))
    model = Functional(x, Dense(2)(x), trainable=False)
    cfg = model.get_config()
    assert cfg['trainable'] is False and cfg['layers'][1]['config']['trainable'] is True
    again = Functional.from_config(cfg)
    assert again.get_config() == {**cfg, 'name': again.name} and again.trainable_weights == []


def test_none_for_an_input_is_a_value_error():
    a, b = Input((3,), name='a'), Input((3,), name='b')
    model = Model([a, b], Dense(1)(Concatenate()([a, b])))
    with pytest.raises(ValueError, match="x\\['b'\\] is None"): model([np.ones((2, 3)), None])


def test_inputs_and_outputs_must_be_symbolic_tensors_a_value_error():
    a = Input((3,), name='a')
    with pytest.raises(ValueError, match="all inputs must be symbolic tensors"): Functional({'a': 'input_a'}, Dense(1)(a))
    with pytest.raises(ValueError, match="all outputs must be symbolic tensors"): Functional({'a': a}, 'outputs')
