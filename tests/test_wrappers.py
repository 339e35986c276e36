"""RepeatVector, TimeDistributed and Lambda: against Keras 3's numbers (tests/fixtures/keras_wrappers.npz, made by
make_keras_wrappers.py), gradient-checked, in models (Sequential, functional, subclassed), and saved — a Lambda's code
loads only with safe_mode=False."""
import json, os
import numpy as np
import pytest
from seqlearn import (Sequential, Model, Input, Dense, Conv1D, Flatten, Dropout, BatchNormalization, RepeatVector, TimeDistributed,
                      Lambda, Layer, gradient_check, load_model, model_from_json, set_seed, register_layer)
from seqlearn.core import UnsafeLoadError
from seqlearn.layers.wrappers import _function_config
from seqlearn.models.graph import Graph, graph_gradient_check
from seqlearn.optimizers import Adam, SGD

HERE = os.path.dirname(os.path.abspath(__file__))
NPZ = np.load(os.path.join(HERE, 'fixtures', 'keras_wrappers.npz'), allow_pickle=False)
META = json.load(open(os.path.join(HERE, 'fixtures', 'keras_wrappers.json')))
rng = np.random.default_rng(0)

# numpy twins of make_keras_wrappers.FUNCTIONS (Keras ops there)
FUNCTIONS = {
    'tanh2_plus_square_minus_mean': lambda x: np.tanh(x) * 2 + x ** 2 - x.mean(axis=-1, keepdims=True),
    'exp_slice_over_square': lambda x: np.exp(x[:, 1:]) / (1 + x[:, :1] ** 2),
    'half_plus_tanh': lambda x: x * 0.5 + np.tanh(x),
}


def make_layer(spec):
    kind, cfg = spec['class'], dict(spec.get('config', {}))
    if kind == 'Lambda': return Lambda(FUNCTIONS[cfg.pop('function')], **cfg)
    if kind == 'TimeDistributed':
        inner = spec['inner']
        return TimeDistributed({'Dense': Dense, 'Conv1D': Conv1D}[inner['class']](**inner['config']), **cfg)
    return {'RepeatVector': RepeatVector, 'Dense': Dense}[kind](**cfg)


# ---------------------------------------------------------------- Keras 3's numbers

@pytest.mark.parametrize('case', META['layer_cases'], ids=[c['name'] for c in META['layer_cases']])
def test_layer_matches_keras(case):
    key = f"layers/{case['name']}/"
    x, r = NPZ[key + 'x'], NPZ[key + 'r']
    layer = make_layer(case)
    y = layer(x, training=True)
    ws = [NPZ[key + f'w/{i}'] for i in range(len(case['weight_names']))]
    if ws:
        layer.set_weights(ws)
        y = layer(x, training=True)
    assert y.shape == tuple(case['y_shape'])
    np.testing.assert_allclose(y, NPZ[key + 'y'], rtol=1e-5, atol=1e-6)
    dx = layer.backward(r)
    np.testing.assert_allclose(dx, NPZ[key + 'dx'], rtol=1e-5, atol=1e-5)
    for i, w in enumerate(layer.trainable_weights):
        np.testing.assert_allclose(w.grad, NPZ[key + f'dw/{i}'], rtol=1e-5, atol=1e-5)


def test_time_distributed_dense_outputs_equal_keras():
    "The brief's check: TimeDistributed(Dense(3)) on (2, 4, 5) random data with fixed weights gives Keras's outputs."
    key = 'layers/td_dense/'
    td = TimeDistributed(Dense(3))
    td(NPZ[key + 'x'])
    td.set_weights([NPZ[key + 'w/0'], NPZ[key + 'w/1']])
    np.testing.assert_allclose(td(NPZ[key + 'x']), NPZ[key + 'y'], rtol=1e-6, atol=1e-6)


