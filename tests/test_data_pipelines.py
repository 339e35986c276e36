"""Data beyond arrays: fit, evaluate and predict on generators, iterators, PyDatasets, torch DataLoaders and pandas
tables give the same numbers as on the equivalent arrays; Keras's epoch rules (steps_per_epoch, validation_steps, a
generator read once); timeseries windows equal to Keras's; and every misuse answered by a message that says what to do.

The Keras numbers for the windows come from tests/fixtures/make_keras_timeseries.py (keras_timeseries.npz)."""
import itertools, math, os, warnings
import numpy as np
import pytest
from seqlearn import Sequential, Model, Dense, Input, Concatenate, set_seed
from seqlearn.callbacks import Callback, ProgbarLogger
from seqlearn.utils import PyDataset, timeseries_dataset_from_array

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(7)
X = rng.normal(size=(100, 4)).astype('float32')
Y = (X @ np.array([1., -2., .5, 3.], 'float32') + 1)[:, None]
W = rng.uniform(0.5, 2, size=100).astype('float32')
LABELS = (X[:, 0] > 0).astype('float32')[:, None]


def model(out_act=None, loss='mse'):
    set_seed(3)
    m = Sequential([Input((4,)), Dense(8, activation='relu'), Dense(1, activation=out_act)])
    m.compile('adam', loss, metrics=['mae'])
    return m


def batches(bs=20, w=False, x=X, y=Y):
    "The arrays' batches in order: what fit(x, y, batch_size=bs, shuffle=False) reads."
    for i in range(0, len(x), bs):
        yield (x[i:i + bs], y[i:i + bs], W[i:i + bs]) if w else (x[i:i + bs], y[i:i + bs])


def same_weights(a, b):
    return all(np.array_equal(u, v) for u, v in zip(a.get_weights(), b.get_weights()))


class Batches(PyDataset):
    "The arrays' batches by index, logging what fit asks of it."
    def __init__(self, bs=20, n=100, **kwargs):
        super().__init__(**kwargs)
        self.bs, self.n, self.log = bs, n, []
    def __len__(self): return math.ceil(self.n / self.bs)
    def __getitem__(self, i):
        self.log.append(i)
        return X[i * self.bs:(i + 1) * self.bs], Y[i * self.bs:(i + 1) * self.bs]
    def on_epoch_begin(self): self.log.append('begin')
    def on_epoch_end(self): self.log.append('end')


# -- generators: the same numbers as arrays ------------------------------------------------------------

def test_a_generator_trains_evaluates_and_predicts_as_the_arrays_do():
    a, g = model(), model()
    ha = a.fit(X, Y, batch_size=20, shuffle=False, verbose=0)
    hg = g.fit(batches(), verbose=0)
    assert same_weights(a, g)
    assert hg.history == ha.history
    assert g.evaluate(batches(), verbose=0) == a.evaluate(X, Y, batch_size=20, verbose=0)
    assert np.array_equal(g.predict((x for x, y in batches()), verbose=0), a.predict(X, verbose=0))
    assert np.array_equal(g.predict(batches(), verbose=0), a.predict(X, verbose=0))   # (x, y) batches: y is ignored


def test_any_iterator_or_iterable_of_batches_works_like_a_generator():
    class Reusable:   # an iterable (not an iterator): fit reads it again every epoch
        def __iter__(self): return batches()
    a, i, r = model(), model(), model()
    a.fit(X, Y, batch_size=20, epochs=2, shuffle=False, verbose=0)
    i.fit(iter(list(batches())), verbose=0); i.fit(iter(list(batches())), verbose=0)
    r.fit(Reusable(), epochs=2, verbose=0)
    assert same_weights(a, i) and same_weights(a, r)


