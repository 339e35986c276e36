"""Bad input, divergence and interrupts: a clear error before any weight changes, and nothing half-done."""
import random, warnings
import numpy as np
import pytest
from seqlearn import Sequential, Dense, Input, set_seed, clear_session
from seqlearn.callbacks import LambdaCallback, TerminateOnNaN
from seqlearn.optimizers import SGD

rng = np.random.default_rng(0)
X = rng.normal(size=(20, 4)).astype('float32')
Y = rng.normal(size=(20, 1)).astype('float32')
LABELS = rng.integers(0, 3, 20)


def model(loss='mse', units=1, act=None, opt='adam'):
    set_seed(0); clear_session()
    m = Sequential([Input((4,)), Dense(5, activation='relu'), Dense(units, activation=act)])
    m.compile(optimizer=opt, loss=loss)
    return m


def fails(m, exc, contains, *args, **kwargs):
    """fit(*args, **kwargs) raises `exc` whose message has every string in `contains`, and no weight changed."""
    before = m.get_weights()
    with pytest.raises(exc) as e: m.fit(*args, verbose=0, **kwargs)
    for c in ([contains] if isinstance(contains, str) else contains): assert c in str(e.value), str(e.value)
    assert all(np.array_equal(a, b) for a, b in zip(before, m.get_weights()))
    assert m.optimizer.iterations == 0


def test_wrong_feature_count(): fails(model(), ValueError, ['expects inputs with 4 features, got 3'], X[:, :3], Y)
def test_wrong_rank_1d(): fails(model(), ValueError, ['(n_samples, n_features)', 'reshape'], X[:, 0], Y)
def test_wrong_rank_3d(): fails(model(), ValueError, ['expects samples of shape (4,), got (2, 4)'], X.reshape(10, 2, 4), Y[:10])
def test_length_mismatch(): fails(model(), ValueError, ['same number of samples', '20 in x', '19 in y'], X, Y[:-1])
def test_empty_x(): fails(model(), ValueError, ['empty'], X[:0], Y[:0])
def test_empty_y(): fails(model(), ValueError, ['same number of samples'], X, Y[:0])
def test_object_x(): fails(model(), TypeError, ['must be numeric', 'object'], X.astype(object), Y)
def test_string_x(): fails(model(), TypeError, ['must be numeric'], [['a', 'b', 'c', 'd']] * 20, Y)
def test_string_y(): fails(model(), TypeError, ['y must be numeric'], X, np.array(['cat'] * 20))
def test_ragged_x(): fails(model(), ValueError, ['rows of different lengths'], [[1, 2, 3, 4], [1, 2]], Y[:2])


@pytest.mark.parametrize('bad', [np.nan, np.inf, -np.inf])
def test_non_finite_x(bad):
    x = X.copy(); x[3, 2] = bad
    fails(model(), ValueError, ['x contains', '(3, 2)', 'nan_to_num'], x, Y)


@pytest.mark.parametrize('bad', [np.nan, np.inf])
def test_non_finite_y(bad):
    y = Y.copy(); y[5, 0] = bad
    fails(model(), ValueError, ['y contains', '(5, 0)'], X, y)


def test_labels_out_of_range(): fails(model('sparse_categorical_crossentropy', 3, 'softmax'), ValueError, ['labels must be in 0..2', 'from 1 to 3', '1-based'], X, LABELS + 1)
def test_negative_labels(): fails(model('sparse_categorical_crossentropy', 3, 'softmax'), ValueError, ['class labels must be 0 or more, got -1'], X, LABELS - 1)
def test_fractional_labels(): fails(model('sparse_categorical_crossentropy', 3, 'softmax'), ValueError, ['whole-number'], X, LABELS + 0.5)
def test_one_hot_for_sparse(): fails(model('sparse_categorical_crossentropy', 3, 'softmax'), ValueError, ['one-hot'], X, np.eye(3)[LABELS])
def test_labels_for_categorical(): fails(model('categorical_crossentropy', 3, 'softmax'), ValueError, ['one-hot targets of shape (n, 3)', 'integer labels'], X, LABELS)
def test_binary_targets_out_of_range(): fails(model('binary_crossentropy', 1, 'sigmoid'), ValueError, ['between 0 and 1'], X, Y * 5)
def test_batch_size_too_large(): fails(model(), ValueError, ['batch_size=64 is larger than the 20 training samples'], X, Y, batch_size=64)
@pytest.mark.parametrize('bs', [0, -1, 2.5, True])
def test_batch_size_not_positive_int(bs): fails(model(), ValueError, ['batch_size must be a whole number >= 1'], X, Y, batch_size=bs)
def test_epochs_zero(): fails(model(), ValueError, ['epochs must be a whole number >= 1, got 0'], X, Y, epochs=0)
@pytest.mark.parametrize('vs', [-0.1, 1.0, 1.5, '0.2'])
def test_validation_split_out_of_range(vs): fails(model(), ValueError, ['validation_split must be a fraction in [0, 1)'], X, Y, validation_split=vs)
def test_validation_split_leaves_nothing(): fails(model(), ValueError, ['leaves 0 training'], X[:1], Y[:1], validation_split=0.2)
def test_bad_validation_data(): fails(model(), ValueError, ['x contains NaN'], X, Y, validation_data=(X * np.nan, Y))
def test_not_compiled():
    m = Sequential([Input((4,)), Dense(1)])
    with pytest.raises(RuntimeError, match='compile the model'): m.fit(X, Y, verbose=0)