def test_time_distributed_config_has_keras_layout():
    keras_cfg = next(c for c in META['layer_cases'] if c['name'] == 'td_dense')['keras_config']
    cfg = TimeDistributed(Dense(3), name='time_distributed').get_config()
    assert {'name', 'trainable', 'layer'} <= set(cfg) and {'name', 'trainable', 'layer'} <= set(keras_cfg)
    assert set(cfg['layer']) >= {'class_name', 'config'} and cfg['layer']['class_name'] == keras_cfg['layer']['class_name'] == 'Dense'
    assert cfg['layer']['config']['units'] == keras_cfg['layer']['config']['units'] == 3


@pytest.mark.parametrize('case', META['model_cases'], ids=[c['name'] for c in META['model_cases']])
def test_model_trains_as_keras(case):
    key = f"models/{case['name']}/"
    x, y = NPZ[key + 'x'], NPZ[key + 'y']
    model = Sequential([Input(tuple(case['input_shape']))] + [make_layer(l) for l in case['layers']])
    assert model.count_params() == case['count_params']
    model.set_weights([NPZ[key + f'w_init/{i}'] for i in range(len(case['weight_paths']))])
    np.testing.assert_allclose(model.predict(x, verbose=0), NPZ[key + 'pred_init'], rtol=1e-5, atol=1e-6)
    model.compile(Adam(learning_rate=0.01) if case['optimizer'] == 'Adam(0.01)' else SGD(learning_rate=0.1), 'mse')
    sw = NPZ[key + 'sample_weight'] if case['sample_weight'] else None
    h = model.fit(x, y, sample_weight=sw, batch_size=16, epochs=3, shuffle=False, verbose=0)
    np.testing.assert_allclose(h.history['loss'], NPZ[key + 'history/loss'], rtol=1e-6)
    for i, w in enumerate(model.get_weights()):
        np.testing.assert_allclose(w, NPZ[key + f'w_final/{i}'], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.predict(x, verbose=0), NPZ[key + 'pred_final'], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), float(NPZ[key + 'evaluate/loss']), rtol=1e-5)


# ---------------------------------------------------------------- gradients

@pytest.mark.parametrize('make, shape', [
    (lambda: RepeatVector(3), (2, 4)),
    (lambda: TimeDistributed(Dense(3)), (2, 4, 5)),
    (lambda: TimeDistributed(Dense(4, activation='tanh', use_bias=False)), (3, 2, 5)),
    (lambda: TimeDistributed(Dense(3, activation='softmax')), (2, 3, 4)),
    (lambda: TimeDistributed(Conv1D(2, 3)), (2, 3, 7, 4)),
    (lambda: TimeDistributed(Conv1D(3, 2, strides=2, padding='same', activation='tanh')), (2, 2, 6, 3)),
    (lambda: TimeDistributed(TimeDistributed(Dense(2))), (2, 3, 4, 5)),
    (lambda: TimeDistributed(Flatten()), (2, 3, 4, 5)),
], ids=['repeat', 'td_dense', 'td_dense_tanh_nobias', 'td_dense_softmax', 'td_conv1d', 'td_conv1d_same', 'td_td', 'td_flatten'])
def test_gradient_check(make, shape):
    errs = gradient_check(make(), rng.normal(size=shape))
    assert max(errs.values()) < 1e-6, errs


LAMBDAS = [
    (lambda x: np.tanh(x) * 2 + x ** 2 - x.mean(axis=-1, keepdims=True), (3, 4)),
    (lambda x: np.exp(x[:, 1:]) / (1 + x[:, :1] ** 2) + np.log(x[:, :3] ** 2 + 1), (3, 4)),
    (lambda x: np.sqrt(x * x + 1).sum(axis=(1, 2)) - 1 / (x[:, 0, 0] ** 2 + 2), (2, 3, 4)),
    (lambda x: -x[:, ::2] ** 3 + x.sum() * 0.1 + x[:, [0, 0]], (3, 4)),
    (lambda x: x, (2, 3)),
]


@pytest.mark.parametrize('f, shape', LAMBDAS, ids=['tanh_mean', 'exp_log_slices', 'sqrt_sum_axes', 'fancy_index', 'identity'])
def test_lambda_gradient_check(f, shape):
    errs = gradient_check(Lambda(f), rng.normal(size=shape))
    assert max(errs.values()) < 1e-6, errs