def test_sample_weights_in_the_batches_and_class_weight_act_as_with_arrays():
    a, g = model(), model()
    a.fit(X, Y, sample_weight=W, batch_size=25, shuffle=False, verbose=0)
    g.fit(batches(25, w=True), verbose=0)
    assert same_weights(a, g)
    a, g = model('sigmoid', 'binary_crossentropy'), model('sigmoid', 'binary_crossentropy')
    a.fit(X, LABELS, class_weight={0: 1.0, 1: 3.0}, batch_size=20, shuffle=False, verbose=0)
    g.fit(batches(y=LABELS), class_weight={0: 1.0, 1: 3.0}, verbose=0)
    assert same_weights(a, g)


def test_batches_of_lists_and_dicts_feed_a_model_with_several_inputs_and_outputs():
    def two():
        set_seed(5)
        a, b = Input((2,), name='a'), Input((2,), name='b')
        h = Dense(6, activation='relu')(Concatenate()([a, b]))
        m = Model([a, b], {'p': Dense(1, name='p')(h), 'q': Dense(1, name='q')(h)})
        m.compile('adam', {'p': 'mse', 'q': 'mae'})
        return m
    xa, xb, yp, yq = X[:, :2], X[:, 2:], Y, -Y
    arrays, gen = two(), two()
    arrays.fit({'a': xa, 'b': xb}, {'p': yp, 'q': yq}, batch_size=20, shuffle=False, verbose=0)
    gen.fit((({'a': xa[i:i + 20], 'b': xb[i:i + 20]}, {'p': yp[i:i + 20], 'q': yq[i:i + 20]}) for i in range(0, 100, 20)), verbose=0)
    assert same_weights(arrays, gen)
    with pytest.raises(ValueError, match=r"predict reads as \(x, y\) as Keras does: yield the inputs of one batch as \(\(x1, x2\),\)"):
        gen.predict(((xa[i:i + 30], xb[i:i + 30]) for i in range(0, 100, 30)), verbose=0)
    lists = gen.predict((((xa[i:i + 30], xb[i:i + 30]),) for i in range(0, 100, 30)), verbose=0)   # ((x1, x2),): a tuple is (x, ...)
    assert np.array_equal(lists['p'], arrays.predict([xa, xb], batch_size=30, verbose=0)['p'])
    dicts = gen.predict(({'a': xa[i:i + 30], 'b': xb[i:i + 30]} for i in range(0, 100, 30)), verbose=0)   # a dict alone is x
    assert np.array_equal(dicts['q'], lists['q'])


# -- epochs: Keras's rules ----------------------------------------------------------------------------

def test_steps_per_epoch_reads_a_generator_that_loops_epoch_after_epoch():
    def forever():
        while True: yield from batches()
    a, g = model(), model()
    ha = a.fit(X, Y, batch_size=20, epochs=3, shuffle=False, verbose=0)
    hg = g.fit(forever(), steps_per_epoch=5, epochs=3, verbose=0)
    assert same_weights(a, g) and hg.history == ha.history
    assert hg.params['steps'] == 5


def test_a_generator_without_steps_is_read_once_and_training_stops_with_a_warning():
    g = model()
    with pytest.warns(RuntimeWarning, match=r"used up \(it yielded 5 in the last epoch\).*stopped after 1 of 3 epochs.*steps_per_epoch=5"):
        h = g.fit(batches(), epochs=3, verbose=0)
    assert h.epoch == [0] and h.params['steps'] is None


def test_steps_continue_where_the_last_epoch_stopped_and_running_out_warns_once():
    g = model()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        h = g.fit(batches(), steps_per_epoch=2, epochs=4, verbose=0)   # 5 batches: 2, 2, then 1 and the generator is used up
    msgs = [str(w.message) for w in caught]
    assert h.epoch == [0, 1, 2]
    assert len(msgs) == 1 and "ran out of data in epoch 3, after 1 of steps_per_epoch=2" in msgs[0]
    assert "steps_per_epoch * epochs = 8" in msgs[0]


