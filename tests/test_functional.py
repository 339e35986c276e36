"""The Functional API and subclassed models, as a user meets them: the tutorial's code, graphs that are not chains,
gradients checked numerically, the errors, and saving/loading."""
import pickle, warnings
import numpy as np
import pytest
from seqlearn import set_seed, clear_session, ShapeError
from seqlearn.layers import (Input, Dense, Dropout, Flatten, Activation, Reshape, Identity, Layer, concatenate, add, Add,
                             Subtract, Multiply, Concatenate, average, maximum)
from seqlearn.models import Model, Sequential, load_model, model_from_json
from seqlearn.core import numerical_gradient, register_layer, LAYER_CLASSES
from seqlearn.callbacks import BackupAndRestore, ModelCheckpoint, LambdaCallback

rng = np.random.default_rng(0)
XA, XB = rng.normal(size=(64, 10)).astype('float32'), rng.normal(size=(64, 5)).astype('float32')
Y = (XA[:, :1] - 2 * XB[:, 1:2]).astype('float32')


@pytest.fixture(autouse=True)
def _fresh():
    clear_session(); set_seed(0)


def test_tutorial_code_runs_verbatim_and_trains():
    input1 = Input(shape=(10,))
    input2 = Input(shape=(5,))
    merged = concatenate([input1, input2])
    output = Dense(1)(merged)
    model = Model(inputs=[input1, input2], outputs=output)
    assert type(model).__name__ == 'Functional' and isinstance(model, Model)
    model.compile(optimizer='adam', loss='mse')
    h = model.fit([XA, XB], Y, epochs=100, batch_size=16, verbose=0)
    assert h.history['loss'][-1] < 0.5 * h.history['loss'][0]
    assert model.predict([XA, XB], verbose=0).shape == (64, 1)
    assert model.evaluate({'input_layer': XA, 'input_layer_1': XB}, Y, verbose=0) == pytest.approx(h.history['loss'][-1], rel=0.5)
    out = []; model.summary(print_fn=out.append); assert 'concatenate (Concatenate)' in out[0] and 'Connected to' in out[0]
    import tempfile, pathlib
    path = pathlib.Path(tempfile.mkdtemp()) / 'tutorial.seqlearn'
    model.save(path); again = load_model(path)
    np.testing.assert_array_equal(again.predict([XA, XB], verbose=0), model.predict([XA, XB], verbose=0))
    again.fit([XA, XB], Y, epochs=1, verbose=0)  # compiled as it was: training goes on


def two_tower():
    a, b = Input((10,), name='a'), Input((5,), name='b')
    shared = Dense(6, activation='tanh', name='shared')
    ha, hb = shared(Dense(6, name='pa')(a)), shared(Dense(6, name='pb')(b))
    res = add([Dense(6, name='skip')(a), ha], name='res')
    h = Dense(8, activation='relu', name='trunk')(concatenate([res, hb]))
    return Model([a, b], [Dense(1, name='price')(h), Dense(3, activation='softmax', name='kind')(h)], name='two_tower')


def test_graph_parts_as_keras_names_them():
    m = two_tower()
    assert [t.name for t in m.inputs] == ['a', 'b'] and len(m.outputs) == 2
    assert [l.name for l in m.layers][:2] == ['a', 'b']
    shared = m.get_layer('shared')
    assert shared.get_output_at(0).shape == (None, 6) and len(shared._inbound_nodes) == 2
    with pytest.raises(AttributeError, match='called at 2 places'): shared.output
    assert m.get_layer('trunk').input.shape == (None, 12)
    assert m.count_params() == sum(w.size for w in m.weights)
    assert len({id(w) for w in m.weights}) == len(m.weights)  # the shared layer's weights once
    with pytest.raises(ValueError, match="Did you mean 'trunk'"): m.get_layer('trunc')


