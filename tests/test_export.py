"""seqlearn.export against real Keras 3 (torch backend) and PyTorch: the same model, weights included.

For every layer seqlearn has, the tutorial's model, a functional two-input model, the MNIST-1D CNN recipe and models
with BatchNormalization:

- predictions of `to_keras(model)` and of `to_torch(model)` equal seqlearn's to float32 precision (1e-5, relative to
  the largest output);
- one more epoch of `fit` in Keras after `to_keras` (same data order, `shuffle=False`, same batch size) gives the weights
  one more epoch in seqlearn gives: the optimizer's state (Adam's m and v and its step count, ...) comes along;
- `from_keras(to_keras(model))` is the same model: configurations equal, weights bit for bit, optimizer state too;
- `from_keras` refuses what seqlearn does not have, naming the layer and what to use instead.

Everything is deterministic: weights and data come from numpy generators with fixed seeds."""
import os, subprocess, sys
import numpy as np
import pytest

os.environ.setdefault('KERAS_BACKEND', 'torch')
keras = pytest.importorskip('keras')   # the interop extra; CI installs it (a skip fails there: see conftest.py)
torch = pytest.importorskip('torch')

import seqlearn.layers as L
from seqlearn import Sequential, Model, set_seed, clear_session, optimizers
from seqlearn.export import to_keras, from_keras, to_torch

# Keras's torch backend converts tensors with np.array(x), which numpy 2 flags (a DeprecationWarning per call)
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")

PRED_TOL = 1e-5    # predictions: max |difference| / max |seqlearn's output|
TRAIN_TOL = 1e-5   # weights after one more epoch: max |difference| / max |weight|, per weight array
# Observed (keras 3.15.1, torch 2.13.0 CPU): predictions within 3e-7; one more epoch within 3e-7 (Nadam 2e-6). One more
# epoch agrees only while both frameworks take the same path: a ReLU input within float32 rounding of 0 can land on
# either side of the kink, and Adam then carries that difference on (1e-3 after an epoch: seen on the CNN with 256
# random samples, hence 192 here). A lost optimizer state looks different: about the learning rate, 1e-2.


@pytest.fixture(autouse=True, scope='module')
def one_torch_thread():
    "Keras computes with PyTorch here: one thread is fastest for these small models, and on a busy machine PyTorch's own\n    threads can make an epoch 50x slower (they wait for cores they do not get)."
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def rel_err(got, want):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape, (got.shape, want.shape)
    return float(np.abs(got - want).max() / max(np.abs(want).max(), 1e-30))


def torch_predict(model, xs):
    m = to_torch(model).eval()
    with torch.no_grad():
        out = m(*[torch.from_numpy(np.ascontiguousarray(x)) for x in xs])
    if isinstance(out, dict): return {k: v.numpy() for k, v in out.items()}
    return [o.numpy() for o in out] if isinstance(out, tuple) else out.numpy()


def as_list(out):
    "Outputs as a list (a dict's by sorted key: Keras's dict order is not the one the model was given)."
    if isinstance(out, dict): return [out[k] for k in sorted(out)]
    return list(out) if isinstance(out, (list, tuple)) else [out]


def randomize(model, seed=0):
    "Weights from a seeded generator (BatchNormalization's moving statistics too, variance kept positive)."
    rng = np.random.default_rng(seed)
    ws = []
    for path, w in model._named_weights():
        a = rng.normal(0, 0.5, w.shape)
        if path.endswith('moving_variance') or path.endswith('gamma'): a = rng.uniform(0.5, 1.5, w.shape)
        ws.append(a.astype(w.dtype))
    model.set_weights(ws)


def check_predictions(model, xs):
    want = as_list(model.predict(xs if len(xs) > 1 else xs[0], verbose=0))
    k = as_list(to_keras(model).predict(xs if len(xs) > 1 else xs[0], verbose=0))
    t = as_list(torch_predict(model, xs))
    errs = [rel_err(a, b) for a, b in zip(k, want)] + [rel_err(a, b) for a, b in zip(t, want)]
    assert max(errs) <= PRED_TOL, errs
    return errs