def test_a_pydataset_reads_its_batches_as_keras_does():
    # checked against Keras 3.15 (torch backend): the same batches, the hooks around every epoch
    d, a, p = Batches(), model(), model()
    a.fit(X, Y, batch_size=20, epochs=2, shuffle=False, verbose=0)
    p.fit(d, epochs=2, shuffle=False, verbose=0)
    assert same_weights(a, p)
    assert d.log == ['begin', 0, 1, 2, 3, 4, 'end'] * 2
    d = Batches()
    with pytest.warns(RuntimeWarning, match="the next epoch starts a new pass"):
        model().fit(d, steps_per_epoch=4, epochs=3, shuffle=False, verbose=0)
    assert d.log == ['begin', 0, 1, 2, 3, 'end', 'begin', 4, 'end', 'begin', 0, 1, 2, 3, 'end']


def test_shuffle_shuffles_a_pydatasets_batch_order_every_epoch_reproducibly():
    def orders():
        d = Batches(); m = model()   # model() seeds seqlearn's generator
        m.fit(d, epochs=3, verbose=0)   # shuffle=True, fit's default, as in Keras
        epochs = [[]]
        for e in d.log:
            if e == 'end': epochs.append([])
            elif e != 'begin': epochs[-1].append(e)
        return epochs[:-1]
    first = orders()
    assert [sorted(o) for o in first] == [[0, 1, 2, 3, 4]] * 3 and len({tuple(o) for o in first}) > 1
    assert orders() == first


def test_evaluate_and_predict_take_steps():
    a = model()
    assert a.evaluate(batches(), steps=2, verbose=0) == a.evaluate(X[:40], Y[:40], batch_size=20, verbose=0)
    assert a.evaluate(X, Y, batch_size=20, steps=2, verbose=0) == a.evaluate(X[:40], Y[:40], batch_size=20, verbose=0)
    assert a.predict(batches(), steps=3, verbose=0).shape == (60, 1)
    assert a.predict(X, batch_size=30, steps=2, verbose=0).shape == (60, 1)


def test_arrays_with_steps_per_epoch_make_batches_of_the_size_keras_picks():
    a, s = model(), model()
    a.fit(X, Y, batch_size=25, shuffle=False, verbose=0)
    h = s.fit(X, Y, steps_per_epoch=4, shuffle=False, verbose=0)   # Keras: batch_size = ceil(100 / 4)
    assert same_weights(a, s) and h.params['steps'] == 4 and h.params['batch_size'] == 25


# -- validation ---------------------------------------------------------------------------------------

def test_a_validation_generator_validates_on_the_same_batches_every_epoch():
    a, g = model(), model()
    ha = a.fit(X, Y, batch_size=20, epochs=3, shuffle=False, validation_data=(X[:60], Y[:60]), verbose=0)
    hg = g.fit(X, Y, batch_size=20, epochs=3, shuffle=False, validation_data=batches(x=X[:60], y=Y[:60]), verbose=0)
    assert hg.history == ha.history
    hs = model().fit(X, Y, batch_size=20, epochs=3, shuffle=False, validation_data=batches(), validation_steps=3, verbose=0)
    assert hs.history['val_loss'] == ha.history['val_loss']   # the first 3 of 5 batches: X[:60] again


def test_a_pydataset_validates_from_its_start_each_time_and_a_generator_trains_with_array_validation():
    d = Batches()
    h = model().fit(X, Y, batch_size=20, epochs=2, shuffle=False, validation_data=d, validation_steps=2, verbose=0)
    assert d.log == ['begin', 0, 1, 'end'] * 2 and len(h.history['val_loss']) == 2
    a, g = model(), model()
    ha = a.fit(X, Y, batch_size=20, shuffle=False, validation_data=(X, Y), verbose=0)
    hg = g.fit(batches(), validation_data=(X, Y), verbose=0)
    assert hg.history == ha.history


# -- progress and callbacks with an unknown number of steps -------------------------------------------