def test_multi_output_training_names_and_loss_weights():
    m = two_tower()
    y_kind = rng.integers(0, 3, 64)
    m.compile('adam', loss={'price': 'mse', 'kind': 'sparse_categorical_crossentropy'}, loss_weights={'price': 1.0, 'kind': 0.5},
              metrics={'price': ['mae'], 'kind': ['accuracy']})
    h = m.fit({'a': XA, 'b': XB}, {'price': Y, 'kind': y_kind}, epochs=2, batch_size=16, validation_split=0.25, verbose=0)
    assert list(h.history) == ['kind_accuracy', 'kind_loss', 'loss', 'price_loss', 'price_mae', 'val_kind_accuracy', 'val_kind_loss',
                               'val_loss', 'val_price_loss', 'val_price_mae']
    d = m.evaluate([XA, XB], [Y, y_kind], verbose=0, return_dict=True)
    assert d['loss'] == pytest.approx(d['price_loss'] + 0.5 * d['kind_loss'], rel=1e-5)
    assert m.evaluate([XA, XB], [Y, y_kind], verbose=0) == pytest.approx([d[k] for k in ['loss', 'price_loss', 'kind_loss', 'kind_accuracy', 'price_mae']])
    price, kind = m.predict([XA, XB], verbose=0)
    assert price.shape == (64, 1) and kind.shape == (64, 3)
    # an output without a loss is predicted but not trained
    m.compile('adam', loss={'price': 'mse'})
    h = m.fit([XA, XB], [Y, y_kind], epochs=1, verbose=0)
    assert sorted(h.history) == ['loss', 'price_loss']


def test_compile_and_fit_errors_name_the_outputs_and_inputs():
    m = two_tower()
    with pytest.raises(ValueError, match="no output of that name. Did you mean 'price'"): m.compile('adam', loss={'prize': 'mse'})
    with pytest.raises(ValueError, match='list of 3 but .* has 2 outputs'): m.compile('adam', loss=['mse'] * 3)
    with pytest.raises(ValueError, match='metrics must be given per output'): m.compile('adam', 'mse', metrics=['mae'])
    m.compile('adam', 'mse')
    with pytest.raises(ValueError, match=r"has 2 inputs \(a, b\), but x is one array"): m.fit(XA, [Y, Y], verbose=0)
    with pytest.raises(ValueError, match="x has the key 'c'"): m.fit({'a': XA, 'c': XB}, [Y, Y], verbose=0)
    with pytest.raises(ValueError, match=r"input 'b' with samples of shape \(5,\), got \(4,\)"): m.fit([XA, XB[:, :4]], [Y, Y], verbose=0)
    with pytest.raises(ValueError, match='same number of samples'): m.fit([XA, XB[:10]], [Y, Y], verbose=0)
    with pytest.raises(ValueError, match='class_weight works for a model with one output'):
        m.fit([XA, XB], [Y, Y], class_weight={0: 1.0}, verbose=0)


def test_connection_time_errors():
    a, b = Input((4,), name='a'), Input((3,), name='b')
    with pytest.raises(ValueError, match=r"cannot merge inputs of shapes \[\(None, 4\), \(None, 3\)\]"): add([a, b])
    assert (a + a).node.layer.name.startswith('add')   # drawn as an Add layer, as Keras 3 draws the op
    with pytest.raises(TypeError, match=r"Cannot compute '@' on the symbolic tensor 'a'"): a @ a
    with pytest.raises(ValueError, match="expects inputs with 4 features, got 3"):
        d = Dense(2); d(a); d(b)
    with pytest.raises(ValueError, match="the Input 'b' .* not in inputs=\\[a\\]"): Model(a, add([Dense(3)(a), b]))


def test_shape_errors_draw_the_graph_up_to_the_failing_connection():
    a, b = Input((4,), name='a'), Input((3,), name='b')
    h = Dense(8, name='h')(a)
    g = Dense(5, name='g')(concatenate([h, b]))
    with pytest.raises(ShapeError) as e: add([g, h])
    msg = str(e.value)
    assert 'cannot merge inputs of shapes [(None, 5), (None, 8)]' in msg and 'The graph up to the failing connection' in msg
    assert 'g (Dense)' in msg and 'concatenate[0][0]' in msg and 'cannot take [(None, 5), (None, 8)]' in msg


def test_merge_function_forms_and_shapes():
    a, b = Input((4,)), Input((4,))
    assert average([a, b]).shape == (None, 4) and maximum([a, b]).shape == (None, 4)
    assert Concatenate(axis=1)([Input((2, 3)), Input((4, 3))]).shape == (None, 6, 3)
    assert Subtract()([a, b]).node.layer.name == 'subtract'