def check_round_trip(model):
    back = from_keras(to_keras(model))
    assert back.get_config() == model.get_config()
    for (p, a), (q, b) in zip(model._named_weights(), back._named_weights()):
        assert p == q and a.dtype == b.dtype and np.array_equal(a.value, b.value), p
    assert len(back.weights) == len(model.weights)
    return back


# ---------------------------------------------------------------------------------------------------------------
# Every layer, alone in a model
# ---------------------------------------------------------------------------------------------------------------
def seq(shape, *layers): return Sequential([L.Input(shape)] + list(layers))

def two(layer, shape=(5,), n=2):
    ins = [L.Input(shape) for _ in range(n)]
    return Model(ins, layer(ins))

ACTS = ['linear', 'relu', 'sigmoid', 'tanh', 'softmax', 'leaky_relu', 'elu', 'selu', 'gelu', 'softplus', 'softsign', 'swish',
        'silu', 'exponential']

LAYER_CASES = {
    'dense': lambda: seq((6,), L.Dense(4, activation='relu')),
    'dense_3d_no_bias': lambda: seq((3, 6), L.Dense(4, activation='tanh', use_bias=False)),
    **{f'activation_{a}': (lambda a=a: seq((6,), L.Activation(a))) for a in ACTS},
    'flatten': lambda: seq((4, 3), L.Flatten()),
    'dropout': lambda: seq((6,), L.Dropout(0.3)),
    'reshape': lambda: seq((12,), L.Reshape((3, -1))),
    'identity': lambda: seq((6,), L.Identity()),
    'concatenate': lambda: two(L.Concatenate()),
    'concatenate_axis1': lambda: two(L.Concatenate(axis=1), shape=(2, 3)),
    'add_three': lambda: two(L.Add(), n=3),
    **{m.lower(): (lambda m=m: two(getattr(L, m)())) for m in ('Add', 'Subtract', 'Multiply', 'Average', 'Maximum', 'Minimum')},
    'conv1d_valid': lambda: seq((9, 2), L.Conv1D(3, 3)),
    'conv1d_same_strides2': lambda: seq((10, 2), L.Conv1D(3, 3, strides=2, padding='same', activation='relu')),
    'conv1d_same_even_kernel': lambda: seq((9, 2), L.Conv1D(3, 4, padding='same')),   # pads (1, 2): uneven
    'conv1d_dilation2_no_bias': lambda: seq((11, 2), L.Conv1D(3, 3, dilation_rate=2, use_bias=False)),
    'conv2d_valid': lambda: seq((6, 5, 2), L.Conv2D(3, (3, 3))),
    'conv2d_same_strides21': lambda: seq((7, 6, 2), L.Conv2D(3, (3, 2), strides=(2, 1), padding='same', activation='tanh')),
    'zero_padding1d': lambda: seq((5, 2), L.ZeroPadding1D((1, 3))),
    'zero_padding2d': lambda: seq((4, 3, 2), L.ZeroPadding2D(((1, 2), (0, 3)))),
    'max_pooling1d': lambda: seq((9, 2), L.MaxPooling1D()),
    'max_pooling1d_same_uneven': lambda: seq((8, 2), L.MaxPooling1D(3, strides=2, padding='same')),
    'max_pooling2d_same': lambda: seq((5, 5, 2), L.MaxPooling2D(padding='same')),
    'average_pooling1d': lambda: seq((9, 2), L.AveragePooling1D(3, strides=2)),
    'average_pooling1d_same': lambda: seq((7, 2), L.AveragePooling1D(3, strides=1, padding='same')),  # pads (1, 1)
    'average_pooling2d': lambda: seq((6, 6, 2), L.AveragePooling2D(2)),
    'average_pooling2d_same': lambda: seq((5, 5, 2), L.AveragePooling2D(3, strides=1, padding='same')),
    'global_average_pooling1d': lambda: seq((5, 3), L.GlobalAveragePooling1D()),
    'global_average_pooling2d_keepdims': lambda: seq((4, 3, 2), L.GlobalAveragePooling2D(keepdims=True)),
    'global_max_pooling1d_keepdims': lambda: seq((5, 3), L.GlobalMaxPooling1D(keepdims=True)),
    'global_max_pooling2d': lambda: seq((4, 3, 2), L.GlobalMaxPooling2D()),
    'batch_normalization': lambda: seq((6,), L.BatchNormalization()),
    'batch_normalization_4d_no_center': lambda: seq((3, 4, 2), L.BatchNormalization(center=False, momentum=0.9)),
    'batch_normalization_no_scale': lambda: seq((5, 3), L.BatchNormalization(scale=False, epsilon=1e-2)),
    'layer_normalization': lambda: seq((5, 3), L.LayerNormalization()),
    'layer_normalization_no_center': lambda: seq((6,), L.LayerNormalization(center=False)),
    'embedding': lambda: seq((5,), L.Embedding(7, 4)),
}