def test_callbacks_see_every_batch_and_the_text_progress_learns_the_steps_after_the_first_epoch(capsys):
    seen = []
    class Count(Callback):
        def on_train_batch_end(self, batch, logs=None): seen.append(batch)
    def forever():
        while True: yield from batches()
    model().fit(batches(), callbacks=[Count()], verbose=2)
    assert seen == [0, 1, 2, 3, 4]
    assert "Epoch 1/1 - 5/5 - " in capsys.readouterr().out
    p = ProgbarLogger(verbose=2)
    p.set_params({'epochs': 2, 'steps': None, 'verbose': 2})
    p.on_train_begin()
    for e in range(2):
        p.on_epoch_begin(e)
        for b in range(5): p.on_train_batch_end(b, {'loss': 1.0})
        p.on_epoch_end(e, {'loss': 1.0})
    assert p.target == 5 and capsys.readouterr().out.count(' - 5/5 - ') == 2


# -- teaching errors ------------------------------------------------------------------------------------

@pytest.mark.parametrize('kwargs, message', [
    (dict(y=Y), "the targets come from it: yield \\(x, y\\) batches and leave y out"),
    (dict(sample_weight=W), "sample weights come from it"),
    (dict(batch_size=20), "decides the batch size"),
    (dict(validation_split=0.2), "validation_split holds out the last samples of arrays"),
])
def test_arguments_the_generator_decides_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message): model().fit(batches(), verbose=0, **kwargs)


def test_a_batch_of_the_wrong_structure_says_what_was_yielded_and_what_fit_expects():
    m = model()
    with pytest.raises(ValueError, match=r"fit \(batch 1 of the generator\): the generator yielded an array of shape \(20, 4\), "
                                         r"but fit expects each batch as a tuple \(x, y\)"):
        m.fit((x for x, y in batches()), verbose=0)
    with pytest.raises(ValueError, match=r"yielded a tuple of 4 \(an array of shape \(20, 4\), .*each batch must be \(x, y\) or"):
        m.fit(((x, y, y, y) for x, y in batches()), verbose=0)
    with pytest.raises(ValueError, match=r"evaluate \(batch 1 of the generator\): .* but evaluate expects"):
        m.evaluate((x for x, y in batches()), verbose=0)


def test_a_bad_later_batch_is_named_by_its_number():
    def bad():
        yield X[:20], Y[:20]
        yield X[20:40, :3], Y[20:40]
    with pytest.raises(ValueError, match=r"fit \(batch 2 of the generator\): Dense '.*' expects inputs with 4 features, got 3"):
        model().fit(bad(), verbose=0)


def test_an_empty_or_endless_source_is_refused_before_training():
    m = model()
    with pytest.raises(ValueError, match="the generator yielded no batches. A generator can be read only once"):
        m.fit((b for b in []), verbose=0)
    with pytest.raises(ValueError, match="without end, so fit would never finish an epoch. Give steps_per_epoch="):
        m.fit(itertools.cycle(list(batches())), verbose=0)
    with pytest.raises(ValueError, match="Give steps="): m.predict(itertools.repeat(X[:10]), verbose=0)

    class Endless(PyDataset):
        num_batches = None
        def __getitem__(self, i): return X[:20], Y[:20]
    with pytest.raises(ValueError, match="PyDataset without end"): m.fit(Endless(), verbose=0)
    h = m.fit(Endless(), steps_per_epoch=3, epochs=2, verbose=0)
    assert h.epoch == [0, 1]


def test_a_generator_where_only_arrays_fit_is_refused_with_where_it_fits():
    m = model()
    with pytest.raises(TypeError, match="Only the x of fit, evaluate and predict may be one"): m.fit(X, (y for x, y in batches()))
    with pytest.raises(TypeError, match="Only the x of fit"): m.train_on_batch(batches(), None)


# -- PyDataset ----------------------------------------------------------------------------------------

