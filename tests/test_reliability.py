"""Reliability, round two (issue 13): Ctrl-C in loops and during an update, one model per thread, one model per
optimizer, arguments checked before training, truthful divergence messages, and the small teaching messages."""
import math, os, signal, threading, warnings
import numpy as np
import pytest
from seqlearn import Sequential, Dense, Input, set_seed, clear_session
from seqlearn import callbacks as cbm, optimizers, losses
from seqlearn.optimizers import Adam, SGD

rng = np.random.default_rng(0)
X = rng.normal(size=(64, 4)).astype('float32')
Y = (X[:, :1] - X[:, 1:2]).astype('float32')


def model(opt='adam', loss='mse', units=1, act=None):
    set_seed(0); clear_session()
    m = Sequential([Input((4,)), Dense(8, activation='relu'), Dense(units, activation=act)])
    m.compile(opt, loss)
    return m


def same_weights(a, b): return all(np.array_equal(x, y) for x, y in zip(a.get_weights(), b.get_weights()))


# -- Ctrl-C ------------------------------------------------------------------------------------------------------------------
def test_ctrl_c_stops_a_loop_of_fits():
    ran = []
    def sigint_at_batch_2(batch, logs):
        if batch == 2: os.kill(os.getpid(), signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        for lr in (0.1, 0.01, 0.001):  # a learning-rate sweep
            m = model(SGD(lr)); ran.append(lr)
            m.fit(X, Y, epochs=3, batch_size=8, verbose=0, callbacks=[cbm.LambdaCallback(on_train_batch_begin=sigint_at_batch_2)])
    assert ran == [0.1]                       # the sweep stopped at its first fit
    assert m.optimizer.iterations == 3        # batches 0, 1, 2 whole; then stopped
    assert len(m.history.history['loss']) == 1


class InterruptedAdam(Adam):
    "An Adam whose update receives a second Ctrl-C half-way (the first one came during the batch)."
    armed = False
    def update(self, theta, g, lr):
        if self.armed:
            os.kill(os.getpid(), signal.SIGINT)  # the second Ctrl-C, while the moments are being updated
        super().update(theta, g, lr)


def test_a_second_ctrl_c_during_the_update_waits_until_it_is_whole():
    opt = InterruptedAdam(0.01)
    m = model(opt)
    def first_ctrl_c(batch, logs):
        if batch == 3: os.kill(os.getpid(), signal.SIGINT); opt.armed = True
    with pytest.raises(KeyboardInterrupt):
        m.fit(X, Y, epochs=2, batch_size=8, shuffle=False, verbose=0, callbacks=[cbm.LambdaCallback(on_train_batch_begin=first_ctrl_c)])
    assert opt.iterations == 4
    ref = model(Adam(0.01))
    ref.fit(X[:32], Y[:32], epochs=1, batch_size=8, shuffle=False, verbose=0)   # the same 4 whole steps
    assert same_weights(m, ref)
    for k in ('momentum', 'velocity'): np.testing.assert_array_equal(opt.slots[k], ref.optimizer.slots[k])


def test_ctrl_c_skips_the_validation_pass():
    seen = []
    m = model()
    def sigint(batch, logs):
        if batch == 1: os.kill(os.getpid(), signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        m.fit(X, Y, epochs=2, batch_size=8, validation_split=0.5, verbose=0,
              callbacks=[cbm.LambdaCallback(on_train_batch_begin=sigint, on_test_begin=lambda logs: seen.append(1))])
    assert seen == []


# -- threads ------------------------------------------------------------------------------------------------------------------
def test_a_second_thread_is_refused_while_the_model_trains():
    m = model()
    errors, inside = [], []
    def from_a_thread(batch, logs):
        if batch == 1 and not errors:
            def other():
                try: m.predict(X, verbose=0)
                except RuntimeError as e: errors.append(str(e))
                try: m(X)
                except RuntimeError as e: errors.append(str(e))
            t = threading.Thread(target=other); t.start(); t.join()
            inside.append(m.predict(X[:3], verbose=0))  # the training thread itself may predict (a callback)
    h = m.fit(X, Y, epochs=1, batch_size=8, verbose=0, callbacks=[cbm.LambdaCallback(on_train_batch_end=from_a_thread)])
    assert len(errors) == 2 and all('in use by another thread' in e and 'copy.deepcopy(model)' in e for e in errors), errors
    assert inside[0].shape == (3, 1) and np.isfinite(h.history['loss'][0])
    done = []
    t = threading.Thread(target=lambda: done.append(m.predict(X, verbose=0))); t.start(); t.join()
    assert done[0].shape == (64, 1)   # once fit has returned, any thread may use the model


# -- one optimizer, one model -------------------------------------------------------------------------------------------------
def test_one_optimizer_trains_one_model():
    opt = Adam()
    a = model(opt)
    b = Sequential([Input((4,)), Dense(1)], name='b')
    with pytest.raises(ValueError, match="already trains Sequential 'sequential'.*create a new optimizer"): b.compile(opt, 'mse')
    assert not b.compiled                     # nothing changed
    a.compile(opt, 'mse')                     # compiling the same model again is fine
    del a
    import gc; gc.collect()
    b.compile(opt, 'mse')                     # the first model is gone: the optimizer is free


# -- arguments checked before training -----------------------------------------------------------------------------------------
@pytest.mark.parametrize('kwargs, match', [
    (dict(validation_freq=0), 'validation_freq must be a whole number >= 1'),
    (dict(validation_freq=[]), 'validation_freq is an empty list'),
    (dict(validation_freq=[0, 2]), 'each epoch in validation_freq must be a whole number >= 1'),
    (dict(validation_batch_size=2.5), 'validation_batch_size must be a whole number >= 1'),
    (dict(validation_batch_size=-1), 'validation_batch_size must be a whole number >= 1'),
])
def test_fit_arguments_are_checked_before_any_change(kwargs, match):
    m = model(); before = m.get_weights()
    with pytest.raises(ValueError, match=match): m.fit(X, Y, epochs=2, validation_split=0.25, verbose=0, **kwargs)
    assert all(np.array_equal(a, b) for a, b in zip(before, m.get_weights())) and m.optimizer.iterations == 0


def test_validation_freq_as_a_list_of_epochs():
    seen = []
    m = model()
    m.fit(X, Y, epochs=4, validation_split=0.25, validation_freq=[1, 3], verbose=0,
          callbacks=[cbm.LambdaCallback(on_epoch_end=lambda e, logs: seen.append('val_loss' in logs))])
    assert seen == [True, False, True, False]
    h = model().fit(X, Y, epochs=4, validation_split=0.25, validation_freq=2, verbose=0)
    assert len(h.history['val_loss']) == 2


@pytest.mark.parametrize('lr', [float('nan'), float('inf'), -1.0])
def test_learning_rate_must_be_finite(lr):
    for cls in (SGD, Adam, optimizers.RMSprop, optimizers.Adagrad, optimizers.Nadam, optimizers.AdamW):
        with pytest.raises(ValueError, match='finite learning_rate >= 0'): cls(learning_rate=lr)
    opt = Adam()
    with pytest.raises(ValueError, match='finite learning_rate'): opt.learning_rate = lr
    assert opt.learning_rate == 0.001


@pytest.mark.parametrize('cw, match', [
    ({0: float('nan'), 1: 1.0}, r'class_weight\[0\] is nan'), ({0: -1.0}, 'finite numbers >= 0'),
    ({0.5: 1.0}, 'has the key 0.5'), ({'0': 1.0}, "has the key '0'"), ({5: 1.0}, 'classes of this output are 0 to 1'),
])
def test_class_weight_is_checked(cw, match):
    m = model(loss='binary_crossentropy', act='sigmoid'); before = m.get_weights()
    with pytest.raises(ValueError, match=match): m.fit(X, (Y > 0).astype('float32'), class_weight=cw, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(before, m.get_weights())) and m.optimizer.iterations == 0


@pytest.mark.parametrize('shape', [(0,), (2.5,), ('3',), (True,), (-1,)])
def test_input_shapes_are_positive_whole_numbers(shape):
    with pytest.raises(ValueError, match='positive whole numbers'): Dense(2, input_shape=shape)
    with pytest.raises(ValueError, match='positive whole numbers'): Input(shape)


def test_bogus_initializer_and_regularizer_configs_teach():
    from seqlearn.initializers import get_initializer
    from seqlearn.regularizers import get_regularizer
    with pytest.raises(ValueError, match="Unknown initializer 'Bogus'"): get_initializer({'class_name': 'Bogus', 'config': {}})
    with pytest.raises(TypeError, match='See the arguments of RandomUniform'): get_initializer({'class_name': 'RandomUniform', 'config': {'bogus': 1}})
    with pytest.raises(ValueError, match="Unknown regularizer 'bogus'"): get_regularizer({'class_name': 'bogus', 'config': {}})
    with pytest.raises(TypeError, match='See the arguments of L2'): get_regularizer({'class_name': 'L2', 'config': {'l3': 1}})


# -- divergence: the message tells the truth -----------------------------------------------------------------------------------
@pytest.mark.parametrize('opt', [SGD(1e4), SGD(1e3, momentum=0.9), Adam(1e6), optimizers.RMSprop(1e6), optimizers.Adagrad(1e6)],
                         ids=['sgd', 'sgd_momentum', 'adam', 'rmsprop', 'adagrad'])
def test_divergence_message_matches_the_weights(opt):
    m = model(opt)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        m.fit(X * 1e3, Y * 1e3, epochs=30, batch_size=8, verbose=0)
    msgs = [str(x.message) for x in w if 'diverged' in str(x.message)]
    finite = all(np.isfinite(a).all() for a in m.get_weights())
    if msgs:
        assert ('the weights are finite' in msgs[0]) == finite, (msgs[0], finite)
        assert ('already non-finite' in msgs[0]) == (not finite), msgs[0]
    else: assert finite


def test_a_non_finite_batch_is_not_applied():
    m = model(SGD(0.1))
    m.layers[0].kernel.value[0, 0] = np.inf  # an infinite weight makes the loss and gradient non-finite at once
    with pytest.warns(RuntimeWarning, match='diverged'): m.fit(X, Y, epochs=1, batch_size=64, verbose=0)
    assert m.optimizer.iterations == 0       # no update was applied


# -- small things that teach ----------------------------------------------------------------------------------------------------
def test_small_messages():
    assert isinstance(losses.get('bce'), losses.BinaryCrossentropy)   # Keras 3's alias
    with pytest.raises(ValueError, match='Valid losses:'): losses.get('mse2')
    m = model()
    with pytest.raises(ValueError, match='y is a single number'): m.fit(X, 1.0, verbose=0)
    m.fit(X, Y, validation_split=np.float32(0.25), verbose=0)               # numpy floats are fractions too
    h = m.fit(X, Y, epochs=1, verbose=0, callbacks=cbm.History())           # one callback alone, not in a list
    assert h.epoch == [0]


def test_assigning_a_weight_keeps_it_training():
    m = model(SGD(0.1))
    m.fit(X, Y, epochs=1, verbose=0)
    k = m.layers[1].kernel
    k.value = np.zeros(k.shape)              # copies in: the variable stays a view of the trained buffer
    m.fit(X, Y, epochs=1, verbose=0)
    assert np.abs(k.value).sum() > 0         # it trained again
    with pytest.raises(ValueError, match='cannot take an array of shape'): k.value = np.zeros((3, 3))


def test_each_layer_keeps_its_dtype():
    set_seed(0); clear_session()
    m = Sequential([Input((4,)), Dense(8, activation='tanh'), Dense(1, dtype='float64')])
    m.compile(SGD(0.05), 'mse')
    h = m.fit(X, Y, epochs=5, batch_size=16, verbose=0)
    assert [w.dtype for w in m.get_weights()] == [np.float32, np.float32, np.float64, np.float64]
    assert h.history['loss'][-1] < h.history['loss'][0]
    assert m.predict(X, verbose=0).dtype == np.float64
    m.layers[1].set_weights([np.zeros((8, 1)), np.zeros(1)])   # set_weights reaches the training copy too
    m.fit(X, Y, epochs=1, batch_size=64, verbose=0)
    assert 0 < np.abs(m.layers[1].kernel.value).sum() < 1.0
    with pytest.raises(TypeError, match='weights must be floating point'): Dense(2, dtype='int32')(np.ones((1, 3)))


def test_load_model_can_restore_the_random_state(tmp_path):
    from seqlearn.models import load_model
    def run(): set_seed(0); clear_session(); m = Sequential([Input((4,)), Dense(8, activation='relu'), Dense(1)]); m.compile('adam', 'mse'); return m
    straight = run(); straight.fit(X, Y, epochs=4, batch_size=8, verbose=0)           # shuffled every epoch
    m = run(); m.fit(X, Y, epochs=2, batch_size=8, verbose=0); m.save(tmp_path / 'm.seqlearn')
    set_seed(123)                                                                       # the session moved on
    again = load_model(tmp_path / 'm.seqlearn', restore_random_state=True)
    again.fit(X, Y, epochs=4, initial_epoch=2, batch_size=8, verbose=0)
    assert same_weights(straight, again)                                                # the same shuffles as straight through
    m.save_weights(tmp_path / 'w.seqlearn')
    with pytest.raises(ValueError, match='holds weights only'): load_model(tmp_path / 'w.seqlearn', restore_random_state=True)


def test_a_copied_model_keeps_its_optimizer_state():
    "pickle and copy.deepcopy of a trained model keep Adam's moments: training the copy continues exactly."
    import copy, pickle
    from seqlearn import Sequential, Dense, Input, set_seed
    rng = np.random.default_rng(0); x = rng.normal(size=(64, 5)).astype('f4'); y = x[:, :1]
    set_seed(0); m = Sequential([Input((5,)), Dense(4, activation='relu'), Dense(1)]); m.compile('adam', 'mse')
    m.fit(x, y, epochs=2, verbose=0, shuffle=False)
    copies = [copy.deepcopy(m), pickle.loads(pickle.dumps(m)),
              copy.deepcopy(copy.deepcopy(m)), pickle.loads(pickle.dumps(copy.deepcopy(m)))]   # and copies of copies
    for mm in [m] + copies: mm.fit(x, y, epochs=1, verbose=0, shuffle=False)
    for c in copies:
        for a, b in zip(m.get_weights(), c.get_weights()): np.testing.assert_array_equal(a, b)
