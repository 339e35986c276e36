"LSTM on one thread or two (fit's split mode): the same pieces in the same order, so the same numbers to the last bit."
import numpy as np
import pytest
from seqlearn import config, set_seed, Sequential, Input, Dense
from seqlearn.layers import LSTM, Embedding, Bidirectional
from seqlearn.optimizers import Adam

RNG = np.random.default_rng(0)
X = RNG.normal(size=(6, 37, 5)).astype(np.float32)
MASK = RNG.random((6, 37)) > 0.25

def run(make, workers, training=True, mask=None):
    "Output, input gradient and weight gradients of a fresh layer from `make`, with `workers` threads for its pieces."
    set_seed(0)
    layer = make()
    layer(X)  # built
    old = config.set_workers(workers)
    try:
        out = layer.call(X, training=training, mask=mask)
        outs = out if isinstance(out, list) else [out]
        dx = layer.backward([np.ones_like(o) for o in outs] if isinstance(out, list) else np.ones_like(out))
        return [np.array(o) for o in outs], np.array(dx if not isinstance(dx, list) else dx[0]), [w.grad.copy() for w in layer.weights]
    finally: config.set_workers(old)

CASES = [dict(), dict(return_sequences=True), dict(go_backwards=True, return_state=True), dict(use_bias=False),
         dict(dropout=0.3, recurrent_dropout=0.2, seed=3), dict(activation='relu', recurrent_activation='hard_sigmoid'),
         dict(return_sequences=True, stateful=True)]

@pytest.mark.parametrize('kw', CASES, ids=[','.join(k) or 'default' for k in CASES])
@pytest.mark.parametrize('masked', [False, True])
def test_lstm_same_numbers_on_one_or_two_threads(kw, masked):
    one, two = (run(lambda: LSTM(7, **kw), w, mask=MASK if masked else None) for w in (1, 2))
    for a, b in zip(one[0], two[0]): np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(one[1], two[1])
    for a, b in zip(one[2], two[2]): np.testing.assert_array_equal(a, b)

def test_bidirectional_lstm_same_numbers_on_one_or_two_threads():
    one, two = (run(lambda: Bidirectional(LSTM(4, return_sequences=True)), w) for w in (1, 2))
    np.testing.assert_array_equal(one[0][0], two[0][0]); np.testing.assert_array_equal(one[1], two[1])
    for a, b in zip(one[2], two[2]): np.testing.assert_array_equal(a, b)

def test_the_pieces_run_on_the_worker_in_split_mode():
    "With two workers the layer hands pieces to the other thread (counted in config.splits, which fit's tuner reads)."
    before = config.splits
    run(lambda: LSTM(7), 2)
    assert config.splits > before
    before = config.splits
    run(lambda: LSTM(7), 1)
    assert config.splits == before

def test_fit_in_split_mode_matches_one_thread():
    "A few epochs of Embedding -> LSTM -> Dense with Adam: the same weights whether fit splits or not."
    codes = np.random.default_rng(1).integers(0, 50, (64, 20))
    y = (codes[:, -3:].mean(1) > 25).astype(np.float32)[:, None]
    weights = []
    for workers in (1, 2):
        set_seed(0)
        m = Sequential([Input((20,), dtype='int64'), Embedding(50, 8), LSTM(6), Dense(1, activation='sigmoid')])
        m.compile(Adam(1e-2), 'binary_crossentropy')
        old_threads, config.threads = config.threads, 1   # fixed: no tuner, so `workers` decides
        old = config.set_workers(workers)
        try: m.fit(codes, y, batch_size=16, epochs=3, verbose=0, shuffle=False)
        finally: config.set_workers(old); config.threads = old_threads
        weights.append(m.get_weights())
    for a, b in zip(*weights): np.testing.assert_array_equal(a, b)