def test_pydataset_accepts_keras_worker_arguments_and_explains_a_missing_len():
    d = Batches(workers=4, use_multiprocessing=True, max_queue_size=3)
    assert (d.workers, d.use_multiprocessing, d.max_queue_size) == (4, True, 3)
    a, p = model(), model()
    a.fit(X, Y, batch_size=20, shuffle=False, verbose=0)
    p.fit(d, shuffle=False, verbose=0)
    assert same_weights(a, p)

    class NoLen(PyDataset):
        def __getitem__(self, i): return X, Y
    with pytest.raises(NotImplementedError, match="must define __len__"): model().fit(NoLen(), verbose=0)

    class Forgot(PyDataset):   # no super().__init__(): still works, with Keras's defaults
        def __init__(self): pass
        def __len__(self): return 1
        def __getitem__(self, i): return X, Y
    assert Forgot().workers == 1 and model().fit(Forgot(), verbose=0).epoch == [0]


# -- PyTorch DataLoader ---------------------------------------------------------------------------------

def test_a_torch_dataloader_trains_as_the_arrays_do():
    torch = pytest.importorskip('torch')
    from torch.utils.data import DataLoader, TensorDataset
    ds = TensorDataset(torch.from_numpy(X), torch.from_numpy(Y))
    loader = DataLoader(ds, batch_size=20, shuffle=False)
    a, t = model(), model()
    ha = a.fit(X, Y, batch_size=20, epochs=2, shuffle=False, verbose=0)
    ht = t.fit(loader, epochs=2, verbose=0)
    assert same_weights(a, t) and ht.history == ha.history and ht.params['steps'] == 5
    assert t.evaluate(loader, verbose=0) == a.evaluate(X, Y, batch_size=20, verbose=0)
    assert np.array_equal(t.predict(DataLoader(TensorDataset(torch.from_numpy(X)), batch_size=32), verbose=0), a.predict(X, verbose=0))
    with pytest.raises(TypeError, match="one sample per index, not batches. Wrap it in a DataLoader"): t.fit(ds, verbose=0)


def test_torch_tensors_are_data_too():
    torch = pytest.importorskip('torch')
    a = model()
    x = torch.from_numpy(X).requires_grad_()
    assert np.array_equal(a.predict(x, verbose=0), a.predict(X, verbose=0))


# -- pandas -------------------------------------------------------------------------------------------

def test_pandas_tables_are_arrays_with_named_columns():
    pd = pytest.importorskip('pandas')
    df = pd.DataFrame(X, columns=['a', 'b', 'c', 'd'])
    a, p = model(), model()
    a.fit(X, Y, batch_size=20, shuffle=False, verbose=0)
    p.fit(df, pd.Series(Y[:, 0]), batch_size=20, shuffle=False, verbose=0)
    assert same_weights(a, p)
    assert np.array_equal(p.predict(df, verbose=0), a.predict(X, verbose=0))
    text = df.assign(city=['x'] * 100)
    with pytest.raises(TypeError, match=r"column 'city' is not numeric.*pd.get_dummies"): p.predict(text, verbose=0)
    mixed = pd.DataFrame({'a': X[:, 0], 'flag': X[:, 1] > 0})   # floats and bools: one float array
    one = Sequential([Input((2,)), Dense(1)])
    assert one.predict(mixed, verbose=0).shape == (100, 1)
    missing = pd.DataFrame({'a': pd.array([1, None] * 50, dtype='Int64'), 'b': X[:, 0]})
    with pytest.raises(ValueError, match="NaN values"): one.predict(missing, verbose=0)