# -- gradients, checked numerically -------------------------------------------------------------------------------------------
def _check_model_gradients(model, xs, h=1e-6):
    """Analytic d(sum(out * r))/d(weights and inputs) through the model's own backward, against central differences."""
    outs = model.forward_pass(xs, training=True)
    r = [np.random.default_rng(1).normal(size=o.shape) for o in outs]
    model.forward_pass(xs, training=True)
    gin = model.backward(r if len(r) > 1 else r[0], need_input_grad=True)
    gin = gin if isinstance(gin, list) else [gin]
    analytic = [w.grad.copy() for w in model.trainable_weights] + list(gin)
    def loss(): return float(sum((o * rr).sum() for o, rr in zip(model.forward_pass(xs, training=True), r)))
    numerical = [numerical_gradient(loss, w.value, h) for w in model.trainable_weights] + [numerical_gradient(loss, x, h) for x in xs]
    for a, n in zip(analytic, numerical):
        err = np.max(np.abs(a - n) / np.maximum(1e-8, np.abs(a) + np.abs(n)))
        assert err < 1e-5, err
    return len(analytic)


F64 = dict(dtype='float64')


def test_shared_layer_and_residual_gradients():
    a, b = Input((4,), **F64), Input((3,), **F64)
    s = Dense(4, activation='tanh', **F64)
    h1, h2 = s(a), s(Dense(4, **F64)(b))
    out = Dense(2, **F64)(concatenate([add([a, h1]), Multiply()([h1, h2])]))
    m = Model([a, b], [out, Subtract()([h1, h2])])
    xs = [rng.normal(size=(5, 4)), rng.normal(size=(5, 3))]
    assert _check_model_gradients(m, xs) == 8


def test_nested_and_shared_model_gradients():
    tower = Sequential([Input((3,), **F64), Dense(4, activation='relu', **F64), Dense(3, activation='tanh', **F64)], name='tower')
    a, b = Input((3,), **F64), Input((3,), **F64)
    siamese = Model([a, b], Dense(1, activation='sigmoid', **F64)(concatenate([tower(a), tower(b)])))  # one tower, two calls
    xs = [rng.normal(size=(6, 3)), rng.normal(size=(6, 3))]
    _check_model_gradients(siamese, xs)
    inner = Model(a, Dense(2, activation='tanh', **F64)(a))
    c = Input((3,), **F64)
    outer = Model(c, Dense(1, **F64)(add([inner(c), inner(Dense(3, **F64)(c))])))  # a functional model called twice
    _check_model_gradients(outer, [rng.normal(size=(4, 3))])
    seq = Sequential([Sequential([Dense(3, activation='elu', input_shape=(3,), **F64)]), Dense(2, **F64)])
    seq.build((None, 3))
    _check_model_gradients(seq, [rng.normal(size=(4, 3))])


