"""Training (issue 3): compile/fit/evaluate/predict semantics, callbacks, interrupts."""
import os, signal, math, warnings
import numpy as np
import pytest
from seqlearn import Sequential, Dense, Dropout, set_seed
from seqlearn import callbacks as cbm, optimizers, losses, metrics


def data(n=200, d=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype('float32')
    return X, (X[:, 0] - X[:, 1] > 0).astype('float32')


def model(d=5, **compile_kw):
    set_seed(0)
    m = Sequential([Dense(8, activation='relu', input_shape=(d,)), Dense(1, activation='sigmoid')])
    m.compile(**{'optimizer': 'adam', 'loss': 'binary_crossentropy', 'metrics': ['accuracy'], **compile_kw})
    return m


def test_compile_defaults_and_unknown_names():
    m = Sequential([Dense(1, input_shape=(2,))]); m.compile(loss='mse')
    assert isinstance(m.optimizer, optimizers.RMSprop)
    with pytest.raises(ValueError, match="Did you mean 'adam'"): m.compile(optimizer='adan', loss='mse')
    with pytest.raises(ValueError, match="Did you mean 'mean_squared_error'"): m.compile(loss='mean_squared_eror')
    with pytest.raises(ValueError, match="Did you mean 'accuracy'"): m.compile(loss='mse', metrics=['acuracy'])


def test_history_evaluate_predict_and_batch_methods():
    X, y = data(); m = model()
    h = m.fit(X, y, epochs=3, batch_size=16, validation_split=0.25, verbose=0)
    assert set(h.history) == {'loss', 'accuracy', 'val_loss', 'val_accuracy'} and all(len(v) == 3 for v in h.history.values())
    assert h.epoch == [0, 1, 2] and m.history is h
    loss, acc = m.evaluate(X, y, verbose=0)
    d = m.evaluate(X, y, verbose=0, return_dict=True); assert d == {'loss': loss, 'accuracy': acc}
    p = m.predict(X, batch_size=7, verbose=0); assert p.shape == (200, 1) and p.dtype == np.float32
    np.testing.assert_allclose(p, m(X), rtol=1e-6)
    np.testing.assert_allclose(m.predict_on_batch(X[:5]), p[:5], rtol=1e-6)
    it = m.optimizer.iterations
    r = m.train_on_batch(X[:16], y[:16]); assert len(r) == 2 and m.optimizer.iterations == it + 1
    t = m.test_on_batch(X[:16], y[:16], return_dict=True); assert set(t) == {'loss', 'accuracy'}


def test_y_shapes_n_and_n1_give_same_numbers():
    X, y = data()
    a = model().fit(X, y, epochs=2, shuffle=False, verbose=0).history
    b = model().fit(X, y.reshape(-1, 1), epochs=2, shuffle=False, verbose=0).history
    assert a == b


def test_lists_are_accepted_and_inputs_never_modified():
    X, y = data(); X64 = X.astype('float64'); Xc, yc = X64.copy(), y.copy()
    m = model()
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        m.fit(X64, y, epochs=1, verbose=0)
        m.fit(X.tolist(), y.tolist(), epochs=1, verbose=0)
    np.testing.assert_array_equal(X64, Xc); np.testing.assert_array_equal(y, yc)


def test_validation_split_takes_the_last_fraction_before_shuffling():
    X, y = data()
    m1 = model(); h1 = m1.fit(X, y, epochs=1, validation_split=0.2, verbose=0)
    m2 = model(); h2 = m2.fit(X[:160], y[:160], epochs=1, validation_data=(X[160:], y[160:]), verbose=0)
    assert h1.history == h2.history


def test_epoch_loss_is_batch_size_weighted_mean_before_updates():
    X, y = data(n=50)
    m = model(optimizer=optimizers.SGD(0.0))  # no learning: every batch loss is the initial loss
    h = m.fit(X, y, epochs=1, batch_size=20, shuffle=False, verbose=0)
    np.testing.assert_allclose(h.history['loss'][0], losses.BinaryCrossentropy()(y, m.predict(X, verbose=0)), rtol=1e-6)


def test_sample_and_class_weight_enter_the_loss():
    X, y = data(n=64)
    m = model(optimizer=optimizers.SGD(0.0))
    base = m.fit(X, y, epochs=1, shuffle=False, verbose=0).history['loss'][0]
    sw = m.fit(X, y, epochs=1, shuffle=False, sample_weight=np.full(64, 2.0), verbose=0).history['loss'][0]
    np.testing.assert_allclose(sw, 2 * base, rtol=1e-6)
    cw = m.fit(X, y, epochs=1, shuffle=False, class_weight={0: 2.0, 1: 2.0}, verbose=0).history['loss'][0]
    np.testing.assert_allclose(cw, 2 * base, rtol=1e-6)


def test_frozen_layer_is_not_updated():
    X, y = data(); m = model(); w0 = m.layers[0].get_weights()
    m.layers[0].trainable = False
    m.compile(optimizer='adam', loss='binary_crossentropy')
    m.fit(X, y, epochs=2, verbose=0)
    for a, b in zip(w0, m.layers[0].get_weights()): np.testing.assert_array_equal(a, b)
    m.layers[0].trainable = True
    m.fit(X, y, epochs=1, verbose=0)
    assert not np.array_equal(w0[0], m.layers[0].get_weights()[0])


def test_callback_hooks_order_and_stop_training():
    X, y = data(); calls = []
    class Rec(cbm.Callback):
        def on_train_begin(self, logs=None): calls.append('train_begin')
        def on_epoch_begin(self, e, logs=None): calls.append(f'epoch_begin{e}')
        def on_train_batch_end(self, b, logs=None):
            calls.append('batch')
            if b == 2: self.model.stop_training = True
        def on_test_begin(self, logs=None): calls.append('test_begin')
        def on_epoch_end(self, e, logs=None): calls.append(f'epoch_end{e}')
        def on_train_end(self, logs=None): calls.append('train_end')
    h = model().fit(X, y, epochs=5, validation_split=0.2, callbacks=[Rec()], verbose=0)
    assert calls == ['train_begin', 'epoch_begin0', 'batch', 'batch', 'batch', 'test_begin', 'epoch_end0', 'train_end']
    assert len(h.history['loss']) == 1


def test_early_stopping_restores_best_weights():
    X, y = data()
    es = cbm.EarlyStopping(monitor='val_loss', patience=2, restore_best_weights=True)
    snaps = []
    m = model(optimizer=optimizers.SGD(2.0))  # noisy on purpose
    h = m.fit(X, y, epochs=30, validation_split=0.3, callbacks=[es, cbm.LambdaCallback(on_epoch_end=lambda e, l: snaps.append(m.get_weights()))], verbose=0)
    best = int(np.argmin(h.history['val_loss']))
    for a, b in zip(snaps[best], m.get_weights()): np.testing.assert_array_equal(a, b)


def test_lr_scheduler_and_reduce_on_plateau():
    X, y = data(); m = model(optimizer=optimizers.SGD(0.1))
    h = m.fit(X, y, epochs=3, callbacks=[cbm.LearningRateScheduler(lambda epoch, lr: 0.1 / (epoch + 1))], verbose=0)
    np.testing.assert_allclose(h.history['learning_rate'], [0.1, 0.05, 0.1 / 3])
    m = model(optimizer=optimizers.SGD(0.1))  # min_delta so large that no epoch counts as an improvement
    h = m.fit(X, y, epochs=5, callbacks=[cbm.ReduceLROnPlateau(monitor='loss', factor=0.5, patience=1, min_delta=10.0)], verbose=0)
    lrs = h.history['learning_rate']
    assert lrs[0] == pytest.approx(0.1) and m.optimizer.learning_rate < 0.1 / 2 ** 2 * 1.0001, lrs  # halved at each plateau
    assert all(b <= a for a, b in zip(lrs, lrs[1:])), lrs
    m = model(optimizer=optimizers.SGD(1e-9))
    h = m.fit(X, y, epochs=4, callbacks=[cbm.ReduceLROnPlateau(monitor='loss', factor=0.5, patience=1, min_delta=1.0)], verbose=0)
    assert h.history['learning_rate'][-1] < 1e-9


def test_csv_logger(tmp_path):
    X, y = data(); f = tmp_path / 'log.csv'
    model().fit(X, y, epochs=2, callbacks=[cbm.CSVLogger(f)], verbose=0)
    rows = f.read_text().strip().splitlines()
    assert rows[0] == 'epoch,accuracy,loss' and len(rows) == 3


def test_divergence_stops_with_a_message_and_terminate_on_nan_restores_finite_weights():
    X, y = data(); X = X * 100
    set_seed(0)
    m = Sequential([Dense(8, activation='relu', input_shape=(5,)), Dense(1)])
    m.compile(optimizer=optimizers.SGD(1e3), loss='mse')
    with pytest.warns(RuntimeWarning, match=r'epoch \d+, batch \d+.*lower learning_rate'):
        m.fit(X, y, epochs=50, callbacks=[cbm.TerminateOnNaN()], verbose=0)
    assert all(np.isfinite(w).all() for w in m.get_weights())


def test_sigint_stops_after_the_current_batch_with_whole_updates(capsys):
    X, y = data()
    m = model(); it0 = m.optimizer.iterations
    def on_batch_begin(batch, logs):
        if batch == 3: os.kill(os.getpid(), signal.SIGINT)  # arrives mid-step
    with pytest.raises(KeyboardInterrupt):  # re-raised after the cleanup: a loop of fits stops too
        m.fit(X, y, epochs=3, batch_size=16, callbacks=[cbm.LambdaCallback(on_train_batch_begin=on_batch_begin)], verbose=0)
    assert m.optimizer.iterations == it0 + 4  # batch 3 was finished, then training stopped
    h = m.history                            # the History of the interrupted fit
    assert len(h.history['loss']) == 1 and 'interrupted' in capsys.readouterr().out
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    m.fit(X, y, epochs=1, verbose=0)  # still usable


def test_verbose_text_output(capsys):
    X, y = data()
    model().fit(X, y, epochs=2, verbose=2)
    out = capsys.readouterr().out
    assert out.count('\n') == 2 and 'Epoch 2/2' in out and 'loss:' in out and 'accuracy:' in out
    model().fit(X, y, epochs=2, verbose=0); assert capsys.readouterr().out == ''


def test_metrics_precision_recall_auc_and_topk_in_fit():
    X, y = data()
    m = model(metrics=['accuracy', metrics.Precision(), metrics.Recall(), metrics.AUC()])
    h = m.fit(X, y, epochs=2, verbose=0)
    assert {'precision', 'recall', 'auc'} <= set(h.history)
    rng = np.random.default_rng(0); Xc = rng.normal(size=(90, 4)).astype('float32'); yc = rng.integers(0, 3, 90)
    set_seed(0)
    mc = Sequential([Dense(3, activation='softmax', input_shape=(4,))])
    mc.compile('adam', 'sparse_categorical_crossentropy', metrics=['accuracy'])
    h = mc.fit(Xc, yc, epochs=1, verbose=0)
    p = mc.predict(Xc, verbose=0)
    np.testing.assert_allclose(mc.evaluate(Xc, yc, verbose=0, return_dict=True)['accuracy'], (p.argmax(1) == yc).mean())


def test_custom_optimizers_both_ways_train_like_sgd():
    "An optimizer written as a `rule` alone, or as a whole `update` (the older contract), trains as the built-in SGD does."
    class RuleSGD(optimizers.Optimizer):
        def rule(self, theta, g, t, slots, lr): np.multiply(g, lr, out=t); theta -= t
    class UpdateSGD(optimizers.Optimizer):
        def update(self, theta, g, lr): theta -= self._tmp.dtype.type(lr) * g
    X, Y = data()
    ref = model(optimizer=optimizers.SGD(0.05)); ref.fit(X, Y, epochs=2, batch_size=16, verbose=0)
    for opt in (RuleSGD(0.05), UpdateSGD(0.05)):
        m = model(optimizer=opt); m.fit(X, Y, epochs=2, batch_size=16, verbose=0)
        for a, b in zip(m.get_weights(), ref.get_weights()): np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_logs_are_built_per_batch_only_for_a_listener():
    "With no callback reading each batch, fit still reports the epoch's loss and metrics; with one, each batch's."
    X, Y = data()
    quiet = model(); h = quiet.fit(X, Y, epochs=2, batch_size=16, verbose=0)
    seen = []
    loud = model(); h2 = loud.fit(X, Y, epochs=2, batch_size=16, verbose=0,
                                  callbacks=[cbm.LambdaCallback(on_train_batch_end=lambda b, logs: seen.append(dict(logs)))])
    assert h.history == h2.history and set(h.history) == {'loss', 'accuracy'}
    assert len(seen) == 2 * 13 and set(seen[-1]) == {'loss', 'accuracy'}
    assert seen[-1]['loss'] == pytest.approx(h2.history['loss'][-1])