def test_lambda_gradient_check_two_inputs_and_two_outputs():
    errs = gradient_check(Lambda(lambda t: t[0] * t[1] - t[1] / 2), [rng.normal(size=(3, 4)), rng.normal(size=(3, 4))])
    assert max(errs.values()) < 1e-6, errs
    a, b = Input((4,)), Input((4,))
    p, q = Lambda(lambda t: [t[0] * t[1], np.tanh(t[0]) - t[1]])([a, b])
    assert p.shape == q.shape == (None, 4)
    graph = Graph([a, b], [Dense(2)(p), q])
    errs = graph_gradient_check(graph, [rng.normal(size=(3, 4)), rng.normal(size=(3, 4))])
    assert max(errs.values()) < 1e-6, errs


def test_lambda_and_time_distributed_gradients_in_a_functional_graph():
    a = Input((3, 4))
    h = TimeDistributed(Dense(5, activation='tanh'))(a)
    h = Lambda(lambda x: x * x.mean(axis=1, keepdims=True) + h_scale * x)(h)
    out = TimeDistributed(Dense(2))(h)
    errs = graph_gradient_check(Graph([a], [out]), [rng.normal(size=(2, 3, 4))])
    assert max(errs.values()) < 1e-6, errs


h_scale = 0.5  # a global the Lambda above reads


def test_time_distributed_fused_softmax_trains_as_dense_on_sequences():
    "A softmax output inside TimeDistributed fuses with its cross-entropy (dL/dlogits): same training as Dense on 3-D input."
    x = rng.normal(size=(32, 4, 5)).astype('float32')
    y = np.eye(3, dtype='float32')[rng.integers(0, 3, (32, 4))]
    histories = []
    for wrap in (True, False):
        set_seed(1)
        d = Dense(3, activation='softmax')
        m = Sequential([Input((4, 5)), TimeDistributed(d) if wrap else d])
        assert m.fusable_outputs() == ['softmax']
        m.compile(Adam(0.05), 'categorical_crossentropy')
        histories.append(m.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0).history['loss'])
    np.testing.assert_allclose(histories[0], histories[1], rtol=1e-6)


# ---------------------------------------------------------------- RepeatVector and TimeDistributed

def test_repeat_vector_errors_teach():
    with pytest.raises(ValueError, match=r"expects inputs of shape \(batch, features\), got \(None, 4, 3\)"):
        RepeatVector(2)(Input((4, 3)))
    for bad in (0, -1, 2.5, True, None):
        with pytest.raises(ValueError, match='positive whole number'): RepeatVector(bad)


def test_time_distributed_shapes_and_teaching_errors():
    assert TimeDistributed(Dense(3))(Input((None, 5))).shape == (None, None, 3)
    assert TimeDistributed(Conv1D(2, 3))(Input((7, None, 4))).shape == (None, 7, None, 2)
    with pytest.raises(ValueError, match=r"at least 3 axes; got \(None, 5\), which has no time axis.*RepeatVector"):
        TimeDistributed(Dense(3))(Input((5,)))
    with pytest.raises(ValueError, match="no time axis"):
        TimeDistributed(Dense(3))(np.zeros((4, 5)))
    td = TimeDistributed(Dense(3))
    td(np.zeros((2, 4, 5)))
    with pytest.raises(ValueError, match="expects inputs with 5 features, got 6.*Inside TimeDistributed"):
        td(np.zeros((2, 4, 6)))
    with pytest.raises(TypeError, match="Pass a layer instance"): TimeDistributed(Dense)
    with pytest.raises(TypeError, match="takes a list of inputs"):
        from seqlearn import Concatenate
        TimeDistributed(Concatenate())


def test_time_distributed_any_number_of_steps():
    td = TimeDistributed(Dense(3))
    m = Sequential([Input((None, 5)), td])
    for steps in (1, 4, 7):
        x = rng.normal(size=(2, steps, 5)).astype('float32')
        np.testing.assert_allclose(m.predict(x, verbose=0), x @ td.layer.kernel.value + td.layer.bias.value, rtol=1e-6, atol=1e-6)