def inputs_for(model, seed=1):
    rng = np.random.default_rng(seed)
    xs = []
    for t in model.inputs:
        shape = (8,) + tuple(t.shape[1:])
        xs.append(rng.integers(0, 7, shape).astype('float32') if any(isinstance(l, L.Embedding) for l in model.layers)
                  else rng.normal(size=shape).astype('float32'))
    return xs


@pytest.mark.parametrize('name', list(LAYER_CASES))
def test_layer(name):
    "Each layer: Keras's and PyTorch's predictions equal seqlearn's; to_keras -> from_keras gives the same layer back."
    model = LAYER_CASES[name]()
    randomize(model)
    check_predictions(model, inputs_for(model))
    check_round_trip(model)


def test_torch_average_pooling_uneven_same():
    "Uneven 'same' average pooling: PyTorch's module averages the real values only, as seqlearn (and Keras on TF and JAX)."
    model = seq((8, 2), L.AveragePooling1D(3, strides=2, padding='same'))   # pads (0, 1)
    x = inputs_for(model)[0]
    assert rel_err(torch_predict(model, [x]), model.predict(x, verbose=0)) <= PRED_TOL


def test_torch_batch_normalization_trains_like_seqlearn():
    "In train mode the PyTorch module normalizes with the batch's statistics and moves the moving ones as Keras does."
    model = seq((3, 4), L.BatchNormalization(momentum=0.9))
    randomize(model)
    x = inputs_for(model)[0]
    m = to_torch(model).train()
    y = m(torch.from_numpy(x)).detach().numpy()
    want = model(x, training=True)
    assert rel_err(y, want) <= PRED_TOL
    bn = model.layers[0]
    assert rel_err(m[0].running_mean.numpy(), bn.moving_mean.value) <= PRED_TOL
    assert rel_err(m[0].running_var.numpy(), bn.moving_variance.value) <= PRED_TOL


# ---------------------------------------------------------------------------------------------------------------
# Whole models: predictions, one more epoch, round trip
# ---------------------------------------------------------------------------------------------------------------
def data(shape, n, seed, target):
    rng = np.random.default_rng(seed)
    x = [rng.normal(size=(n,) + s).astype('float32') for s in shape]
    return x, target(x, rng)


def tutorial_model():
    return Sequential([L.Dense(32, activation='relu', input_shape=(10,)), L.Dense(16, activation='relu'), L.Dense(1, activation='sigmoid')])

def two_input_model():
    a, b = L.Input(shape=(10,)), L.Input(shape=(5,))
    return Model(inputs=[a, b], outputs=L.Dense(1)(L.concatenate([a, b])))

def mnist1d_cnn():
    return Sequential([L.Conv1D(25, 5, strides=2, padding='same', activation='relu', input_shape=(40, 1)),
                       L.Conv1D(25, 3, strides=2, padding='same', activation='relu'),
                       L.Conv1D(25, 3, strides=2, padding='same', activation='relu'),
                       L.Flatten(), L.Dense(10, activation='softmax')])

