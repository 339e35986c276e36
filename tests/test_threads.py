"""BLAS threads (seqlearn.config): one thread for small products; measured for large ones; the user's choice kept."""
import numpy as np
import pytest
import seqlearn
from seqlearn import Sequential, Dense, Input, set_seed, config
from seqlearn.callbacks import LambdaCallback

rng = np.random.default_rng(0)
X = rng.normal(size=(256, 8)).astype('float32'); Y = X[:, :1]


def fit_recording_threads(model, epochs=1, **kw):
    "(BLAS threads, elementwise workers) after each training batch."
    seen = []
    model.fit(X, Y, epochs=epochs, batch_size=8, verbose=0,
              callbacks=[LambdaCallback(on_train_batch_end=lambda b, l: seen.append((config.max_threads(), config.workers())))], **kw)
    return seen


@pytest.fixture
def model():
    set_seed(0)
    m = Sequential([Input((8,)), Dense(16, activation='relu'), Dense(1)]); m.compile('sgd', 'mse')
    yield m
    config.threads, config.AUTO_MIN_WORK = 'auto', 8_000_000


def test_small_products_use_one_thread_and_limits_are_restored(model):
    before = config.max_threads()
    assert set(fit_recording_threads(model)) == {(1, 1)}
    assert config.max_threads() == before
    assert model.work_per_sample() == 16 * 8


def test_the_users_choice_is_kept(model):
    config.threads = None
    assert set(fit_recording_threads(model)) == {(config.max_threads(), 1)}
    config.threads = 1
    assert set(fit_recording_threads(model)) == {(1, 1)}
    config.threads = 0
    with pytest.raises(ValueError, match="'auto', a whole number of threads"): model.fit(X, Y, verbose=0)


@pytest.mark.skipif(config.max_threads() < 2, reason='one core: nothing to choose between')
def test_large_products_are_measured(model, monkeypatch):
    """Three steps each, twice over: one BLAS thread, the work split over one thread per core, all BLAS threads; then
    the fastest. This model's passes are too small to split: 'split' leaves the measurement after one step."""
    from seqlearn.trainer import _ThreadTuner
    monkeypatch.setattr(_ThreadTuner, 'SLOWER', float('inf'))  # steps this small jitter: no re-measuring mid-epoch here
    monkeypatch.setattr(_ThreadTuner, 'DROP', float('inf'))
    config.AUTO_MIN_WORK = 0                     # treat this model as large
    n, cores = config.max_threads(), config.cores()
    one, split, blas = (1, 1), (1, cores), (n, 1)
    seen = fit_recording_threads(model)          # 32 steps
    assert seen[:13] == [one] * 3 + [split] + [blas] * 3 + [one] * 3 + [blas] * 3
    assert len(set(seen[13:])) == 1 and seen[13] in (one, blas)
    assert config.max_threads() == n and config.workers() == 1   # restored after fit
    # the next epochs, and a fit right after, keep the choice instead of measuring again
    again = fit_recording_threads(model, epochs=2)
    assert len(set(again)) == 1 and again[0] == seen[13]
    model._thread_choice = None                  # forgotten (or older than a minute): measured again
    assert fit_recording_threads(model)[:3] == [one] * 3


@pytest.mark.skipif(config.max_threads() < 2, reason='one core: nothing to choose between')
def test_a_model_that_splits_is_measured_split_too(model, monkeypatch):
    "An optimizer update large enough to split (here: the thresholds lowered) keeps 'split' in the measurement."
    from seqlearn import optimizers
    from seqlearn.trainer import _ThreadTuner
    monkeypatch.setattr(_ThreadTuner, 'SLOWER', float('inf')); monkeypatch.setattr(_ThreadTuner, 'DROP', float('inf'))
    monkeypatch.setattr(optimizers, 'SPLIT_MIN', 0); monkeypatch.setattr(config, 'PARALLEL_MIN', 0)
    config.AUTO_MIN_WORK = 0
    n, cores = config.max_threads(), config.cores()
    seen = fit_recording_threads(model)
    assert seen[:18] == ([(1, 1)] * 3 + [(1, cores)] * 3 + [(n, 1)] * 3) * 2


def test_short_fits_are_measured_again_after_enough_steps(model, monkeypatch):
    "A loop of one-epoch fits counts steps across them: after RETRY_STEPS, the next fit measures again."
    from seqlearn.trainer import _ThreadTuner
    monkeypatch.setattr(_ThreadTuner, 'SLOWER', float('inf')); monkeypatch.setattr(_ThreadTuner, 'RETRY_STEPS', 40)
    config.AUTO_MIN_WORK = 0
    first = fit_recording_threads(model)         # 32 steps: measured (13 steps), then 19 with the choice
    assert first[:3] == [(1, 1)] * 3 and model._thread_choice[3] == 19
    second = fit_recording_threads(model)        # a fresh choice: kept (too few steps left to measure at 40)
    assert len(set(second)) == 1 and model._thread_choice[3] == 19 + 32
    third = fit_recording_threads(model)         # 51 steps since the measurement: measured again
    assert third[:3] == [(1, 1)] * 3 and model._thread_choice[3] == 32 - 13


def test_a_busy_machine_is_measured_again(model):
    "Five steps 1.5 times slower than when the choice was made: measured again at once, mid-epoch."
    from seqlearn.trainer import _ThreadTuner
    t = _ThreadTuner()
    t.epoch_begin(100); assert t.trial                # first epoch: measure
    t.start, t.best, t.ref = None, 'split', 0.010
    t.epoch_begin(100); assert not t.trial            # a fresh choice: keep it
    for step in range(5):
        t.before(step); t.t0 -= 0.020; t.after(step)  # steps of 20 ms instead of 10
    assert t.trial and t.start == 5                   # measuring from the next step
    t.close()


@pytest.mark.skipif(config.max_threads() < 2, reason='one core: nothing to choose between')
def test_predict_keeps_one_thread_below_the_inference_bar(model, monkeypatch):
    "fit measures from AUTO_MIN_WORK; predict, with no steps to measure in, keeps one thread up to INFERENCE_MIN_WORK."
    config.AUTO_MIN_WORK = 0
    seen = []
    spy = LambdaCallback(on_predict_batch_end=lambda b, logs: seen.append(config.max_threads()))
    model.predict(X, batch_size=8, verbose=0, callbacks=[spy])
    assert set(seen) == {1}
    monkeypatch.setattr(config, 'INFERENCE_MIN_WORK', 0); seen.clear()
    model.predict(X, batch_size=8, verbose=0, callbacks=[spy])
    assert set(seen) == {config.max_threads()}      # above it: BLAS as it is


@pytest.mark.skipif(config.max_threads() < 2, reason='one core: nothing to restore')
def test_overlapping_thread_settings_restore_the_original():
    "Two fits in two Python threads overlap as A starts, B starts, A ends, B ends: BLAS's process-wide setting must end as it began."
    n0 = config.max_threads()
    a, b = config.blas_threads(1), config.blas_threads(1)
    a.__enter__(); b.__enter__()
    assert config.max_threads() == 1
    a.__exit__(None, None, None)
    assert config.max_threads() == 1          # B still runs: its setting holds
    b.__exit__(None, None, None)
    assert config.max_threads() == n0