def test_time_distributed_weights_are_the_wrapped_layers():
    d = Dense(4)
    model = Sequential([Input((3, 5)), TimeDistributed(d, name='td'), TimeDistributed(Dense(1))])
    td = model.layers[0]
    assert [id(w) for w in td.weights] == [id(d.kernel), id(d.bias)]
    assert model.count_params() == (5 * 4 + 4) + (4 + 1)
    assert [w.shape for w in model.get_weights()] == [(5, 4), (4,), (4, 1), (1,)]
    d.trainable = False
    assert len(model.trainable_weights) == 2 and len(model.non_trainable_weights) == 2
    d.trainable, td.trainable = True, False
    assert len(model.trainable_weights) == 2
    td.trainable = True
    model.compile('sgd', 'mse')
    k0 = d.kernel.value.copy()
    model.fit(rng.normal(size=(16, 3, 5)), rng.normal(size=(16, 3, 1)), epochs=1, verbose=0)
    assert not np.array_equal(d.kernel.value, k0)


def test_time_distributed_in_the_summary():
    from seqlearn.summary import summary_rows
    model = Sequential([Input((3, 5)), TimeDistributed(Dense(4), name='td')])
    row = summary_rows(model)[0]
    assert (row['name'], row['type'], tuple(row['output_shape']), row['params']) == ('td', 'TimeDistributed', (None, 3, 4), 24)


def test_time_distributed_masks_pass_through():
    td = TimeDistributed(Dense(3))
    assert td.supports_masking
    x = rng.normal(size=(2, 4, 5)).astype('float32')
    m = np.array([[True, True, False, False], [True, True, True, False]])
    y = td(x)
    np.testing.assert_array_equal(td.call(x, training=True, mask=m), y)
    assert td.compute_mask(x, m) is m
    assert td.compute_mask(x, None) is None
    td.backward(np.ones((2, 4, 3), 'float32'))
    with pytest.raises(ValueError, match=r"mask of shape \(2, 3\) for inputs of shape \(2, 4, 5\)"):
        td.call(x, mask=m[:, :3])


def test_time_distributed_passes_training_and_updates_to_the_wrapped_layer():
    set_seed(0)
    x = np.ones((4, 3, 10), 'float32')
    td = TimeDistributed(Dropout(0.5))
    assert np.array_equal(td(x), x)
    assert (td(x, training=True) == 0).any()
    bn = BatchNormalization(momentum=0.5)
    model = Sequential([Input((3, 2)), TimeDistributed(bn)])
    model.compile('sgd', 'mse')
    model.fit(rng.normal(size=(8, 3, 2)) + 5, np.zeros((8, 3, 2)), epochs=1, batch_size=8, verbose=0)
    assert (bn.moving_mean.value > 2).all()   # the moving statistics moved: commit_updates reached the wrapped layer


def test_time_distributed_shared_in_one_pass():
    "A wrapper called twice in one graph: each call's backward gets its own state, weight gradients summed."
    a, b = Input((3, 4)), Input((2, 4))
    td = TimeDistributed(Dense(2))
    from seqlearn import Concatenate
    out = Concatenate(axis=1)([td(a), td(b)])
    errs = graph_gradient_check(Graph([a, b], [out]), [rng.normal(size=(2, 3, 4)), rng.normal(size=(2, 2, 4))])
    assert max(errs.values()) < 1e-6, errs


@register_layer
class StepScale(Layer):
    "A custom layer, for TimeDistributed to rebuild by name."
    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs); self.factor = factor
    def call(self, inputs, training=None): return inputs * self.factor
    def backward(self, grad): return grad * self.factor
    def compute_output_shape(self, input_shape): return input_shape
    def get_config(self): return {**super().get_config(), 'factor': self.factor}