def bn_cnn():
    # no bias before BatchNormalization: its gradient is zero in exact arithmetic, so each framework's float32 rounding
    # noise would be all Adam sees (and scale up to steps of the learning rate's size)
    return Sequential([L.Conv1D(8, 3, padding='same', use_bias=False, input_shape=(20, 1)), L.BatchNormalization(), L.Activation('relu'),
                       L.MaxPooling1D(), L.Conv1D(8, 3, use_bias=False), L.BatchNormalization(momentum=0.9), L.Activation('relu'),
                       L.GlobalAveragePooling1D(), L.Dense(16, use_bias=False), L.BatchNormalization(), L.Activation('relu'),
                       L.Dense(3, activation='softmax')])

MODELS = {
    'tutorial': (tutorial_model, [(10,)], lambda x, r: (x[0][:, 0] + x[0][:, 1] * x[0][:, 2] > 0).astype('float32'),
                 'binary_crossentropy', ['accuracy']),
    'two_inputs': (two_input_model, [(10,), (5,)], lambda x, r: x[0][:, :1] - x[1][:, :1], 'mse', ['mae']),
    'mnist1d_cnn': (mnist1d_cnn, [(40, 1)], lambda x, r: r.integers(0, 10, len(x[0])), 'sparse_categorical_crossentropy', ['accuracy']),
    'batchnorm_cnn': (bn_cnn, [(20, 1)], lambda x, r: r.integers(0, 3, len(x[0])), 'sparse_categorical_crossentropy', ['accuracy']),
}


def trained(name, optimizer=None, epochs=2, n=192):
    build, shapes, target, loss, metrics = MODELS[name]
    clear_session(); set_seed(0)
    model = build()
    x, y = data(shapes, n, 0, target)
    model.compile(optimizer=optimizer or optimizers.Adam(learning_rate=0.01), loss=loss, metrics=metrics)
    model.fit(x if len(x) > 1 else x[0], y, batch_size=32, epochs=epochs, verbose=0)   # shuffled: the state is what matters
    return model, (x if len(x) > 1 else x[0]), y


def one_more_epoch(model, x, y):
    "The weights after one more epoch in Keras and in seqlearn (Keras's first, from a copy taken before)."
    km = to_keras(model)
    km.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0)
    model.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0)
    assert int(keras.ops.convert_to_numpy(km.optimizer.iterations)) == model.optimizer.iterations
    by_path = {w.path.removeprefix(km.name + "/"): keras.ops.convert_to_numpy(w) for w in km.weights}
    errs = {}
    for path, w in model._named_weights():
        errs[path] = rel_err(by_path[path], w.value)
    return errs


@pytest.mark.parametrize('name', list(MODELS))
def test_model(name):
    "Predictions in Keras and PyTorch, one more epoch in Keras, and the round trip, for the course's models."
    model, x, y = trained(name)
    check_predictions(model, x if isinstance(x, list) else [x])
    back = check_round_trip(model)
    assert back.optimizer.get_config() == model.optimizer.get_config() and back.optimizer.iterations == model.optimizer.iterations
    for s in model.optimizer.slot_names: assert np.array_equal(back.optimizer.slots[s], model.optimizer.slots[s])
    errs = one_more_epoch(model, x, y)
    assert max(errs.values()) <= TRAIN_TOL, errs


OPTIMIZERS = {
    'sgd_nesterov': lambda: optimizers.SGD(0.05, momentum=0.9, nesterov=True),
    'rmsprop_centered': lambda: optimizers.RMSprop(0.005, momentum=0.5, centered=True),
    'adagrad': lambda: optimizers.Adagrad(0.05),
    'nadam': lambda: optimizers.Nadam(0.005),
    'adamw': lambda: optimizers.AdamW(0.005),
    'adam_amsgrad_clipnorm': lambda: optimizers.Adam(0.005, amsgrad=True, clipnorm=0.5),
    'adam_schedule': lambda: optimizers.Adam(optimizers.ExponentialDecay(0.01, decay_steps=5, decay_rate=0.9)),
}