# -- subclassed models ---------------------------------------------------------------------------------------------------------
@register_layer
class TwoTower(Model):
    def __init__(self, units=8, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.a, self.b = Dense(units, activation='relu'), Dense(units, activation='relu')
        self.join = Concatenate()
        self.out = Dense(1)
    def call(self, inputs, training=None):
        x1, x2 = inputs
        return self.out(self.join([self.a(x1), self.b(x2)]))
    def get_config(self): return {**super().get_config(), 'units': self.units}


def test_subclassed_model_builds_trains_and_checks_gradients():
    m = TwoTower()
    m.compile('adam', 'mse')
    h = m.fit([XA, XB], Y, epochs=60, batch_size=16, verbose=0)
    assert m.built and h.history['loss'][-1] < 0.5 * h.history['loss'][0]
    assert [l.name for l in m.layers] == ['dense', 'dense_1', 'concatenate', 'dense_2']
    out = []; m.summary(print_fn=out.append); assert 'dense_2 (Dense)' in out[0]
    assert m.predict([XA, XB], verbose=0).shape == (64, 1)

    class Sub64(Model):
        def __init__(self):
            super().__init__()
            self.d, self.s = Dense(3, activation='tanh', **F64), Dense(3, **F64)
        def call(self, inputs, training=None):
            h = self.d(inputs)
            return add([self.s(h), self.s(inputs)], dtype='float64')  # a layer used twice in call: gradients summed
    m = Sub64(); m.build((None, 3))
    _check_model_gradients(m, [rng.normal(size=(4, 3))])

    class Cast(Model):  # float64 data into a float32 layer: the cast is on the tape's way back too
        def __init__(self):
            super().__init__(); self.d = Dense(2, dtype='float64')
        def call(self, inputs, training=None): return add([self.d(inputs), self.d(inputs)])
    m = Cast(); m.compile('sgd', 'mse'); m.fit(XA.astype('float64'), np.zeros((64, 2)), epochs=1, verbose=0)


def test_subclassed_model_refuses_numpy_arithmetic_with_a_teaching_error():
    class Bad(Model):
        def __init__(self):
            super().__init__()
            self.d1, self.d2 = Dense(4), Dense(1, name='head')
        def call(self, inputs, training=None):
            return self.d2(np.maximum(self.d1(inputs), 0))   # x * 2 is traced; np.maximum is not
    m = Bad(); m.compile('sgd', 'mse')
    with pytest.raises(ValueError, match=r"Layer 'head' .*numpy operation seqlearn does not trace.*use a layer \(Reshape, Concatenate, Maximum"):
        m.fit(XA, Y, epochs=1, verbose=0)
    assert m.predict(XA, verbose=0).shape == (64, 1)  # inference needs no gradient, so it runs

    class BadOut(Model):
        def __init__(self):
            super().__init__(); self.d = Dense(1)
        def call(self, inputs, training=None): return np.concatenate([self.d(inputs), self.d(inputs)], axis=1)
    m = BadOut(); m.compile('sgd', 'mse')
    with pytest.raises(ValueError, match="call returned an array that no layer produced"): m.fit(XA, np.hstack([Y, Y]), epochs=1, verbose=0)


# -- saving -------------------------------------------------------------------------------------------------------------------
def _compiled_two_tower():
    m = two_tower()
    m.compile('adam', loss={'price': 'mse', 'kind': 'sparse_categorical_crossentropy'}, loss_weights=[1.0, 0.3],
              metrics={'kind': ['accuracy']})
    return m


def test_functional_save_load_continue_exactly(tmp_path):
    yk = rng.integers(0, 3, 64)
    straight = _compiled_two_tower(); straight.fit([XA, XB], [Y, yk], epochs=4, batch_size=16, shuffle=False, verbose=0)
    clear_session(); set_seed(0)
    m = _compiled_two_tower(); m.fit([XA, XB], [Y, yk], epochs=2, batch_size=16, shuffle=False, verbose=0)
    m.save(tmp_path / 'm.seqlearn')
    m2 = load_model(tmp_path / 'm.seqlearn')
    assert m2.get_layer('shared').count_params() == 42
    assert m2.layers[[l.name for l in m2.layers].index('shared')] is m2.get_layer('shared')
    assert sum(1 for n in m2._graph.nodes if n.layer.name == 'shared') == 2  # still shared after loading
    for p, q in zip(m.predict([XA, XB], verbose=0), m2.predict([XA, XB], verbose=0)): np.testing.assert_array_equal(p, q)
    m2.fit([XA, XB], [Y, yk], epochs=4, initial_epoch=2, batch_size=16, shuffle=False, verbose=0)
    for w1, w2 in zip(straight.get_weights(), m2.get_weights()): np.testing.assert_array_equal(w1, w2)
    j = model_from_json(m.to_json())
    assert [l.name for l in j.layers] == [l.name for l in m.layers] and j.count_params() == m.count_params()
    m.save_weights(tmp_path / 'w.seqlearn'); j.load_weights(tmp_path / 'w.seqlearn')
    for w1, w2 in zip(m.get_weights(), j.get_weights()): np.testing.assert_array_equal(w1, w2)


def test_nested_and_subclassed_save_load(tmp_path):
    tower = Sequential([Input((10,)), Dense(4, activation='relu')], name='tower')
    a = Input((10,))
    m = Model(a, Dense(1)(tower(a))); m.compile('adam', 'mse'); m.fit(XA, Y, epochs=1, verbose=0)
    m.save(tmp_path / 'n.seqlearn'); m2 = load_model(tmp_path / 'n.seqlearn')
    np.testing.assert_array_equal(m.predict(XA, verbose=0), m2.predict(XA, verbose=0))
    assert [p for p, _ in m2._named_weights()][:2] == ['tower/dense/kernel', 'tower/dense/bias']
    s = TwoTower(units=5); s.compile('adam', 'mse'); s.fit([XA, XB], Y, epochs=1, verbose=0)
    s.save(tmp_path / 's.seqlearn'); s2 = load_model(tmp_path / 's.seqlearn')
    assert isinstance(s2, TwoTower) and s2.units == 5
    np.testing.assert_array_equal(s.predict([XA, XB], verbose=0), s2.predict([XA, XB], verbose=0))
    s2.fit([XA, XB], Y, epochs=1, verbose=0)


def test_backup_and_checkpoint_with_a_functional_model(tmp_path):
    yk = rng.integers(0, 3, 64)
    straight = _compiled_two_tower(); straight.fit([XA, XB], [Y, yk], epochs=4, batch_size=16, verbose=0)
    def stop(batch, logs):
        if stop.epoch == 2 and batch == 1: raise KeyboardInterrupt
    stop.epoch = 0
    clear_session(); set_seed(0)
    m = _compiled_two_tower()
    cbs = [BackupAndRestore(tmp_path / 'bk'), LambdaCallback(on_epoch_begin=lambda e, l: setattr(stop, 'epoch', e), on_train_batch_end=stop),
           ModelCheckpoint(str(tmp_path / 'ck-{epoch}.seqlearn'))]
    with pytest.raises(KeyboardInterrupt): m.fit([XA, XB], [Y, yk], epochs=4, batch_size=16, verbose=0, callbacks=cbs)
    h = m.fit([XA, XB], [Y, yk], epochs=4, batch_size=16, verbose=0, callbacks=[BackupAndRestore(tmp_path / 'bk')])
    assert h.epoch == [2, 3]
    for w1, w2 in zip(straight.get_weights(), m.get_weights()): np.testing.assert_array_equal(w1, w2)
    assert load_model(tmp_path / 'ck-2.seqlearn').count_params() == m.count_params()


# -- summary ------------------------------------------------------------------------------------------------------------------
def test_functional_summary_has_connected_to():
    out = []; two_tower().summary(print_fn=out.append)
    text = out[0]
    assert 'Connected to' in text and 'shared (Dense)' in text and 'pb[0][0]' in text and 'shared[1][0]' in text
    assert 'Total params:' in text


def test_keras_guide_multi_input_multi_output_example():
    """The Keras functional API guide's ticket-ranking model (title, body, tags -> priority, department), imports
    swapped; the text branches use Dense on bag-of-words counts where the guide uses Embedding + LSTM."""
    from seqlearn import layers, optimizers, losses
    from seqlearn.models import Model as KModel
    num_tags, num_words, num_departments = 12, 100, 4
    title_input = Input(shape=(num_words,), name="title")
    body_input = Input(shape=(num_words,), name="body")
    tags_input = Input(shape=(num_tags,), name="tags")
    title_features = layers.Dense(16, activation='relu')(title_input)
    body_features = layers.Dense(8, activation='relu')(body_input)
    x = layers.concatenate([title_features, body_features, tags_input])
    priority_pred = layers.Dense(1, name="priority")(x)
    department_pred = layers.Dense(num_departments, name="department")(x)
    model = KModel(inputs=[title_input, body_input, tags_input], outputs={"priority": priority_pred, "department": department_pred})
    model.compile(optimizer=optimizers.RMSprop(1e-3),
                  loss={"priority": losses.BinaryCrossentropy(from_logits=True),
                        "department": losses.CategoricalCrossentropy(from_logits=True)},
                  loss_weights={"priority": 1.0, "department": 0.2})
    r = np.random.default_rng(0)
    title_data = r.integers(0, 3, size=(128, num_words)).astype('float32')
    body_data = r.integers(0, 3, size=(128, num_words)).astype('float32')
    tags_data = r.integers(0, 2, size=(128, num_tags)).astype("float32")
    priority_targets = r.random(size=(128, 1))
    dept_targets = np.eye(num_departments)[r.integers(0, num_departments, size=128)]
    h = model.fit({"title": title_data, "body": body_data, "tags": tags_data},
                  {"priority": priority_targets, "department": dept_targets}, epochs=2, batch_size=32, verbose=0)
    assert sorted(h.history) == ['department_loss', 'loss', 'priority_loss']
    out = []; model.summary(print_fn=out.append); assert 'department (Dense)' in out[0]
    pred = model.predict({"title": title_data, "body": body_data, "tags": tags_data}, verbose=0)
    assert set(pred) == {'priority', 'department'} and pred['department'].shape == (128, 4)
    import tempfile, pathlib
    path = pathlib.Path(tempfile.mkdtemp()) / 'tickets.seqlearn'
    model.save(path); again = load_model(path)
    p2 = again.predict([title_data, body_data, tags_data], verbose=0)
    for k in pred: np.testing.assert_array_equal(pred[k], p2[k])
    again.fit([title_data, body_data, tags_data], {"priority": priority_targets, "department": dept_targets}, epochs=1, verbose=0)