def test_time_distributed_saves_and_loads(tmp_path):
    model = Sequential([Input((5,)), Dense(4, activation='tanh'), RepeatVector(3), TimeDistributed(Dense(2), name='td'),
                        TimeDistributed(StepScale(3.0))])
    model.compile(Adam(0.01), 'mse')
    x = rng.normal(size=(8, 5)).astype('float32')
    model.fit(x, rng.normal(size=(8, 3, 2)), epochs=2, verbose=0)
    path = tmp_path / 'td.seqlearn'
    model.save(path)
    loaded = load_model(path)
    assert [type(l).__name__ for l in loaded.layers] == ['Dense', 'RepeatVector', 'TimeDistributed', 'TimeDistributed']
    assert type(loaded.layers[3].layer) is StepScale and loaded.layers[3].layer.factor == 3.0
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    again = model_from_json(model.to_json())
    assert again.layers[2].layer.units == 2 and again.count_params() == model.count_params()


def test_time_distributed_unknown_inner_class_teaches():
    cfg = TimeDistributed(Dense(3)).get_config()
    cfg['layer']['class_name'] = 'Dence'
    with pytest.raises(ValueError, match="unknown class 'Dence'. Did you mean 'Dense'?"):
        TimeDistributed.from_config(cfg)


# ---------------------------------------------------------------- Lambda

def test_lambda_output_shape():
    assert Lambda(lambda x: x[:, :, :2].sum(axis=2))(Input((None, 5))).shape == (None, None)
    assert Lambda(lambda x: x.reshape(len(x), -1))(Input((3, 4))).shape == (None, 12)
    assert Lambda(lambda x: x, output_shape=(7,))(Input((7,))).shape == (None, 7)
    assert Lambda(lambda x: x, output_shape=lambda s: s[:1] + (9,))(Input((7,))).shape == (None, 9)
    with pytest.raises(ValueError, match="must keep the batch axis first"):
        Lambda(lambda x: x.sum())(Input((3,)))
    with pytest.raises(ValueError, match=r"Give it: Lambda\(f, output_shape=\(...\)\)"):
        Lambda(lambda x: x @ np.ones((4, 1)))(Input((3,)))
    with pytest.raises(TypeError, match="output_shape is the shape of one output sample"):
        Lambda(lambda x: x, output_shape='7')


def test_lambda_arguments_training_and_mask():
    assert Lambda(lambda x, k: x * k, arguments={'k': 3})(np.ones((1, 2))).tolist() == [[3., 3.]]
    lam = Lambda(lambda x, training=None: x * (2 if training else 1))
    assert lam(np.ones((1, 2)), training=True).tolist() == [[2., 2.]] and lam(np.ones((1, 2))).tolist() == [[1., 1.]]
    seen = {}
    def f(x, mask=None):
        seen['mask'] = mask
        return x
    m = np.array([[True, False]])
    Lambda(f).call(np.ones((1, 2, 3)), mask=m)
    assert seen['mask'] is m
    masked = Lambda(lambda x: x, mask=lambda inputs, mask: mask[:, :1])
    assert masked.supports_masking and masked.compute_mask(None, m).tolist() == [[True]]
    assert not Lambda(lambda x: x).supports_masking and Lambda(lambda x: x).compute_mask(None, m) is None
    with pytest.raises(TypeError, match="wraps a function"): Lambda(3)
    with pytest.raises(TypeError, match="arguments is a dict"): Lambda(abs, arguments=[1])


def test_lambda_untraced_operation_fails_at_the_first_backward_in_training():
    x, y = rng.normal(size=(32, 4)).astype('float32'), rng.normal(size=(32, 1)).astype('float32')
    model = Sequential([Input((4,)), Dense(6), Lambda(lambda x: np.concatenate([x, x ** 2], axis=1), name='stack'), Dense(1)])
    np.testing.assert_array_equal(model.predict(x, verbose=0).shape, (32, 1))   # inference: any numpy works
    model.compile('sgd', 'mse')
    with pytest.raises(ValueError) as e:
        model.fit(x, y, epochs=1, verbose=0)
    msg = str(e.value)
    for part in ("Lambda 'stack' cannot pass a gradient back", "+, -, *, /, ** and -x", "np.exp, np.log, np.tanh and np.sqrt",
                 "Concatenate for np.concatenate", "Reshape or Flatten for x.reshape", "custom Layer with call and backward"):
        assert part in msg, part


