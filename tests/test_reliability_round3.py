"""Issue 25's findings, each checked the way a user meets it (the runtime-only install is checked by .ci/run with
tools/check_user_install.py)."""
import os
import numpy as np
import pytest
os.environ.setdefault('KERAS_BACKEND', 'torch')   # the interop extra's backend, before anything imports keras
# Keras's torch backend converts tensors with np.array(x), which numpy 2 flags (a DeprecationWarning per call)
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
from seqlearn import Sequential, Model, Input, Dense, Concatenate

X = np.random.default_rng(0).normal(size=(64, 4)).astype('float32')


def test_a_model_cannot_be_added_to_itself_and_nothing_changes():
    m = Sequential([Dense(2, input_shape=(4,))])
    with pytest.raises(ValueError, match="cannot be added to itself"): m.add(m)
    outer = Sequential([m])
    with pytest.raises(ValueError, match="cannot be added to itself \\(inside"): m.add(outer)
    assert len(m.layers) == 1 and m.predict(X, verbose=0).shape == (64, 2)


def test_sample_count_mismatch_names_the_inputs():
    a, b = Input((4,), name='a'), Input((4,), name='b')
    model = Model([a, b], Dense(1)(Concatenate()([a, b])))
    model.compile('sgd', 'mse')
    with pytest.raises(ValueError, match=r"got 64 in x\[0\] and 50 in x\[1\]"): model.fit([X, X[:50]], X[:, :1], verbose=0)


def test_get_layer_takes_a_name_or_an_index():
    m = Sequential([Dense(2, input_shape=(4,), name='d')])
    with pytest.raises(ValueError, match="provide either a layer name or a layer index, not both"): m.get_layer('d', 0)
    with pytest.raises(ValueError, match="provide either a layer name or a layer index"): m.get_layer()
    assert m.get_layer('d') is m.get_layer(index=0)


def test_a_generator_where_arrays_are_needed_says_where_one_fits():
    "fit, evaluate and predict take a generator as x (tests/test_data_pipelines.py); as y, or in train_on_batch, it is refused."
    m = Sequential([Dense(1, input_shape=(4,))]); m.compile('sgd', 'mse')
    batches = lambda: ((X[i:i + 16], X[i:i + 16, :1]) for i in range(0, 64, 16))
    with pytest.raises(TypeError, match="Only the x of fit, evaluate and predict may be one.*np.concatenate"):
        m.fit(X, (X[i:i + 16, :1] for i in range(0, 64, 16)), verbose=0)
    with pytest.raises(TypeError, match="a generator, a PyDataset or a DataLoader"): m.train_on_batch(batches(), None)
    with pytest.raises(TypeError, match="a generator, a PyDataset or a DataLoader"): m(iter([X]))


def test_to_keras_refuses_a_custom_layer_clearly():
    pytest.importorskip('keras')
    from seqlearn.export import to_keras
    class Twice(Dense): pass
    m = Sequential([Input((4,)), Twice(2)])
    with pytest.raises(ValueError, match="is a Twice, a layer of your own"): to_keras(m)


def test_saving_writes_through_a_link_and_names_a_folder_or_empty_path(tmp_path):
    from seqlearn import load_model
    m = Sequential([Dense(2, input_shape=(4,))])
    target = tmp_path / 'real.seqlearn'; m.save(target)
    link = tmp_path / 'link.seqlearn'; link.symlink_to(target)
    m.layers[0].set_weights([w + 1 for w in m.layers[0].get_weights()])
    m.save(link)
    assert link.is_symlink()                                      # still a link ...
    np.testing.assert_array_equal(load_model(target).get_weights()[0], m.get_weights()[0])   # ... and its target has the model
    with pytest.raises(IsADirectoryError, match="it is a folder"): m.save(tmp_path)
    with pytest.raises(ValueError, match="give a file name"): m.save('')