def test_integer_x_is_converted():
    m = model()
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        m.fit((X * 10).astype(np.int64), Y, epochs=1, verbose=0)
    assert m.optimizer.iterations > 0 and all(w.dtype == np.float32 for w in m.get_weights())


def test_float64_x_is_converted_without_warnings():
    m = model(); x64 = X.astype(np.float64); y64 = Y.astype(np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        m.fit(x64, y64, epochs=2, batch_size=4, verbose=0)
        out = m.predict(x64, verbose=0)
        m.evaluate(x64, y64, verbose=0)
    assert out.dtype == np.float32 and all(w.dtype == np.float32 for w in m.get_weights())
    assert x64.dtype == np.float64  # the caller's array is untouched


def test_divergence_warns_with_epoch_batch_and_advice():
    m = model(opt=SGD(learning_rate=1e6))
    with pytest.warns(RuntimeWarning) as rec: m.fit(X, Y * 1e3, epochs=5, batch_size=4, verbose=0)
    msg = ' '.join(str(r.message) for r in rec)
    assert 'epoch' in msg and 'batch' in msg and 'learning_rate' in msg
    assert len(m.history.epoch) < 5


def test_terminate_on_nan_restores_last_finite_state(capsys):
    m = model(opt=SGD(learning_rate=1e6))
    seen = []  # weights after each applied step
    cb = LambdaCallback(on_train_batch_end=lambda b, logs: seen.append(m.get_weights()) if np.isfinite(logs['loss']) else None)
    with pytest.warns(RuntimeWarning, match='diverged'):
        m.fit(X, Y * 1e3, epochs=5, batch_size=4, shuffle=False, verbose=0, callbacks=[TerminateOnNaN(), cb])
    assert 'weights restored to the last finite state' in capsys.readouterr().out
    ws = m.get_weights()
    assert all(np.isfinite(w).all() for w in ws)
    # restored to the weights before the last applied update (which produced the non-finite loss)
    ref = seen[-2] if len(seen) >= 2 else model(opt=SGD(learning_rate=1e6)).get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(ref, ws))


def _reference(k, epochs, batch_size):
    """Weights after exactly k optimizer steps of the same run, stopped by stop_training."""
    m = model()
    def stop(b, logs):
        if m.optimizer.iterations >= k: m.stop_training = True
    if k > 0: m.fit(X, Y, epochs=epochs, batch_size=batch_size, verbose=0, callbacks=[LambdaCallback(on_train_batch_end=stop)])
    return m


@pytest.mark.parametrize('seed', range(8))
def test_keyboard_interrupt_leaves_whole_steps(seed, capsys):
    r = random.Random(seed)
    hook = r.choice(['on_train_batch_begin', 'on_train_batch_end'])
    epochs, bs = 3, 4
    total = epochs * 5
    at = r.randrange(total)  # global batch index at which to interrupt
    m = model()
    count = {'n': 0}
    def interrupt(b, logs=None):
        if count['n'] == at: raise KeyboardInterrupt
    def bump(b, logs=None): count['n'] += 1
    hooks = {hook: interrupt}
    tick = LambdaCallback(on_train_batch_end=bump)
    with pytest.raises(KeyboardInterrupt):  # as Keras: the interrupt goes on after fit's cleanup, so loops of fits stop too
        m.fit(X, Y, epochs=epochs, batch_size=bs, verbose=0, callbacks=[LambdaCallback(**hooks), tick])
    k = at + (hook == 'on_train_batch_end')  # steps applied before the interrupt
    assert m.optimizer.iterations == k
    ref = _reference(k, epochs, bs)
    assert all(np.array_equal(a, b) for a, b in zip(ref.get_weights(), m.get_weights()))
    assert 'interrupted' in capsys.readouterr().out
    h = m.fit(X, Y, epochs=1, batch_size=bs, verbose=0)  # fit can be called again
    assert m.optimizer.iterations == k + 5 and len(h.epoch) == 1