def test_lambda_reading_the_input_may_use_any_numpy():
    x = rng.normal(size=(64, 4)).astype('float32')
    y = (x ** 2).sum(axis=1, keepdims=True)
    set_seed(0)
    model = Sequential([Input((4,)), Lambda(lambda x: np.concatenate([x, np.abs(x).reshape(len(x), 4)], axis=1)),
                        Dense(8), Lambda(lambda x: x * 0.5 + np.tanh(x)), Dense(1)])
    model.compile(Adam(0.02), 'mse')
    h = model.fit(x, y, epochs=40, batch_size=16, verbose=0)
    assert h.history['loss'][-1] < 0.2 * h.history['loss'][0]


def test_lambda_in_a_subclassed_model():
    class Net(Model):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.d1, self.lam, self.d2 = Dense(6), Lambda(lambda x: x * 0.5 + np.tanh(x)), Dense(1)
        def call(self, x): return self.d2(self.lam(self.d1(x)) * 2)
    x = rng.normal(size=(64, 4)).astype('float32')
    y = (x ** 2).sum(axis=1, keepdims=True)
    set_seed(0)
    net = Net()
    net.compile(Adam(0.02), 'mse')
    h = net.fit(x, y, epochs=30, batch_size=16, verbose=0)
    assert h.history['loss'][-1] < 0.3 * h.history['loss'][0]
    # the same weights in a functional twin give the same gradients
    a = Input((4,))
    twin = Model(a, net.d2(net.lam(net.d1(a)) * 2))
    net(x[:8], training=True); net.backward(np.ones((8, 1), 'float32'), need_input_grad=False)
    g_sub = [w.grad.copy() for w in net.trainable_weights]
    twin.forward_pass([x[:8]], training=True); twin.backward_pass([np.ones((8, 1), 'float32')])
    for gs, w in zip(g_sub, twin.trainable_weights): np.testing.assert_allclose(gs, w.grad, rtol=1e-5, atol=1e-6)


def test_lambda_output_keeps_the_inputs_float_type():
    "A float64 constant does not turn a float32 model's data into float64; a float64 graph stays float64."
    assert Lambda(lambda x: x * np.ones(3))(np.ones((2, 3), 'float32')).dtype == np.float32
    assert Lambda(lambda x: x * np.ones(3, 'float32')).call(np.ones((2, 3))).dtype == np.float64
    assert Lambda(lambda x: x > 0)(np.ones((2, 3))).dtype == bool


# ---------------------------------------------------------------- saving a Lambda

def test_lambda_model_saves_and_loads_only_with_safe_mode_false(tmp_path):
    x = rng.normal(size=(6, 4)).astype('float32')
    model = Sequential([Input((4,)), Dense(3), Lambda(lambda x: np.tanh(x) * 2 + x ** 2, name='poly'), Dense(2)])
    model.compile(Adam(0.01), 'mse')
    model.fit(x, rng.normal(size=(6, 2)), epochs=2, verbose=0)
    path = tmp_path / 'lam.seqlearn'
    model.save(path)
    with pytest.raises(UnsafeLoadError) as e:
        load_model(path)
    msg = str(e.value)
    for part in (f"Cannot load '{path}'", "Lambda 'poly' holds a Python function saved as code (", "np.tanh(x) * 2 + x ** 2",
                 "pass safe_mode=False: load_model(path, safe_mode=False)", "define the function with def at the top level"):
        assert part in msg, part
    loaded = load_model(path, safe_mode=False)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    loaded.fit(x, rng.normal(size=(6, 2)), epochs=1, verbose=0)    # compiled as saved, and trains through the rebuilt function
    with pytest.raises(UnsafeLoadError, match="safe_mode=False"):
        model_from_json(model.to_json())
    again = model_from_json(model.to_json(), safe_mode=False)
    assert again.layers[1].function(np.float32(1.0)) == pytest.approx(np.tanh(1.0) * 2 + 1)