def test_an_output_without_a_loss_needs_no_targets():
    x = Input((4,))
    h = Dense(4, activation='relu')(x)
    model = Model(x, {'main': Dense(1, name='main')(h), 'aux': Dense(2, name='aux')(h)})
    model.compile('sgd', loss={'main': 'mse', 'aux': None})
    y = X[:, :1]
    for targets in ({'main': y}, {'main': y, 'aux': None}):
        hist = model.fit(X, targets, epochs=2, verbose=0).history
        assert np.isfinite(hist['loss']).all()
        assert np.isfinite(model.evaluate(X, targets, verbose=0)).all()
    model.compile('sgd', loss={'main': 'mse', 'aux': 'mse'})
    with pytest.raises(ValueError, match="'aux'"): model.fit(X, {'main': y}, verbose=0)


def test_exercises_grade_arrays_and_keep_messages_short(capsys):
    from seqlearn.exercises import check
    assert check(np.array([.5, .25]), np.array([.5, .25]))
    assert check([.5, .25], np.array([.5, .25]))
    assert check(np.array([1, 2]), (1, 2))
    assert not check(np.array([.5, .3]), np.array([.5, .25]))
    capsys.readouterr()
    assert not check('x' * 1_000_000, 'y')
    out = capsys.readouterr().out
    assert len(out) < 1000 and "1,000,002 characters" in out


def test_metric_and_regularizer_arguments_are_checked_before_any_update():
    from seqlearn.metrics import Precision, Recall, AUC
    from seqlearn.regularizers import L1, L2, L1L2
    for reg in (lambda: L2(-0.01), lambda: L1(float('nan')), lambda: L1L2(l1=float('inf'))):
        with pytest.raises(ValueError, match="must be a finite number >= 0"): reg()
    for bad in (0, 1):
        with pytest.raises(ValueError, match="num_thresholds must be a whole number > 1"): AUC(num_thresholds=bad)
    m = Sequential([Dense(1, activation='sigmoid', input_shape=(4,))])
    m.compile('sgd', 'binary_crossentropy', metrics=[Precision(thresholds=None), Recall(thresholds=None)])
    y = (X[:, :1] > 0).astype('float32')
    hist = m.fit(X, y, epochs=2, verbose=0).history
    assert np.isfinite(hist['precision']).all() and np.isfinite(hist['recall']).all()
    with pytest.raises(ValueError, match="thresholds must be one number"): Precision(thresholds=[0.3, 0.7])


def test_a_metric_that_cannot_read_the_targets_says_so_before_training():
    m = Sequential([Dense(3, activation='softmax', input_shape=(4,))])
    m.compile('sgd', 'sparse_categorical_crossentropy', metrics=['AUC'])
    w0 = m.get_weights()
    labels = np.random.default_rng(0).integers(0, 3, 64)
    with pytest.raises(ValueError, match="one-hot the labels"): m.fit(X, labels, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(w0, m.get_weights()))
    m.compile('sgd', 'sparse_categorical_crossentropy', metrics=['accuracy'])
    assert np.isfinite(m.fit(X, labels, verbose=0).history['accuracy']).all()


def test_from_keras_carries_every_argument_or_refuses_it():
    keras = pytest.importorskip('keras')
    from seqlearn.export import seqlearn_loss, seqlearn_metric
    assert seqlearn_loss(keras.losses.Huber(delta=3.0)).delta == 3.0
    auc = seqlearn_metric(keras.metrics.AUC(from_logits=True))
    assert auc.from_logits
    logits = np.array([[-2.0], [3.0], [0.5], [-1.0]], 'float32'); y = np.array([[0.], [1.], [1.], [0.]], 'float32')
    auc.update_state(y, logits); k = keras.metrics.AUC(from_logits=True); k.update_state(y, logits)
    assert auc.result() == pytest.approx(float(k.result()), abs=1e-6)
    assert seqlearn_metric(keras.metrics.Precision()).thresholds == 0.5          # None in Keras means 0.5
    with pytest.raises(ValueError, match="Precision has class_id=1, which seqlearn's Precision does not take"):
        seqlearn_metric(keras.metrics.Precision(class_id=1))
    with pytest.raises(ValueError, match="top_k=2"): seqlearn_metric(keras.metrics.Recall(top_k=2))


