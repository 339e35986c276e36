"""Convolution, pooling, normalization and embedding layers: gradients, configs and files, BatchNormalization's
moving statistics inside fit, teaching errors, buffers reused, and ActivationStats. (Numbers against real Keras 3
are in test_keras_cnn.py.)"""
import pickle
import numpy as np
import pytest
import seqlearn
from seqlearn import Sequential, Model, Input, set_seed
from seqlearn.layers import (Conv1D, Conv2D, ZeroPadding1D, ZeroPadding2D, MaxPooling1D, MaxPooling2D, AveragePooling1D,
                             AveragePooling2D, GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalMaxPooling1D, GlobalMaxPooling2D,
                             BatchNormalization, LayerNormalization, Embedding, Dense, Flatten, Activation, gradient_check)
from seqlearn.activation_stats import ActivationStats

GRAD_CASES = [
    (Conv1D, dict(filters=3, kernel_size=3), (2, 9, 2), False),
    (Conv1D, dict(filters=2, kernel_size=4, padding='same', activation='tanh'), (2, 9, 2), False),
    (Conv1D, dict(filters=2, kernel_size=3, strides=2, padding='same', activation='relu'), (2, 10, 3), False),
    (Conv1D, dict(filters=2, kernel_size=3, dilation_rate=2, use_bias=False), (2, 11, 2), False),
    (Conv2D, dict(filters=2, kernel_size=3), (2, 6, 5, 2), False),
    (Conv2D, dict(filters=3, kernel_size=(3, 2), strides=(2, 1), padding='same', activation='sigmoid'), (2, 7, 6, 2), False),
    (Conv2D, dict(filters=2, kernel_size=2, dilation_rate=2, padding='same'), (2, 5, 6, 1), False),
    (Conv2D, dict(filters=2, kernel_size=3, strides=2), (2, 8, 7, 2), False),
    (MaxPooling1D, dict(pool_size=3, strides=2, padding='same'), (2, 8, 2), False),
    (MaxPooling2D, dict(), (2, 5, 5, 2), False),
    (MaxPooling2D, dict(pool_size=3, strides=2, padding='same'), (2, 6, 7, 2), False),
    (AveragePooling1D, dict(pool_size=3, padding='same'), (2, 7, 2), False),
    (AveragePooling2D, dict(pool_size=(3, 2), strides=(2, 1), padding='same'), (2, 6, 5, 2), False),
    (GlobalAveragePooling1D, dict(), (2, 5, 3), False), (GlobalMaxPooling2D, dict(keepdims=True), (2, 4, 3, 2), False),
    (ZeroPadding1D, dict(padding=(1, 3)), (2, 4, 3), False), (ZeroPadding2D, dict(padding=((1, 2), (0, 3))), (2, 3, 4, 2), False),
    (BatchNormalization, dict(), (6, 3), True), (BatchNormalization, dict(), (4, 3, 3, 2), True),
    (BatchNormalization, dict(center=False), (5, 3), True), (BatchNormalization, dict(), (6, 3), False),
    (LayerNormalization, dict(), (3, 5), False), (LayerNormalization, dict(scale=False), (2, 3, 4), False),
]


@pytest.mark.parametrize('cls,kw,shape,training', GRAD_CASES, ids=lambda v: v.__name__ if isinstance(v, type) else None)
def test_backward_matches_numerical_gradient(cls, kw, shape, training):
    layer = cls(**kw)
    rng = np.random.default_rng(0)
    if layer.__class__ in (BatchNormalization, LayerNormalization):  # non-trivial gamma, beta and moving statistics
        layer._build((None,) + shape[1:])
        layer.set_weights([rng.uniform(0.5, 2, size=w.shape) for w in layer.weights])
    errs = gradient_check(layer, rng.normal(size=shape), training=training)
    assert max(errs.values()) < 1e-5, errs


def test_embedding_gradient_sums_repeated_codes():
    layer = Embedding(6, 3, dtype='float64')
    codes = np.array([[0, 1, 1], [5, 0, 0]])
    y = layer(codes)
    r = np.random.default_rng(0).normal(size=y.shape)
    layer.backward(r)
    want = np.zeros((6, 3))
    for (i, j), c in np.ndenumerate(codes): want[c] += r[i, j]
    np.testing.assert_allclose(layer.embeddings.grad, want)


ALL_LAYERS = [(c, kw, s) for c, kw, s, _ in GRAD_CASES] + [(Embedding, dict(input_dim=9, output_dim=4), (3, 5))]


