"""Subclassed models written the Keras way: the training flag reaches nested calls, layers kept in containers are
tracked, any call signature Keras accepts works, dict outputs, layers built or frozen during fit, tapes per thread."""
import threading
import numpy as np
import pytest
from seqlearn import Model, Sequential, Input, Dense, Dropout, BatchNormalization, set_seed, clear_session, load_model
from seqlearn.callbacks import Callback

rng = np.random.default_rng(0)
X = rng.normal(size=(64, 4)).astype('float32')
Y = (X @ np.array([[1.0], [-2.0], [0.5], [1.5]], 'float32')).astype('float32')


class DocstringModel(Model):
    "The subclassing example of keras.Model's docstring: call(self, inputs), no training argument."
    def __init__(self):
        super().__init__()
        self.dense1 = Dense(32, activation='relu')
        self.dense2 = Dense(1)
    def call(self, inputs):
        x = self.dense1(inputs)
        return self.dense2(x)


def test_call_without_training_argument_trains():
    set_seed(0)
    m = DocstringModel()
    m.compile('adam', 'mse')
    h = m.fit(X, Y, epochs=30, batch_size=16, verbose=0)
    assert h.history['loss'][-1] < 0.5 * h.history['loss'][0]
    assert m.count_params() == 4 * 32 + 32 + 33


def test_training_argument_without_default_is_refused_at_build():
    class NoDefault(Model):
        def __init__(self):
            super().__init__(); self.d = Dense(1)
        def call(self, inputs, training): return self.d(inputs)
    with pytest.raises(ValueError, match="needs a default for training"): NoDefault()(X)


class Noisy(Model):
    "Dropout and BatchNormalization called without training=: they must follow fit/predict."
    def __init__(self):
        super().__init__()
        self.d, self.bn, self.drop, self.out = Dense(8), BatchNormalization(), Dropout(0.5), Dense(1)
    def call(self, inputs, training=None):
        return self.out(self.drop(self.bn(self.d(inputs))))


def test_training_flag_reaches_layers_called_without_it():
    set_seed(0)
    m = Noisy()
    assert np.array_equal(m(X), m(X))                       # inference: deterministic
    assert not np.array_equal(m(X, training=True), m(X))     # training: dropout drops
    m.compile('sgd', 'mse')
    before = m.bn.moving_mean.value.copy()
    m.fit(X, Y, epochs=1, batch_size=16, verbose=0)
    assert not np.allclose(m.bn.moving_mean.value, before)   # moving statistics moved during fit


def test_nested_model_inherits_the_flag():
    class Outer(Model):
        def __init__(self):
            super().__init__(); self.inner = Noisy()
        def call(self, inputs): return self.inner(inputs)
    set_seed(0)
    m = Outer()
    assert np.array_equal(m(X), m(X))
    assert not np.array_equal(m(X, training=True), m(X))


class Containers(Model):
    "Layers in a list filled after assignment, in a dict, and in nested lists."
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.blocks = []
        for _ in range(2): self.blocks.append(Dense(8, activation='relu'))
        self.heads = {'price': Dense(1), 'score': Dense(1)}
        self.nested = [[Dense(8, activation='tanh')]]
    def call(self, inputs, training=None):
        x = inputs
        for b in self.blocks: x = b(x)
        x = self.nested[0][0](x)
        return {'price': self.heads['price'](x), 'score': self.heads['score'](x)}


def test_layers_in_containers_are_tracked_trained_and_saved(tmp_path):
    set_seed(0)
    m = Containers()
    m.compile('adam', loss={'price': 'mse', 'score': 'mse'})
    h = m.fit(X, {'price': Y, 'score': -Y}, epochs=40, batch_size=16, verbose=0)
    assert len(m.layers) == 5 and len(m.trainable_weights) == 10
    assert m.count_params() == (4 * 8 + 8) + (8 * 8 + 8) + (8 * 8 + 8) + 2 * 9
    assert h.history['loss'][-1] < 0.7 * h.history['loss'][0]   # untracked layers would leave it flat
    p = m.predict(X, verbose=0)
    assert isinstance(p, dict) and set(p) == {'price', 'score'} and p['price'].shape == (64, 1)
    m.save(tmp_path / 'c.seqlearn')
    m2 = load_model(tmp_path / 'c.seqlearn', custom_objects={'Containers': Containers})
    q = m2.predict(X, verbose=0)
    np.testing.assert_allclose(q['price'], p['price'], rtol=1e-6)
    out = []; m.summary(print_fn=out.append)
    assert all(l.name in out[0] for l in m.layers)