@pytest.mark.parametrize('name', list(OPTIMIZERS))
def test_optimizer_state(name):
    "Each optimizer's state comes along: one more epoch in Keras equals one more in seqlearn."
    model, x, y = trained('tutorial', OPTIMIZERS[name](), epochs=1, n=128)
    errs = one_more_epoch(model, x, y)
    assert max(errs.values()) <= TRAIN_TOL, errs


def test_graph_with_nested_model_shared_layer_and_two_outputs():
    "A nested Sequential, a layer used twice, a residual Add and two named outputs with a loss each: all carried over."
    clear_session(); set_seed(0)
    a, b = L.Input((6,), name='in_a'), L.Input((4,), name='in_b')
    inner = Sequential([L.Input((6,)), L.Dense(5, activation='relu', name='inner_d1'), L.Dense(6, name='inner_d2')], name='inner')
    shared = L.Dense(6, activation='tanh', name='shared')
    h = L.concatenate([L.add([a, inner(a)]), shared(a), shared(L.Dense(6, name='proj_b')(b))], name='merge')
    trunk = L.Dense(8, activation='relu', name='trunk')(h)
    model = Model([a, b], {'reg': L.Dense(2, name='reg')(trunk), 'cls': L.Dense(3, activation='softmax', name='cls')(trunk)}, name='two_heads')
    model.compile(optimizers.Adam(0.01), loss={'reg': 'mse', 'cls': 'sparse_categorical_crossentropy'}, loss_weights={'reg': 1.0, 'cls': 0.5},
                  metrics={'reg': ['mae'], 'cls': ['accuracy']})
    rng = np.random.default_rng(0)
    x = [rng.normal(size=(96, 6)).astype('float32'), rng.normal(size=(96, 4)).astype('float32')]
    y = {'reg': rng.normal(size=(96, 2)).astype('float32'), 'cls': rng.integers(0, 3, 96)}
    model.fit(x, y, batch_size=32, epochs=2, verbose=0)
    check_predictions(model, x)
    check_round_trip(model)
    errs = one_more_epoch(model, x, y)
    assert max(errs.values()) <= TRAIN_TOL, errs


def test_from_keras_model_made_in_keras():
    "A model written and trained in Keras comes into seqlearn with its weights and its Adam state: the next epoch agrees."
    keras.utils.set_random_seed(0)
    km = keras.Sequential([keras.Input((12, 1)), keras.layers.Conv1D(4, 3, activation='relu'), keras.layers.MaxPooling1D(),
                           keras.layers.Flatten(), keras.layers.Dense(8, activation='relu'), keras.layers.Dense(1, activation='sigmoid')])
    km.compile(optimizer=keras.optimizers.Adam(0.01), loss='binary_crossentropy', metrics=['accuracy'])
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 12, 1)).astype('float32'); y = (x[:, :6, 0].sum(1) > 0).astype('float32')
    km.fit(x, y, batch_size=32, epochs=2, verbose=0)
    model = from_keras(km)
    assert [l.name for l in model.layers] == [l.name for l in km.layers]
    assert rel_err(model.predict(x, verbose=0), km.predict(x, verbose=0)) <= PRED_TOL
    assert model.optimizer.iterations == 6
    km.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0)
    model.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), km.get_weights()): assert rel_err(a, b) <= TRAIN_TOL