@pytest.mark.parametrize('cls,kw,shape', ALL_LAYERS, ids=lambda v: v.__name__ if isinstance(v, type) else None)
def test_config_round_trip_gives_the_same_layer(cls, kw, shape):
    layer = cls(**kw)
    x = np.random.default_rng(1).integers(0, 9, size=shape) if cls is Embedding else np.random.default_rng(1).normal(size=shape)
    y = layer(x)
    twin = cls.from_config(layer.get_config())
    twin(x)
    if layer.weights: twin.set_weights(layer.get_weights())
    np.testing.assert_array_equal(twin(x), y)
    assert twin.get_config() == layer.get_config()


def _cnn():
    seqlearn.clear_session(); set_seed(0)
    m = Sequential([Conv2D(4, 3, padding='same', activation='relu', input_shape=(8, 8, 1)), BatchNormalization(), MaxPooling2D(),
                    Conv2D(6, 3), AveragePooling2D(pool_size=2, padding='same'), ZeroPadding2D(1), GlobalMaxPooling2D(),
                    LayerNormalization(), Dense(3)])
    m.compile('adam', seqlearn.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=['accuracy'])
    return m


def _data(n=64):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 8, 8, 1)).astype('float32')
    return x, (x[:, :4].mean(axis=(1, 2, 3)) > 0).astype(int) + (x[:, 4:].mean(axis=(1, 2, 3)) > 0)


def test_cnn_trains_saves_and_loads(tmp_path):
    m = _cnn(); x, y = _data()
    h = m.fit(x, y, epochs=8, batch_size=16, verbose=0)
    assert h.history['loss'][-1] < h.history['loss'][0]
    bn = m.layers[1]
    assert not np.allclose(bn.moving_mean.value, 0)  # moved during fit
    m.save(tmp_path / 'cnn.seqlearn')
    back = seqlearn.load_model(tmp_path / 'cnn.seqlearn')
    np.testing.assert_array_equal(back.predict(x, verbose=0), m.predict(x, verbose=0))
    np.testing.assert_array_equal(back.layers[1].moving_variance.value, bn.moving_variance.value)
    assert [type(l).__name__ for l in back.layers] == [type(l).__name__ for l in m.layers]
    # training continues identically from the file
    m.fit(x, y, epochs=1, batch_size=16, verbose=0, shuffle=False); back.fit(x, y, epochs=1, batch_size=16, verbose=0, shuffle=False)
    for a, b in zip(m.get_weights(), back.get_weights()): np.testing.assert_array_equal(a, b)


def test_summary_counts_moving_statistics_as_non_trainable():
    m = _cnn()
    lines = []
    m.summary(print_fn=lines.append)
    text = '\n'.join(lines)
    assert 'Non-trainable params: 8 (32.00 B)' in text  # BatchNormalization(4 channels): moving mean and variance
    assert 'batch_normalization' in text and 'max_pooling2d (MaxPooling2D)' in text


def test_moving_statistics_move_only_with_an_update():
    "A batch whose loss is not finite changes neither the weights nor BatchNormalization's moving statistics."
    m = _cnn(); x, y = _data(16)
    m.train_on_batch(x, y)
    m.layers[-2].gamma.value = np.full(6, 3e38, np.float32)  # LayerNormalization's scale: the logits overflow
    before = [w.copy() for w in m.get_weights()]
    with np.errstate(all='ignore'), pytest.raises(FloatingPointError):
        m.train_on_batch(x, y)
    for a, b in zip(before, m.get_weights()): np.testing.assert_array_equal(a, b)