def test_metric_arguments_survive_saving(tmp_path):
    from seqlearn import load_model
    from seqlearn.metrics import Precision, AUC
    m = Sequential([Dense(1, input_shape=(4,))])
    m.compile('sgd', 'mse', metrics=[Precision(thresholds=0.3), AUC(num_thresholds=50, from_logits=True)])
    m.fit(X, (X[:, :1] > 0).astype('float32'), epochs=1, verbose=0)
    m.save(tmp_path / 'm.seqlearn')
    cfg = load_model(tmp_path / 'm.seqlearn')._compile_config['metrics']
    assert cfg[0].thresholds == 0.3 and cfg[1].num_thresholds == 50 and cfg[1].from_logits


def test_a_float64_model_in_torch_takes_float32_tensors():
    torch = pytest.importorskip('torch')
    from seqlearn.export import to_torch
    m = Sequential([Input((4,), dtype='float64'), Dense(3, dtype='float64', activation='relu'), Dense(1, dtype='float64')])
    t = to_torch(m).eval()
    out = t(torch.from_numpy(X))                 # float32, as torch tensors are by default
    assert out.dtype == torch.float64
    np.testing.assert_allclose(out.detach().numpy(), m.predict(X, verbose=0), rtol=1e-6, atol=1e-7)


def test_integer_inputs_stay_integers():
    from seqlearn import Embedding, Flatten
    codes = np.array([[2**24 + 1], [3]])                   # 2**24 + 1 is not a float32
    for make in (lambda: Sequential([Input((1,), dtype='int64'), Embedding(10, 2)]),
                 lambda: Model(x := Input((1,), dtype='int64'), Embedding(10, 2)(x))):
        m = make()
        xs = m.standardize_inputs(codes)
        assert xs[0].dtype == np.int64 and xs[0][0, 0] == 2**24 + 1
    m = Sequential([Input((2,)), Dense(1)])
    assert m.standardize_inputs(np.array([[1, 2]]))[0].dtype == np.float32   # float inputs as before


def test_a_keras_model_with_default_precision_and_recall_trains_after_import():
    keras = pytest.importorskip('keras')
    from seqlearn.export import from_keras
    km = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation='sigmoid')])
    km.compile(optimizer='sgd', loss='binary_crossentropy', metrics=[keras.metrics.Precision(), keras.metrics.Recall()])
    m = from_keras(km)
    y = (X[:, :1] > 0).astype('float32')
    hist = m.fit(X, y, epochs=2, verbose=0).history
    assert len(hist) == 3 and all(np.isfinite(v).all() for v in hist.values())   # loss, precision, recall (Keras may number the names)
    assert np.isfinite(m.evaluate(X, y, verbose=0)).all()


def test_a_file_with_a_nan_penalty_is_refused(tmp_path):
    import json, zipfile
    from seqlearn import load_model
    from seqlearn.models import ModelFileError
    m = Sequential([Dense(2, input_shape=(4,), kernel_regularizer='l2')])
    m.save(tmp_path / 'm.seqlearn')
    with zipfile.ZipFile(tmp_path / 'm.seqlearn') as z: files = {n: z.read(n) for n in z.namelist()}
    files['config.json'] = files['config.json'].replace(b'"l2": 0.01', b'"l2": NaN')
    assert b'NaN' in files['config.json']
    with zipfile.ZipFile(tmp_path / 'bad.seqlearn', 'w') as z:
        for n, b in files.items(): z.writestr(n, b)
    with pytest.raises(ModelFileError, match="finite number >= 0"): load_model(tmp_path / 'bad.seqlearn')