# ---------------------------------------------------------------------------------------------------------------
# What is refused, and how
# ---------------------------------------------------------------------------------------------------------------
def test_from_keras_refuses_an_rnn_over_a_cell():
    "seqlearn has LSTM (tests/test_export_sequences.py), not Keras's generic RNN over a cell: the message says which layer to use."
    km = keras.Sequential([keras.Input((10, 3)), keras.layers.RNN(keras.layers.LSTMCell(8), name='encoder'), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match=r"layer 'encoder' is a Keras RNN, which seqlearn does not have.*keras.layers.LSTM\(units\)"):
        from_keras(km)


def test_from_keras_refuses_options_seqlearn_lacks():
    km = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, kernel_constraint='non_neg', name='d')])
    with pytest.raises(ValueError, match=r"Dense 'd' uses kernel_constraint="):
        from_keras(km)


def test_refuses_numpy_code():
    "Subclassed models, layers of one's own and activation functions of one's own are numpy code: refused, saying what to do."
    class Twice(Model):
        def __init__(self):
            super().__init__(); self.d = L.Dense(1)
        def call(self, x, training=None): return self.d(x)
    sub = Twice(); sub.build((None, 3))
    for f in (to_keras, to_torch):
        with pytest.raises(ValueError, match='subclassed model'): f(sub)
    custom = seq((3,), L.Dense(2, activation=lambda z: z * 2))
    with pytest.raises(ValueError, match='activation function'): to_keras(custom)


def test_missing_framework_names_the_extra(monkeypatch):
    model = seq((3,), L.Dense(2))
    monkeypatch.setitem(sys.modules, 'torch', None)
    with pytest.raises(ImportError, match=r'pip install "seqlearn\[interop\]"'): to_torch(model)


def test_importing_export_imports_no_framework():
    code = "import sys, seqlearn.export; print(sorted(m for m in ('torch', 'keras') if m in sys.modules))"
    assert subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True).stdout.strip() == '[]'



def test_copy_of_a_model_carries_its_optimizer_state():
    "A deep copy keeps the optimizer's slots but not the weight ids they are keyed by: to_keras matches them by position."
    import copy
    model, x, y = trained('tutorial', epochs=1, n=128)
    km = to_keras(copy.deepcopy(model))
    km.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0)
    model.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0)
    assert max(rel_err(a, b) for a, b in zip(km.get_weights(), model.get_weights())) <= TRAIN_TOL


def test_operators_travel_both_ways():
    "x + f(x), a scaled branch, 1 - x, x / y and slices: drawn as seqlearn layers, exported as the same operators, imported back."
    clear_session(); set_seed(0)
    x, z = L.Input((4,), name='x'), L.Input((4,), name='z')
    h = L.Dense(4, activation='tanh', name='f')(x)
    r = x + 0.5 * h
    out = L.Dense(2, name='head')((1 - r) / (2 + z * z) - r[:, :1] ** 2)
    model = Model([x, z], [out, -h[:, None, 1:3]], name='ops')
    model.compile(optimizers.Adam(0.01), loss=['mse', 'mse'])
    rng = np.random.default_rng(1)
    xs = [rng.normal(size=(64, 4)).astype('float32'), rng.normal(size=(64, 4)).astype('float32')]
    model.fit(xs, [rng.normal(size=(64, 2)).astype('float32'), rng.normal(size=(64, 1, 2)).astype('float32')], epochs=1, verbose=0)
    check_predictions(model, xs)
    back = from_keras(to_keras(model))
    for a, b in zip(back.predict(xs, verbose=0), model.predict(xs, verbose=0)): assert rel_err(a, b) <= PRED_TOL
    kx = keras.Input((3,), name='k')
    km = keras.Model(kx, keras.layers.Dense(2, name="kd")(kx * 2 + keras.ops.sum(kx[:, :2], axis=-1, keepdims=True) * 0 + 1))
    with pytest.raises(ValueError, match=r"computes Sum .* an operation seqlearn does not have"): from_keras(km)
    km = keras.Model(kx, keras.layers.Dense(2, name='kd')(-(kx * 2 + 1)[:, 1:] / 3))
    mine = from_keras(km)
    xk = rng.normal(size=(8, 3)).astype('float32')
    assert rel_err(mine.predict(xk, verbose=0), km.predict(xk, verbose=0)) <= PRED_TOL