def test_a_series_is_one_column_and_a_dict_of_series_feeds_named_inputs():
    pd = pytest.importorskip('pandas')
    set_seed(1)
    one = Sequential([Dense(1)])   # not built: a Series builds it with one feature
    assert one.predict(pd.Series(X[:, 0]), verbose=0).shape == (100, 1) and one.input_shape == (None, 1)
    set_seed(2)
    a, b = Input((1,), name='a'), Input((1,), name='b')
    m = Model([a, b], Dense(1)(Concatenate()([a, b])))
    df = pd.DataFrame({'a': X[:, 0], 'b': X[:, 1]})
    assert np.array_equal(m.predict({'a': df['a'], 'b': df['b']}, verbose=0), m.predict([X[:, :1], X[:, 1:2]], verbose=0))


# -- 1-D inputs ---------------------------------------------------------------------------------------

def test_a_1d_x_is_one_feature_column_for_a_one_feature_input_as_in_keras():
    x = np.linspace(-1, 1, 20).astype('float32')
    for m in (Sequential([Input((1,)), Dense(1)]), Model(i := Input((1,)), Dense(1)(i))):
        m.compile('sgd', 'mse')
        assert np.array_equal(m.predict(x, verbose=0), m.predict(x[:, None], verbose=0))
        assert m.fit(x, 2 * x, verbose=0).epoch == [0]
    with pytest.raises(ValueError, match=r"a single feature column: x.reshape\(-1, 1\)"): Sequential([Dense(1)]).predict(x)
    with pytest.raises(ValueError, match=r"a single feature column"): Sequential([Input((3,)), Dense(1)]).predict(x)


# -- timeseries windows -------------------------------------------------------------------------------

# the cases of tests/fixtures/make_keras_timeseries.py, which cut the same data with Keras 3
CASES = [
    (99, (), False, dict(sequence_length=10, sampling_rate=2, sequence_stride=3, batch_size=128)),
    (50, (2,), True, dict(sequence_length=5, batch_size=8)),
    (50, (2,), True, dict(sequence_length=4, sequence_stride=3, sampling_rate=2, batch_size=5)),
    (60, (3,), True, dict(sequence_length=6, sequence_stride=2, start_index=7, end_index=41, batch_size=4)),
    (40, (), True, dict(sequence_length=7, sampling_rate=3, start_index=5, batch_size=3)),
    (30, (2,), False, dict(sequence_length=5, sequence_stride=4, end_index=29, batch_size=2)),
]


def case_data(n, feat, has_targets):
    data = np.arange(n * int(np.prod(feat, dtype=int)), dtype=np.float32).reshape((n,) + feat)
    return data, (np.arange(n, dtype=np.int64) + 1000 if has_targets else None)


@pytest.fixture(scope='module')
def keras_windows():
    d = np.load(os.path.join(HERE, 'fixtures', 'keras_timeseries.npz'), allow_pickle=False)
    assert sum(k.startswith('nb') for k in d.files) == len(CASES)
    return d


@pytest.mark.parametrize('i', range(len(CASES)))
def test_timeseries_windows_and_targets_equal_keras(keras_windows, i):
    n, feat, has_t, kw = CASES[i]
    data, targets = case_data(n, feat, has_t)
    ds = timeseries_dataset_from_array(data, targets, **kw)
    got = list(ds)
    assert len(ds) == len(got) == int(keras_windows[f"nb{i}"])
    assert all(len(b[0] if has_t else b) <= kw['batch_size'] for b in got)
    if has_t:
        np.testing.assert_array_equal(np.concatenate([b[0] for b in got]), keras_windows[f"x{i}"])
        np.testing.assert_array_equal(np.concatenate([b[1] for b in got]), keras_windows[f"y{i}"])
    else:
        np.testing.assert_array_equal(np.concatenate(got), keras_windows[f"x{i}"])


def test_shuffled_windows_are_keras_windows_in_a_seeded_order(keras_windows):
    n, feat, has_t, kw = CASES[2]
    data, targets = case_data(n, feat, has_t)
    a, b = (timeseries_dataset_from_array(data, targets, shuffle=True, seed=11, **kw) for _ in range(2))
    xa, ya = (np.concatenate(v) for v in zip(*a))
    xb, _ = (np.concatenate(v) for v in zip(*b))
    assert np.array_equal(xa, xb) and not np.array_equal(xa, keras_windows['x2'])
    order = np.argsort(ya)   # every Keras window and target, once, each window with its own target
    np.testing.assert_array_equal(xa[order], keras_windows['x2'])
    np.testing.assert_array_equal(ya[order], keras_windows['y2'])