def test_tuple_outputs_stay_tuples():
    class Two(Model):
        def __init__(self):
            super().__init__(); self.a, self.b = Dense(2), Dense(3)
        def call(self, inputs): return self.a(inputs), self.b(inputs)
    m = Two()
    out = m(X)
    assert isinstance(out, tuple) and [o.shape for o in out] == [(64, 2), (64, 3)]


def test_a_layer_first_built_in_fit_is_trained_from_its_first_step():
    class Late(Model):
        def __init__(self):
            super().__init__(); self.d, self.extra = Dense(1), Dense(1)
        def call(self, inputs, training=None):
            y = self.d(inputs)
            return self.extra(y) if training else y
    set_seed(0)
    m = Late()
    m.compile('sgd', 'mse')
    m(X)                                   # built for inference: `extra` is not built yet
    assert not m.extra.built
    m.fit(X, Y, epochs=1, batch_size=64, verbose=0, shuffle=False)   # one step
    assert m.extra.built
    k0 = m.extra.kernel.value.copy()
    m.fit(X, Y, epochs=1, batch_size=64, verbose=0, shuffle=False)
    assert not np.allclose(m.extra.kernel.value, k0)
    assert any(w is m.extra.kernel for w in m.optimizer._flat.variables)


def test_freezing_a_layer_in_a_callback_takes_effect_at_the_next_step():
    class Freeze(Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 0: self.model.layers[0].trainable = False
    set_seed(0)
    m = Sequential([Dense(4, input_shape=(4,)), Dense(1)])
    m.compile('sgd', 'mse')
    seen = []
    class Watch(Callback):
        def on_train_batch_end(self, batch, logs=None): seen.append(m.layers[0].kernel.value.copy())
    m.fit(X, Y, epochs=1, batch_size=16, verbose=0, shuffle=False, callbacks=[Freeze(), Watch()])
    assert len(seen) == 4 and all(np.array_equal(seen[1], s) for s in seen[2:])   # frozen after the first batch
    assert np.array_equal(seen[0], seen[1])


def test_two_subclassed_models_train_in_two_threads():
    from seqlearn import config
    blas_before = config.max_threads()
    results, errors = {}, []
    def train(k):
        try:
            set_seed(k)
            m = Noisy(); m.compile('adam', 'mse')
            results[k] = m.fit(X, Y, epochs=5, batch_size=8, verbose=0).history['loss']
        except Exception as e: errors.append(e)
    ts = [threading.Thread(target=train, args=(k,)) for k in range(2)]
    for t in ts: t.start()
    for t in ts: t.join()
    assert not errors, errors
    assert all(len(v) == 5 and np.isfinite(v).all() for v in results.values())
    assert config.max_threads() == blas_before   # overlapping fits leave BLAS's process-wide setting as it was


def test_functional_training_flag_fixed_when_drawing():
    set_seed(0)
    x = Input((4,))
    y = Dropout(0.5)(Dense(8)(x), training=True)   # fixed: drops in predict too (Keras)
    m = Model(x, Dense(1)(y))
    assert not np.array_equal(m.predict(X, verbose=0), m.predict(X, verbose=0))


def test_deep_nesting_is_linear():
    m = Dense(2)
    inner = Sequential([Dense(2, input_shape=(2,))])
    for _ in range(60): inner = Sequential([inner])
    assert inner.built and inner.get_config()['name']
    assert inner.predict(np.ones((3, 2)), verbose=0).shape == (3, 2)


class CustomStep(Model):
    "A custom train_step the Keras 3 way, with a loss term of its own, and the model's running metrics."
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.d1, self.d2 = Dense(16, activation='relu'), Dense(1)
        self.calls = 0
    def call(self, inputs, training=None): return self.d2(self.d1(inputs))
    def train_step(self, data):
        x, y = data
        self.calls += 1
        y_pred = self(x, training=True)
        loss = self.compute_loss(y=y, y_pred=y_pred)
        loss.backward()
        self.optimizer.apply([w.grad for w in self.trainable_weights], self.trainable_weights)
        return self.compute_metrics(x, y, y_pred)


def test_custom_train_step_trains_like_the_built_in_one():
    set_seed(0); a = CustomStep(); a.compile('sgd', 'mse', metrics=['mae'])
    ha = a.fit(X, Y, epochs=3, batch_size=16, verbose=0, shuffle=False)
    set_seed(0); b = DocstringModel.__new__(DocstringModel)  # same layers, the built-in step
    class Plain(CustomStep):
        train_step = Model.train_step
    set_seed(0); b = Plain(); b.compile('sgd', 'mse', metrics=['mae'])
    hb = b.fit(X, Y, epochs=3, batch_size=16, verbose=0, shuffle=False)
    assert a.calls == 12 and b.calls == 0
    np.testing.assert_allclose(ha.history['loss'], hb.history['loss'], rtol=1e-5)
    np.testing.assert_allclose(ha.history['mae'], hb.history['mae'], rtol=1e-5)
    for wa, wb in zip(a.get_weights(), b.get_weights()): np.testing.assert_allclose(wa, wb, rtol=1e-5, atol=1e-7)


def test_loss_values_add_and_scale():
    set_seed(0); m = CustomStep(); m.compile('sgd', 'mse'); m.fit(X, Y, epochs=1, verbose=0)
    y_pred = m(X, training=True)
    l1 = m.compute_loss(y=Y, y_pred=y_pred)
    l2 = 0.5 * l1 + l1
    assert float(l2) == pytest.approx(1.5 * float(l1))
    l1.backward(); g1 = [w.grad.copy() for w in m.trainable_weights]
    l2.backward(); g2 = [w.grad.copy() for w in m.trainable_weights]
    for a, b in zip(g1, g2): np.testing.assert_allclose(b, 1.5 * a, rtol=1e-5, atol=1e-7)


def test_custom_test_and_predict_steps_are_used():
    class Steps(DocstringModel):
        def test_step(self, data):
            self.tested = getattr(self, 'tested', 0) + 1
            return super().test_step(data)
        def predict_step(self, data): return super().predict_step(data) * 0 + 7
    set_seed(0); m = Steps(); m.compile('sgd', 'mse')
    assert m.evaluate(X, Y, batch_size=32, verbose=0) > 0 and m.tested == 2
    assert (m.predict(X, verbose=0) == 7).all()


class ResidualMLP(Model):
    "Residual blocks written with numpy arithmetic inside call, the Keras way: x + f(x), a scaled branch, a slice."
    def __init__(self, width=8, depth=2, **kwargs):
        super().__init__(**kwargs)
        self.width, self.depth = width, depth
        self.proj = Dense(width)
        self.blocks = [Dense(width, activation='tanh') for _ in range(depth)]
        self.out = Dense(1)
    def call(self, inputs, training=None):
        x = self.proj(inputs)
        for b in self.blocks: x = x + 0.5 * b(x)
        return self.out(x - x[:, :1] / 4)
    def get_config(self): return {**super().get_config(), 'width': self.width, 'depth': self.depth}


def test_numpy_arithmetic_in_call_is_traced_and_trains_like_the_functional_twin():
    set_seed(0)
    sub = ResidualMLP()
    sub.build((None, 4))
    x = Input((4,))
    h = sub.proj(x)
    for b in sub.blocks: h = h + 0.5 * b(h)
    fun = Model(x, sub.out(h - h[:, :1] / 4))        # the same layers, drawn symbolically
    np.testing.assert_array_equal(sub.predict(X, verbose=0), fun.predict(X, verbose=0))
    w0 = sub.get_weights()
    sub.compile('sgd', 'mse'); hs = sub.fit(X, Y, epochs=3, batch_size=16, shuffle=False, verbose=0).history['loss']
    ws = sub.get_weights()
    fun.set_weights(w0)
    fun.compile('sgd', 'mse'); hf = fun.fit(X, Y, epochs=3, batch_size=16, shuffle=False, verbose=0).history['loss']
    assert hs == hf and all(np.array_equal(a, b) for a, b in zip(ws, fun.get_weights()))
    assert hs[-1] < hs[0]


def test_traced_arithmetic_gradients_match_numerical():
    from seqlearn.core import numerical_gradient
    class Mix(Model):
        def __init__(self):
            super().__init__(); self.a, self.b = Dense(3, dtype='float64'), Dense(3, dtype='float64')
        def call(self, inputs):
            p, q = self.a(inputs), self.b(inputs)
            return (p * q - 2.0 / (1.5 + q * q) + (-p) ** 2)[:, 1:] + inputs[:, :2] * 3
    set_seed(0); m = Mix(); xs = rng.normal(size=(5, 3))
    m.build((None, 3))
    r = rng.normal(size=(5, 2))
    m.forward_pass([xs], training=True)
    gin = m.backward(r)
    loss = lambda: float((m.forward_pass([xs], training=True)[0] * r).sum())
    for w in m.trainable_weights:
        m.forward_pass([xs], training=True); m.backward(r)
        np.testing.assert_allclose(w.grad, numerical_gradient(loss, w.value, 1e-6), rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(gin, numerical_gradient(loss, xs, 1e-6), rtol=1e-5, atol=1e-8)


def test_absurd_nesting_in_a_file_is_a_clear_error(tmp_path):
    import json, zipfile
    from seqlearn.models import ModelFileError
    m = Sequential([Dense(2, input_shape=(2,))])
    m.save(tmp_path / 'm.seqlearn')
    with zipfile.ZipFile(tmp_path / 'm.seqlearn') as z: files = {n: z.read(n) for n in z.namelist()}
    inner = json.loads(files['config.json'])
    for i in range(150): inner = {'class_name': 'Sequential', 'config': {'name': f's{i}', 'layers': [inner]}}
    files['config.json'] = json.dumps(inner).encode()
    with zipfile.ZipFile(tmp_path / 'deep.seqlearn', 'w') as z:
        for n, b in files.items(): z.writestr(n, b)
    with pytest.raises(ModelFileError, match="nests models 15[01] levels deep"): load_model(tmp_path / 'deep.seqlearn')


def test_sums_and_means_are_traced_and_untraced_numpy_is_refused_not_silently_wrong():
    from seqlearn.core import numerical_gradient
    class Centered(Model):
        def __init__(self, how='mean'):
            super().__init__(); self.how = how; self.a, self.b = Dense(3, dtype='float64'), Dense(2, dtype='float64')
        def call(self, inputs):
            h = self.a(inputs)
            if self.how == 'mean': h = h - h.mean(axis=-1, keepdims=True) + h.sum() / 10 + np.mean(h)
            elif self.how == 'max': h = h / (1 + h.max() ** 2)   # max is not traced
            elif self.how == 'reshape': h = h + h.reshape(-1, 3)  # nor reshape
            return self.b(h)
    set_seed(0); m = Centered(); xs = rng.normal(size=(5, 3)); m.build((None, 3))
    r = rng.normal(size=(5, 2))
    loss = lambda: float((m.forward_pass([xs], training=True)[0] * r).sum())
    for w in m.trainable_weights:
        m.forward_pass([xs], training=True); m.backward(r)
        np.testing.assert_allclose(w.grad, numerical_gradient(loss, w.value, 1e-6), rtol=1e-5, atol=1e-8)
    for how in ('max', 'reshape'):
        m = Centered(how); m.compile('sgd', 'mse')
        with pytest.raises(ValueError, match="numpy operation seqlearn does not trace"): m.fit(X, Y[:, :1].repeat(2, 1), verbose=0)


def test_compute_metrics_measures_its_arguments():
    class Extra(CustomStep):
        def train_step(self, data):
            x, y = data
            y_pred = self(x, training=True)
            extra = self.compute_loss(y=np.zeros_like(y), y_pred=y_pred)   # computed last: must not be what fit reports
            loss = self.compute_loss(y=y, y_pred=y_pred)
            (loss + 0.0 * extra).backward()
            self.optimizer.apply([w.grad for w in self.trainable_weights], self.trainable_weights)
            return self.compute_metrics(x, y, y_pred)
    set_seed(0); a = Extra(); a.compile('sgd', 'mse', metrics=['mae'])
    ha = a.fit(X, Y, epochs=2, batch_size=16, verbose=0, shuffle=False).history
    set_seed(0); b = CustomStep(); b.compile('sgd', 'mse', metrics=['mae'])
    hb = b.fit(X, Y, epochs=2, batch_size=16, verbose=0, shuffle=False).history
    np.testing.assert_allclose(ha['loss'], hb['loss'], rtol=1e-6); np.testing.assert_allclose(ha['mae'], hb['mae'], rtol=1e-6)


def test_backward_after_another_call_is_refused():
    set_seed(0); m = CustomStep(); m.compile('sgd', 'mse'); m.fit(X, Y, epochs=1, verbose=0)
    loss = m.compute_loss(y=Y, y_pred=m(X, training=True))
    m(X, training=True)
    with pytest.raises(RuntimeError, match="ran again after the call this loss was computed from"): loss.backward()
    f = Model(x := Input((4,)), Dense(1)(x)); f.compile('sgd', 'mse'); f.fit(X, Y, epochs=1, verbose=0)
    loss = f.compute_loss(y=Y, y_pred=f(X, training=True))
    f.predict(X, verbose=0)
    with pytest.raises(RuntimeError, match="ran again"): loss.backward()


def test_train_on_batch_runs_a_custom_train_step():
    set_seed(0); m = CustomStep(); m.compile('sgd', 'mse')
    loss = m.train_on_batch(X, Y)
    assert m.calls == 1 and np.isfinite(loss)


def test_a_subclass_without_kwargs_says_how_to_load_it(tmp_path):
    class NoKwargs(Model):
        def __init__(self):
            super().__init__(); self.d = Dense(1)
        def call(self, inputs): return self.d(inputs)
    m = NoKwargs(); m(X); m.save(tmp_path / 'n.seqlearn')
    with pytest.raises(Exception, match=r"give __init__ a \*\*kwargs"): load_model(tmp_path / 'n.seqlearn', custom_objects={'NoKwargs': NoKwargs})

def test_an_output_made_by_traced_arithmetic_trains_like_its_functional_twin():
    "`return self.out(h) + self.out(2 * h)`: the output is a traced sum (no activation for the loss to skip), not a layer's."
    from seqlearn.layers import Dense, Add
    import seqlearn as sl
    class M(sl.Model):
        def __init__(self):
            super().__init__(); self.a, self.out = Dense(3, activation='tanh'), Dense(1)
        def call(self, x):
            h = self.a(x)
            return self.out(h) + self.out(h * 2)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((8, 2)).astype('float32'), rng.standard_normal((8, 1)).astype('float32')
    m = M(); m.build((None, 2))
    i = sl.Input((2,)); a, out = Dense(3, activation='tanh'), Dense(1)
    h = a(i); f = sl.Model(i, Add()([out(h), out(h * 2)]))
    f.set_weights(m.get_weights())
    for model in (m, f): model.compile('sgd', 'mse'); model.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0)
    for u, v in zip(m.get_weights(), f.get_weights()): np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-6)