def add_one(x): return x + 1


def test_lambda_with_a_named_function_loads_in_safe_mode(tmp_path):
    model = Sequential([Input((3,)), Lambda(add_one), Lambda(np.tanh), Dense(2)])
    spec = next(l for l in model.get_config()['layers'] if l['class_name'] == 'Lambda')['config']['function']
    assert spec == {'class_name': 'function', 'config': 'add_one', 'module': __name__}
    path = tmp_path / 'named.seqlearn'
    model.save(path)
    x = rng.normal(size=(4, 3)).astype('float32')
    loaded = load_model(path, custom_objects={'add_one': add_one})   # safe mode: nothing from the file runs
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.layers[1].function is np.tanh


def test_lambda_closure_globals_and_defaults_are_saved():
    k, offset = 3.0, np.array([1., 2.], 'float32')
    def make():
        scale = 0.5
        return lambda x, p=2: (x ** p) * scale * k + offset
    f = make()
    spec = json.loads(json.dumps(_function_config(f)))
    cfg = spec['config']
    assert cfg['closure'] == {'k': 3.0, 'offset': {'__kind__': 'ndarray', 'items': [1.0, 2.0], 'dtype': 'float32'}, 'scale': 0.5}
    lam = Lambda.from_config({'function': spec, 'name': 'l'}, safe_mode=False)
    assert lam.function is not f
    x = np.ones((1, 2), 'float32')
    np.testing.assert_allclose(lam.function(x), f(x))


def test_lambda_from_config_teaching_errors():
    class Thing: factor = 2
    thing = Thing()
    lam = Lambda(lambda x: x * thing.factor, name='l')
    cfg = json.loads(json.dumps(lam.get_config()))
    cfg['function']['config']['source'] += ' '            # not a config this process made
    with pytest.raises(UnsafeLoadError, match="Lambda 'l' holds a Python function saved as code"):
        Lambda.from_config(cfg)
    with pytest.raises(ValueError, match=r"'thing', a Thing that a config cannot hold.*custom_objects=\{'thing': thing\}"):
        Lambda.from_config(cfg, safe_mode=False)
    assert Lambda.from_config(cfg, custom_objects={'thing': thing}, safe_mode=False).function(np.ones((1, 1))).shape == (1, 1)
    old = json.loads(json.dumps(cfg))
    old['function']['config']['python'] = '2.7'
    with pytest.raises(ValueError, match=r"saved as Python 2.7 bytecode.*Its source was: lam = Lambda"):
        Lambda.from_config(old, safe_mode=False)
    named = {'function': {'class_name': 'function', 'config': 'mystery', 'module': '__main__'}, 'name': 'n'}
    with pytest.raises(ValueError, match=r"calls the function 'mystery' \(from __main__\).*custom_objects=\{'mystery': mystery\}"):
        Lambda.from_config(named)


def test_lambda_gradient_check_rebuilds_its_own_function():
    "gradient_check makes a float64 twin from the config: this process's function comes back without running saved code."
    lam = Lambda(lambda x: np.exp(-x * x))
    cfg = lam.get_config()
    assert type(lam).from_config({**cfg, 'dtype': 'float64'}).function is lam.function
    assert max(gradient_check(lam, rng.normal(size=(3, 4))).values()) < 1e-6

def test_a_layer_both_called_and_wrapped_is_refused():
    "Called directly and inside TimeDistributed, one layer's two calls would overwrite each other's state: refused, with the fix."
    import seqlearn as sl
    from seqlearn.layers import Dense, TimeDistributed, Input
    d, x = Dense(5), Input((4, 5))
    with pytest.raises(ValueError, match="called in the model and also wrapped by TimeDistributed"): sl.Model(x, TimeDistributed(d)(d(x)))
    with pytest.raises(ValueError, match="give the wrapper a layer of its own"): sl.Sequential([Input((4, 5)), d, TimeDistributed(d)]).predict(np.ones((1, 4, 5)), verbose=0)
