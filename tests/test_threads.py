"""BLAS threads (seqlearn.config): one thread for small products; measured for large ones; the user's choice kept."""
import numpy as np
import pytest
import seqlearn
from seqlearn import Sequential, Dense, Input, set_seed, config
from seqlearn.callbacks import LambdaCallback

rng = np.random.default_rng(0)
X = rng.normal(size=(256, 8)).astype('float32'); Y = X[:, :1]


def fit_recording_threads(model, **kw):
    seen = []
    model.fit(X, Y, epochs=1, batch_size=8, verbose=0, callbacks=[LambdaCallback(on_train_batch_end=lambda b, l: seen.append(config.max_threads()))], **kw)
    return seen


@pytest.fixture
def model():
    set_seed(0)
    m = Sequential([Input((8,)), Dense(16, activation='relu'), Dense(1)]); m.compile('sgd', 'mse')
    yield m
    config.threads, config.AUTO_MIN_WORK = 'auto', 8_000_000


def test_small_products_use_one_thread_and_limits_are_restored(model):
    before = config.max_threads()
    assert set(fit_recording_threads(model)) == {1}
    assert config.max_threads() == before
    assert model.work_per_sample() == 16 * 8


def test_the_users_choice_is_kept(model):
    config.threads = None
    assert set(fit_recording_threads(model)) == {config.max_threads()}
    config.threads = 1
    assert set(fit_recording_threads(model)) == {1}
    config.threads = 0
    with pytest.raises(ValueError, match="'auto', a whole number of threads"): model.fit(X, Y, verbose=0)


@pytest.mark.skipif(config.max_threads() < 2, reason='one core: nothing to choose between')
def test_large_products_are_measured_each_epoch(model):
    config.AUTO_MIN_WORK = 0                     # treat this model as large
    seen = fit_recording_threads(model)          # 32 steps: 3 with one thread, 3 with all, then the faster
    n = config.max_threads()
    assert seen[:3] == [1, 1, 1] and seen[3:6] == [n] * 3
    assert len(set(seen[6:])) == 1 and seen[6] in (1, n)
    assert config.max_threads() == n             # restored after fit