def test_without_batches_a_timeseries_dataset_yields_single_windows():
    ds = timeseries_dataset_from_array(np.arange(10), np.arange(10) * 10, sequence_length=3, batch_size=None)
    assert len(ds) == 8
    x, y = ds[2]
    assert x.tolist() == [2, 3, 4] and y == 20
    with pytest.raises(IndexError, match="has 8 windows"): ds[8]


def test_timeseries_arguments_are_checked_as_keras_checks_them():
    data = np.arange(20.)
    for kw, msg in [(dict(sequence_stride=20), "sequence_stride must be lower than the length of the data \\(20"),
                    (dict(start_index=20), "start_index must be lower"),
                    (dict(start_index=5, end_index=5), "end_index \\(5\\) must be higher than start_index \\(5\\)"),
                    (dict(sequence_length=0), "sequence_length must be a whole number >= 1"),
                    (dict(batch_size=0), "batch_size must be a whole number >= 1 or None")]:
        with pytest.raises(ValueError, match=msg): timeseries_dataset_from_array(data, None, **{'sequence_length': 3, **kw})


def test_fit_evaluate_and_predict_take_a_timeseries_dataset():
    series = np.sin(np.arange(300) / 10).astype('float32')
    train = timeseries_dataset_from_array(series[:-5], series[5:], sequence_length=5, batch_size=32)
    x = np.concatenate([b[0] for b in train]); y = np.concatenate([b[1] for b in train])
    def mlp():
        set_seed(4); m = Sequential([Input((5,)), Dense(8, activation='tanh'), Dense(1)]); m.compile('adam', 'mse'); return m
    a, t = mlp(), mlp()
    ha = a.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0)
    ht = t.fit(train, epochs=2, shuffle=False, verbose=0)
    assert same_weights(a, t) and ht.history == ha.history
    assert t.evaluate(train, verbose=0) == a.evaluate(x, y, batch_size=32, verbose=0)
    windows = timeseries_dataset_from_array(series[:-5], None, sequence_length=5, batch_size=64)
    assert np.array_equal(t.predict(windows, verbose=0), a.predict(x, verbose=0))


def test_the_progress_widget_counts_batches_of_unknown_number_and_learns_them():
    from seqlearn.widgets import TrainingProgress
    def forever():
        while True: yield from batches()
    tp, labels = TrainingProgress(show=False, interval=0), []
    spy = type('Spy', (Callback,), {'on_train_batch_end': lambda self, b, logs=None: labels.append(tp.batch_label.value)})()
    h = model().fit(batches(), callbacks=[tp, spy], verbose=0)
    assert tp.done and tp.steps == 5 and tp.batch_bar.max == 5 and h.epoch == [0]
    assert labels[0].startswith('1/?') and labels[-1].startswith('5/?')   # spy runs after the widget drew that batch
    tp2 = TrainingProgress(show=False)
    model().fit(forever(), steps_per_epoch=5, epochs=2, callbacks=[tp2], verbose=0)
    assert tp2.batch_bar.value == tp2.batch_bar.max == 5 and tp2.epoch_bar.value == 2

def test_timeseries_dataset_take_as_keras_examples_use_it():
    from seqlearn.utils import timeseries_dataset_from_array
    ds = timeseries_dataset_from_array(np.arange(50.), np.arange(50.), sequence_length=5, batch_size=8)
    (x, y), = ds.take(1)
    np.testing.assert_array_equal(x, ds[0][0]); assert len(ds.take(-1)) == len(ds) and len(ds.take(100)) == len(ds)