def test_frozen_batch_normalization_runs_in_inference_mode():
    m = _cnn(); x, y = _data()
    m.layers[1].trainable = False
    m.compile('adam', seqlearn.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = [w.value.copy() for w in m.layers[1].weights]
    m.fit(x, y, epochs=1, verbose=0)
    for a, w in zip(before, m.layers[1].weights): np.testing.assert_array_equal(a, w.value)


def test_functional_cnn_with_shared_convolution():
    a, b = Input((12, 2)), Input((12, 2))
    conv = Conv1D(4, 3, padding='same', activation='relu')
    pa, pb = GlobalAveragePooling1D()(conv(a)), GlobalMaxPooling1D()(conv(b))
    out = Dense(1)(seqlearn.layers.concatenate([pa, pb]))
    m = Model([a, b], out); m.compile('adam', 'mse')
    rng = np.random.default_rng(0)
    xa, xb = rng.normal(size=(40, 12, 2)), rng.normal(size=(40, 12, 2))
    y = xa.mean(axis=(1, 2)) - xb.max(axis=(1, 2))
    h = m.fit([xa, xb], y, epochs=5, verbose=0)
    assert h.history['loss'][-1] < h.history['loss'][0]
    lines = []; m.summary(print_fn=lines.append)
    assert sum('conv1d' in l for l in lines) >= 1


def test_teaching_errors_name_the_layer_and_the_fix():
    m = Sequential([Conv2D(8, 3, input_shape=(28, 28, 1)), Flatten(), Dense(2)])
    m.compile('adam', 'mse')
    with pytest.raises(ValueError, match=r"x\[\.\.\., None\]"):
        Sequential([Conv2D(8, 3, input_shape=(28, 28))])
    with pytest.raises(ValueError, match="only 3 long"):
        Sequential([Conv1D(8, 5, input_shape=(3, 1))])
    with pytest.raises(ValueError, match="Did you mean 'valid'"):
        Conv1D(8, 5, padding='vaild')
    with pytest.raises(ValueError, match='kernel_size'):
        Conv2D(8, 0)
    emb = Sequential([Embedding(10, 4, input_shape=(3,)), Flatten(), Dense(1)])
    emb.compile('adam', 'mse')
    before = emb.get_weights()
    with pytest.raises(ValueError, match=r"input_dim=10.*input_dim=13"):
        emb.fit(np.array([[1, 2, 12]]), np.zeros(1), verbose=0)
    for a, b in zip(before, emb.get_weights()): np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match='momentum'):
        BatchNormalization(momentum=1.5)


def test_im2col_buffers_are_sized_once_per_fit():
    m = _cnn(); x, y = _data()
    conv = m.layers[0]
    m.fit(x, y, epochs=1, batch_size=16, verbose=0)
    buf = conv.__dict__['_colbuf']
    m.fit(x, y, epochs=2, batch_size=16, verbose=0)
    assert conv.__dict__['_colbuf'] is buf
    y1 = m.predict(x[:5], verbose=0); y2 = m.predict(x[:5], verbose=0)
    assert y1 is not y2 and not np.shares_memory(y1, y2)  # outputs handed to the user are never reused buffers


def test_activation_stats_records_every_watched_layer_and_leaves_no_hooks():
    m = _cnn(); x, y = _data()
    st = ActivationStats(live=False)
    m.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[st])
    assert st.names == ['conv2d', 'batch_normalization', 'conv2d_1', 'layer_normalization', 'dense']
    for n in st.names:
        mean, std, near, dead, hist = st.arrays(n)
        assert len(mean) == 8 and hist.shape == (8, 40) and (0 <= near).all() and (near <= 1).all()
        assert (hist.sum(axis=1) > 0).all()
    assert st.epochs == [0, 4]
    assert all(not l._hooks for l in m.layers)
    pickle.dumps(m)  # nothing of the callback stays on the model
    assert 'near zero' in repr(st)


def test_activation_stats_hooks_come_off_when_fit_fails():
    m = _cnn(); x, y = _data()
    class Boom(seqlearn.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None): raise RuntimeError('boom')
    with pytest.raises(RuntimeError, match='boom'):
        m.fit(x, y, epochs=1, verbose=0, callbacks=[ActivationStats(live=False), Boom()])
    assert all(not l._hooks for l in m.layers)


def test_activation_stats_sees_a_vanishing_network():
    "The lesson's point: with tiny weights the deep layers' activations are near zero; BatchNormalization restores them."
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 20)).astype('float32'); y = x[:, :1] ** 2
    def deep(bn):
        set_seed(0)
        layers = [Input((20,))]
        for _ in range(6):
            layers += [Dense(32, kernel_initializer=seqlearn.initializers.RandomNormal(stddev=0.01))]
            layers += [BatchNormalization(), Activation('tanh')] if bn else [Activation('tanh')]
        m = Sequential(layers + [Dense(1)]); m.compile('sgd', 'mse'); return m
    plain, normed = ActivationStats(live=False), ActivationStats(live=False)
    deep(False).fit(x, y, epochs=1, verbose=0, callbacks=[plain])
    deep(True).fit(x, y, epochs=1, verbose=0, callbacks=[normed])
    tanh = lambda st: [n for n in st.names if n.startswith('activation')]
    assert np.mean(plain.arrays(tanh(plain)[3])[2]) > 0.9   # the fourth tanh: nearly everything near zero
    assert np.mean(normed.arrays(tanh(normed)[3])[2]) < 0.1


@pytest.mark.parametrize('layer', [lambda: Conv2D(4, 3, padding='same', activation='relu'), lambda: Conv2D(3, (3, 2), strides=2),
                                   lambda: Conv1D(5, 3, dilation_rate=2, activation='tanh'), lambda: MaxPooling2D(), lambda: MaxPooling2D(3, strides=2, padding='same')])
def test_splitting_the_batch_over_threads_gives_the_same_numbers(layer, monkeypatch):
    "fit may split a batch over threads (config.split_rows); forward and backward must not change."
    from seqlearn import config
    rng = np.random.default_rng(0)
    l = layer()
    x = rng.normal(size=(7, 9, 8, 2) if 'Conv1D' not in type(l).__name__ else (7, 15, 2)).astype('float32')
    y1 = l(x).copy(); r = rng.normal(size=y1.shape).astype('float32')
    dx1 = l.backward(r).copy(); g1 = [w.grad.copy() for w in l.weights]
    monkeypatch.setattr(config, 'PARALLEL_MIN', 0)
    old = config.set_workers(3)
    try:
        y2 = l(x); dx2 = l.backward(r)
    finally: config.set_workers(old)
    np.testing.assert_allclose(y2, y1, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(dx2, dx1, rtol=1e-5, atol=1e-6)
    for w, g in zip(l.weights, g1): np.testing.assert_allclose(w.grad, g, rtol=1e-5, atol=1e-5)


def test_maxpooling_taking_over_the_convolutions_relu_changes_nothing():
    "In fit/predict a MaxPooling applies its Conv's ReLU after pooling; training must give bitwise the same weights."
    rng = np.random.default_rng(0)
    x = rng.normal(size=(48, 10, 10, 2)).astype('float32'); y = rng.integers(0, 3, 48)
    def train(watch):
        seqlearn.clear_session(); set_seed(0)
        m = Sequential([Conv2D(4, 3, activation='relu', input_shape=(10, 10, 2)), MaxPooling2D(), Flatten(), Dense(3)])
        m.compile('adam', seqlearn.losses.SparseCategoricalCrossentropy(from_logits=True))
        if watch: remove = m.layers[0].add_forward_hook(lambda layer, out, training: None)   # a watched conv keeps its own ReLU
        m.fit(x, y, epochs=2, batch_size=16, verbose=0, shuffle=False)
        deferred = m.layers[0].deferred
        return m.get_weights(), m.predict(x, verbose=0), deferred
    (w1, p1, d1), (w2, p2, d2) = train(False), train(True)
    assert d1 and not d2          # fused in the first run only
    for a, b in zip(w1, w2): np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(p1, p2)
    m = Sequential([Conv2D(4, 3, activation='relu', input_shape=(10, 10, 2)), MaxPooling2D()])
    np.testing.assert_array_equal(m.predict(x, verbose=0), m(x))   # predict (fused) = a direct call (not fused)
    assert (m.predict(x, verbose=0) >= 0).all()


def test_a_functional_cnn_fuses_where_a_layer_feeds_only_the_next():
    """The same takeover in a functional graph, where the convolution's output goes only to the pooling layer; a
    convolution whose output also feeds another layer (or is a model output) keeps its own ReLU."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(48, 10, 10, 2)).astype('float32'); y = rng.integers(0, 3, 48)
    def train(functional):
        seqlearn.clear_session(); set_seed(0)
        layers = [Conv2D(4, 3, activation='relu'), MaxPooling2D(), Flatten(), Dense(3)]
        if functional:
            inp = Input((10, 10, 2)); h = inp
            for l in layers: h = l(h)
            m = Model(inp, h)
        else: m = Sequential([Input((10, 10, 2))] + layers)
        m.compile('adam', seqlearn.losses.SparseCategoricalCrossentropy(from_logits=True))
        seen = []
        m.fit(x, y, epochs=2, batch_size=16, verbose=0, shuffle=False,
              callbacks=[seqlearn.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: seen.append(layers[0].deferred))])
        return m.get_weights(), m.predict(x, verbose=0), set(seen)
    (w1, p1, d1), (w2, p2, d2) = train(True), train(False)
    assert d1 == d2 == {True}
    for a, b in zip(w1, w2): np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(p1, p2)
    # the conv's output read twice (by the pooling and by a second branch): no takeover
    seqlearn.clear_session(); set_seed(0)
    inp = Input((10, 10, 2)); conv = Conv2D(4, 3, activation='relu'); c = conv(inp)
    out = seqlearn.layers.concatenate([Flatten()(MaxPooling2D()(c)), Flatten()(seqlearn.layers.GlobalAveragePooling2D()(c))])
    m = Model(inp, Dense(3)(out)); m.compile('adam', 'mse')
    seen = []
    m.fit(x, np.zeros((48, 3), 'float32'), epochs=1, batch_size=16, verbose=0,
          callbacks=[seqlearn.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: seen.append(conv.deferred))])
    assert set(seen) == {False}

