"""seqlearn.export for sequence models, against real Keras 3 (torch backend) and PyTorch.

SimpleRNN, LSTM, GRU (reset_after True and False), Bidirectional (every merge mode, return_state), TimeDistributed,
RepeatVector, Masking and Embedding(mask_zero=True):

- `to_keras(model)` predicts what seqlearn predicts, on padded batches too (the masks Keras makes itself);
- `from_keras(to_keras(model))` gives the model back: configuration (layer names included) and every weight bit for bit;
- `to_torch(model)` predicts the same; where the model makes masks, the generated graph computes them beside the values;
- return_sequences, return_state (several outputs), go_backwards, initial_state= in a graph, stateful layers (the states
  travel too), a compiled model's optimizer state;
- a Lambda (numpy code) is refused, saying what to do.

Weights and data come from seeded numpy generators."""
import os
import numpy as np
import pytest

os.environ.setdefault('KERAS_BACKEND', 'torch')
keras = pytest.importorskip('keras')   # the interop extra; CI installs it (a skip fails there: see conftest.py)
torch = pytest.importorskip('torch')

import seqlearn.layers as L
import seqlearn.torch_modules as tm
from seqlearn import Sequential, Model, clear_session, set_seed, optimizers
from seqlearn.export import to_keras, from_keras, to_torch

pytestmark = [pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"),
              # Keras, when a masked tensor enters a nested model of its graph; the layers inside still get the mask when it runs
              pytest.mark.filterwarnings("ignore:Layer '.*' \\(of type (Sequential|Functional)\\) was passed an input with a mask")]

TOL = 1e-5   # max |difference| of predictions (outputs are tanh/sigmoid-sized); observed: within 5e-7


@pytest.fixture(autouse=True, scope='module')
def one_torch_thread():
    "Small models: one PyTorch thread is fastest, and does not wait for cores a busy machine does not give."
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def randomize(model, seed=0):
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0, 0.5, w.shape).astype(w.dtype) for w in model.weights])


def as_list(out):
    if isinstance(out, dict): return [out[k] for k in sorted(out)]
    return list(out) if isinstance(out, (list, tuple)) else [out]


def torch_predict(module, xs):
    with torch.no_grad(): out = module(*[torch.from_numpy(np.ascontiguousarray(x)) for x in xs])
    return [o.numpy() for o in as_list(out)]


def max_diff(got, want):
    assert len(got) == len(want)
    for a, b in zip(got, want): assert np.shape(a) == np.shape(b), (np.shape(a), np.shape(b))
    return max(float(np.abs(np.asarray(a, np.float64) - b).max()) for a, b in zip(got, want))


def check(model, *batches):
    """Keras's, PyTorch's and the round trip's predictions equal seqlearn's on each batch (a list of inputs); the round
    trip has the same config and weights. Returns the Keras model and the PyTorch module."""
    km, tmod = to_keras(model), to_torch(model).eval()
    back = from_keras(km)
    assert back.get_config() == model.get_config()
    for (p, a), (q, b) in zip(model._named_weights(), back._named_weights()):
        assert p == q and np.array_equal(a.value, b.value), p
    for xs in batches:
        x = xs if len(xs) > 1 else xs[0]
        want = as_list(model.predict(x, verbose=0))
        assert max_diff(as_list(km.predict(x, verbose=0)), want) <= TOL
        assert max_diff(torch_predict(tmod, xs), want) <= TOL
        assert max_diff(as_list(back.predict(x, verbose=0)), want) <= TOL
    return km, tmod


rng = np.random.default_rng(1)

def features(b, t, f=3, pad=True):
    """A float batch; with `pad`, whole steps of zeros (what Masking() marks): at the start of one row, the end of another,
    and (unless pad='edges') one inside a third."""
    x = rng.normal(size=(b, t, f)).astype('float32')
    if pad: x[0, :2] = 0; x[1, t - 2:] = 0
    if pad is True: x[2, t // 2] = 0
    return x

def codes(b, t, vocab=20, pad=True):
    "Integer codes; with `pad`, zeros (padding for mask_zero) before, after and inside sequences."
    c = rng.integers(1, vocab, (b, t))
    if pad: c[0, :3] = 0; c[1, t - 3:] = 0; c[2, t // 2] = 0
    return c


# ---------------------------------------------------------------------------------------------------------------
# Each recurrent layer and option, on padded batches (Masking first) of two lengths
# ---------------------------------------------------------------------------------------------------------------
RECURRENT = {
    'simple_rnn': lambda **k: L.SimpleRNN(5, **k),
    'simple_rnn_relu': lambda **k: L.SimpleRNN(5, activation='relu', **k),
    'simple_rnn_sigmoid_no_bias': lambda **k: L.SimpleRNN(5, activation='sigmoid', use_bias=False, **k),   # torch's RNN lacks sigmoid
    'lstm': lambda **k: L.LSTM(5, **k),
    'lstm_no_forget_bias': lambda **k: L.LSTM(5, unit_forget_bias=False, **k),
    'lstm_relu_hard_sigmoid': lambda **k: L.LSTM(5, activation='relu', recurrent_activation='hard_sigmoid', **k),
    'lstm_no_bias': lambda **k: L.LSTM(5, use_bias=False, **k),
    'gru': lambda **k: L.GRU(5, **k),
    'gru_no_bias': lambda **k: L.GRU(5, use_bias=False, **k),
    'gru_reset_before': lambda **k: L.GRU(5, reset_after=False, **k),
    'gru_reset_before_no_bias': lambda **k: L.GRU(5, reset_after=False, use_bias=False, **k),
    'gru_elu': lambda **k: L.GRU(5, activation='elu', **k),
}
OPTIONS = {
    'last': {},
    'sequences': {'return_sequences': True},
    'backwards': {'go_backwards': True},
    'sequences_backwards_zero_output': {'return_sequences': True, 'go_backwards': True, 'zero_output_for_mask': True},
}

@pytest.mark.parametrize('option', list(OPTIONS))
@pytest.mark.parametrize('kind', list(RECURRENT))
def test_recurrent_layer(kind, option):
    clear_session()
    model = Sequential([L.Input((None, 3)), L.Masking(), RECURRENT[kind](**OPTIONS[option])])
    randomize(model)
    check(model, [features(4, 7)], [features(3, 4)], [features(3, 5, pad='edges')], [features(3, 5, pad=False)])


def test_without_masking_and_fixed_length():
    "The plain case: a fixed number of steps and no mask (PyTorch's fused kernels)."
    model = Sequential([L.Input((6, 3)), L.LSTM(4, return_sequences=True), L.GRU(3, go_backwards=True), L.Dense(2)])
    randomize(model)
    check(model, [features(5, 6, pad=False)])


# ---------------------------------------------------------------------------------------------------------------
# Bidirectional, TimeDistributed, RepeatVector
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize('return_state', [False, True])
@pytest.mark.parametrize('merge_mode', ['concat', 'sum', 'mul', 'ave', None])
def test_bidirectional(merge_mode, return_state):
    clear_session()
    x = L.Input((None,), dtype='int64')
    e = L.Embedding(20, 4, mask_zero=True)(x)
    outs = L.Bidirectional(L.LSTM(3, return_sequences=True, return_state=return_state), merge_mode=merge_mode)(e)
    model = Model(x, outs)
    randomize(model)
    km, _ = check(model, [codes(4, 7)], [codes(3, 5)])
    assert (km.layers[-1].forward_layer.name, km.layers[-1].backward_layer.name) == ('forward_lstm', 'backward_lstm')


def test_bidirectional_gru_last_output_and_a_backward_layer_of_its_own():
    clear_session()
    back = L.GRU(4, go_backwards=True, activation='relu', name='mine')
    model = Sequential([L.Input((None, 3)), L.Masking(), L.Bidirectional(L.GRU(4, reset_after=False), backward_layer=back, merge_mode='sum')])
    randomize(model)
    check(model, [features(4, 6)], [features(4, 3)])
    assert 'backward_layer' in model.layers[-1].get_config()


def test_time_distributed_and_repeat_vector():
    "An encoder-decoder: LSTM -> RepeatVector -> GRU(return_sequences) -> TimeDistributed(Dense)."
    clear_session()
    model = Sequential([L.Input((None, 3)), L.LSTM(6), L.RepeatVector(4), L.GRU(5, return_sequences=True),
                        L.TimeDistributed(L.Dense(2, activation='tanh'))])
    randomize(model)
    check(model, [features(3, 7, pad=False)], [features(2, 3, pad=False)])


def test_time_distributed_over_images_of_a_sequence():
    "TimeDistributed over 4-D steps (a Conv1D and a Flatten per step), then an LSTM."
    clear_session()
    model = Sequential([L.Input((5, 8, 2)), L.TimeDistributed(L.Conv1D(3, 3, activation='relu')), L.TimeDistributed(L.Flatten()),
                        L.LSTM(4)])
    randomize(model)
    check(model, [rng.normal(size=(3, 5, 8, 2)).astype('float32')])


def test_masks_pass_through_dense_dropout_and_time_distributed():
    "Dense, Dropout and TimeDistributed pass the mask on; the LSTM and the masked average use it."
    clear_session()
    model = Sequential([L.Input((None,), dtype='int64', name='tokens'), L.Embedding(20, 4, mask_zero=True), L.Dense(5, activation='tanh'), L.Dropout(0.2),
                        L.TimeDistributed(L.Dense(4)), L.LSTM(3, return_sequences=True), L.GlobalAveragePooling1D()])
    randomize(model)
    _, tmod = check(model, [codes(4, 7)], [codes(4, 9)])
    assert isinstance(tmod, torch.fx.GraphModule)   # a Sequential that makes masks: a graph, the masks beside the values
    assert 'code_mask(tokens)' in tmod.code.replace('seqlearn_torch_modules_', '') and 'mask = code_mask' in tmod.code


def test_mask_merges_and_nested_models():
    "Two masked inputs added (a step is real where it is in either), Concatenate, a nested Sequential that makes its own mask."
    clear_session()
    a, b, c = L.Input((None,), dtype='int64', name='a'), L.Input((None,), dtype='int64', name='b'), L.Input((None, 2), name='c')
    ea, eb = L.Embedding(20, 4, mask_zero=True)(a), L.Embedding(20, 4, mask_zero=True)(b)
    h = L.GRU(3, return_sequences=True)(L.Add()([ea, eb]))
    k = L.Concatenate()([h, L.Masking()(c)])
    enc = Sequential([L.Input((None, 5)), L.Dense(4), L.Masking(), L.LSTM(3, return_sequences=True)], name='encoder')
    model = Model([a, b, c], L.Dense(1)(L.SimpleRNN(2)(L.TimeDistributed(L.Dense(3))(enc(k)))))
    randomize(model)
    ca, cb = codes(4, 6), codes(4, 6)
    cb[0, :4] = 0; ca[1, :] = 0; ca[1, 0] = 3
    _, tmod = check(model, [ca, cb, features(4, 6, f=2)])
    assert 'encoder.lstm' in tmod.code   # the nested model's layers joined the graph, so that masks flow through them


def test_keras_loses_a_nested_models_mask_at_a_merge():
    "Keras computes a merge's mask where the graph is built, where a nested model's output has none: to_keras says so."
    clear_session()
    a, c = L.Input((None,), dtype='int64'), L.Input((None, 2))
    h = L.GRU(3, return_sequences=True)(L.Embedding(20, 4, mask_zero=True)(a))
    enc = Sequential([L.Input((None, 2)), L.Masking(), L.LSTM(3, return_sequences=True)], name='encoder')
    model = Model([a, c], L.SimpleRNN(2)(L.Concatenate(name='join')([h, enc(c)])))
    randomize(model)
    xs = [codes(4, 6), features(4, 6, f=2)]
    with pytest.warns(UserWarning, match=r"to_keras: join merges the masked output of a nested model"): km = to_keras(model)
    assert max_diff(torch_predict(to_torch(model).eval(), xs), [model.predict(xs, verbose=0)]) <= TOL   # PyTorch follows seqlearn
    assert max_diff([km.predict(xs, verbose=0)], [model.predict(xs, verbose=0)]) > 1e-3                   # Keras does not
    flat = Model([a, c], L.SimpleRNN(2)(L.Concatenate()([h, L.LSTM(3, return_sequences=True)(L.Masking()(c))])))
    randomize(flat)
    check(flat, xs)   # called in the outer graph, the layers keep their masks in Keras too


def test_a_layer_without_masking_ends_the_mask():
    "A Conv1D does not support masking: the mask stops there (seqlearn warns), in Keras and PyTorch alike."
    clear_session()
    model = Sequential([L.Input((None,), dtype='int64'), L.Embedding(20, 4, mask_zero=True), L.Conv1D(3, 2), L.LSTM(3)])
    randomize(model)
    with pytest.warns(UserWarning, match='does not support masking'): check(model, [codes(4, 7)])


# ---------------------------------------------------------------------------------------------------------------
# Several outputs, initial states, stateful layers
# ---------------------------------------------------------------------------------------------------------------
def test_return_state_gives_several_outputs():
    clear_session()
    x = L.Input((None, 3))
    out, h, c = L.LSTM(5, return_state=True, go_backwards=True)(L.Masking()(x))
    y, g = L.GRU(4, return_state=True, return_sequences=True)(x)
    model = Model(x, [out, h, c, y, g])
    randomize(model)
    km, tmod = check(model, [features(4, 6)])
    assert len(km.outputs) == 5


def test_initial_state_in_a_graph():
    "An encoder's final states start the decoder (a Keras node keyword initial_state=, seqlearn's [x, h, c] input)."
    clear_session()
    enc_in, dec_in = L.Input((None, 3), name='enc_in'), L.Input((None, 2), name='dec_in')
    _, h, c = L.LSTM(5, return_state=True, name='encoder')(L.Masking()(enc_in))
    y = L.LSTM(5, return_sequences=True, name='decoder')(dec_in, initial_state=[h, c])
    _, *states = L.Bidirectional(L.GRU(5, return_state=True), name='bi')(y)
    z = L.GRU(5, name='from_backward')(y, initial_state=states[1])
    model = Model([enc_in, dec_in], [L.TimeDistributed(L.Dense(1))(y), z])
    randomize(model)
    km, _ = check(model, [features(4, 6), features(4, 5, f=2, pad=False)])
    node = km.get_layer('decoder')._inbound_nodes[0]
    assert len(node.arguments.kwargs['initial_state']) == 2


def test_initial_state_of_a_bidirectional():
    clear_session()
    x, hf, hb = L.Input((None, 3)), L.Input((4,)), L.Input((4,))
    y = L.Bidirectional(L.SimpleRNN(4, return_sequences=True), merge_mode='ave')(L.Masking()(x), initial_state=[hf, hb])
    model = Model([x, hf, hb], y)
    randomize(model)
    check(model, [features(3, 5), rng.normal(size=(3, 4)).astype('float32'), rng.normal(size=(3, 4)).astype('float32')])


def test_stateful_layers_carry_their_states_across():
    "stateful=True with a batch size on Input: each framework continues from the last batch's states, exported ones too."
    clear_session()
    x = L.Input((5, 3), batch_size=4)
    y = L.Bidirectional(L.GRU(4, stateful=True, return_sequences=True))(x)
    model = Model(x, L.Dense(1)(L.LSTM(3, stateful=True)(y)))
    randomize(model)
    batches = [features(4, 5, pad=False) for _ in range(3)]
    km, tmod = to_keras(model), to_torch(model).eval()
    for b in batches[:2]:
        want = model.predict(b, batch_size=4, verbose=0)
        assert max_diff([km.predict(b, batch_size=4, verbose=0)], [want]) <= TOL
        assert max_diff(torch_predict(tmod, [b]), [want]) <= TOL
    km2, tm2, back = to_keras(model), to_torch(model).eval(), from_keras(km)   # exported mid-stream: the states come along
    want = model.predict(batches[2], batch_size=4, verbose=0)
    for got in (km2.predict(batches[2], batch_size=4, verbose=0), torch_predict(tm2, batches[2:])[0],
                back.predict(batches[2], batch_size=4, verbose=0)):
        assert max_diff([got], [want]) <= TOL
    assert km2.layers[1].input.shape[0] == 4
    for l in model.layers[1:3]: l.reset_states()   # the Bidirectional GRU and the LSTM
    for mod in tm2.modules():
        if isinstance(mod, tm.KerasRecurrent): mod.reset_states()
    assert max_diff(torch_predict(tm2, batches[:1])[:1], [model.predict(batches[0], batch_size=4, verbose=0)]) <= TOL
    with pytest.raises(ValueError, match='every batch must have 4 samples'): tm2(torch.zeros(3, 5, 3))


# ---------------------------------------------------------------------------------------------------------------
# The two models of the course: IMDB-style sentiment, a GRU forecaster
# ---------------------------------------------------------------------------------------------------------------
def imdb_model():
    x = L.Input(shape=(None,), dtype='int64', name='tokens')
    h = L.Bidirectional(L.LSTM(8))(L.Embedding(200, 16, mask_zero=True)(x))
    return Model(x, L.Dense(1, activation='sigmoid')(h), name='imdb')

def forecaster():
    return Sequential([L.Input((None, 1)), L.GRU(8, return_sequences=True), L.GRU(4), L.Dense(1)], name='forecaster')

def imdb_data(n, t, seed):
    r = np.random.default_rng(seed)
    c = r.integers(1, 200, (n, t))
    for i, k in enumerate(r.integers(2, t + 1, n)): c[i, k:] = 0                 # reviews of different lengths, padded after
    c[:2] = np.concatenate([np.zeros((2, 3), np.int64), c[:2, :-3]], axis=1)    # and two padded before
    return c, (c[:, :4].sum(1) % 2).astype('float32')

def series(n, t, seed):
    r = np.random.default_rng(seed)
    s = np.cumsum(r.normal(size=(n, t + 1, 1)), axis=1).astype('float32') / 4
    return s[:, :-1], s[:, -1]


@pytest.mark.parametrize('build,make', [(imdb_model, imdb_data), (forecaster, series)], ids=['imdb', 'forecaster'])
def test_course_models(build, make):
    "Trained two epochs in seqlearn: predictions on batches of two lengths, the round trip, one more epoch in Keras."
    clear_session(); set_seed(0)
    model = build()
    x, y = make(96, 12, 0)
    model.compile(optimizers.Adam(0.01), loss='binary_crossentropy' if model.name == 'imdb' else 'mse')
    model.fit(x, y, batch_size=32, epochs=2, verbose=0)
    km, tmod = check(model, [make(8, 12, 1)[0]], [make(8, 30, 2)[0]])
    back = from_keras(km)
    assert back.optimizer.iterations == model.optimizer.iterations == 6
    for s in model.optimizer.slot_names: assert np.array_equal(back.optimizer.slots[s], model.optimizer.slots[s])
    km.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0)
    model.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), km.get_weights()):
        assert np.abs(a - b).max() <= 1e-5 * max(1, np.abs(a).max())


def test_models_written_in_keras_come_in():
    "Keras's own Bidirectional (its backward layer made by Keras) and a stacked GRU: names, weights, predictions."
    keras.utils.set_random_seed(0)
    ki = keras.Input((None,), dtype='int64')
    kh = keras.layers.Bidirectional(keras.layers.GRU(6, name='gru'))(keras.layers.Embedding(30, 5, mask_zero=True)(ki))
    km = keras.Model(ki, keras.layers.Dense(1)(kh))
    model = from_keras(km)
    bi = model.layers[2]
    assert (bi.forward_layer.name, bi.backward_layer.name) == ('forward_gru', 'backward_gru') and 'backward_layer' not in bi.get_config()
    c = codes(4, 8, vocab=30)
    assert max_diff([model.predict(c, verbose=0)], [km.predict(c, verbose=0)]) <= TOL
    km2 = keras.Sequential([keras.Input((None, 2)), keras.layers.Masking(), keras.layers.GRU(4, return_sequences=True, reset_after=False),
                            keras.layers.SimpleRNN(3, go_backwards=True)])
    x = features(4, 6, f=2)
    assert max_diff([from_keras(km2).predict(x, verbose=0)], [km2.predict(x, verbose=0)]) <= TOL


# ---------------------------------------------------------------------------------------------------------------
# PyTorch: the mapping, the fast path, training mode
# ---------------------------------------------------------------------------------------------------------------
def test_torch_modules_are_torch_recurrent_modules_with_keras_weights():
    "LSTM is an nn.LSTM with the kernel transposed (the same gate order); GRU an nn.GRU with z and r swapped."
    clear_session()
    lstm, gru = L.LSTM(3, name='lstm'), L.GRU(2, name='gru')
    model = Sequential([L.Input((4, 5)), lstm, L.RepeatVector(2), gru])
    randomize(model)
    m = to_torch(model)
    assert isinstance(m.lstm, torch.nn.LSTM) and m.lstm.batch_first and isinstance(m.gru, torch.nn.GRU)
    np.testing.assert_array_equal(m.lstm.weight_ih_l0.detach().numpy(), lstm.kernel.value.T)
    np.testing.assert_array_equal(m.lstm.bias_ih_l0.detach().numpy(), lstm.bias.value)
    assert not m.lstm.bias_hh_l0.detach().numpy().any()
    U, k = 2, gru.kernel.value
    np.testing.assert_array_equal(m.gru.weight_ih_l0.detach().numpy(), np.concatenate([k[:, U:2 * U], k[:, :U], k[:, 2 * U:]], 1).T)
    np.testing.assert_array_equal(m.gru.bias_hh_l0.detach().numpy()[:U], gru.bias.value[1, U:2 * U])   # torch's r: Keras's second block
    assert isinstance(to_torch(Sequential([L.Input((4, 5)), L.GRU(2, reset_after=False)]))[0], tm.GRUResetBefore)


def test_torch_fast_paths(monkeypatch):
    """No mask (or one that masks nothing): PyTorch's fused kernel. Padding before or after each sequence: the fused kernel
    on packed sequences. Padding inside a sequence: the step loop, over the same weights. The same numbers every way."""
    clear_session()
    model = Sequential([L.Input((None,), dtype='int64'), L.Embedding(20, 4, mask_zero=True), L.Bidirectional(L.LSTM(3, return_sequences=True)),
                        L.GRU(2)])
    randomize(model)
    m = to_torch(model).eval()
    calls = []
    for cls in (tm.LSTM, tm.GRU):
        for path in ('_fused', '_packed', '_loop'):
            monkeypatch.setattr(cls, path, lambda self, *a, f=getattr(cls, path), p=path: calls.append(p) or f(self, *a))
    def run(c):
        calls.clear()
        assert max_diff(torch_predict(m, [c]), [model.predict(c, verbose=0)]) <= TOL
        return sorted(set(calls))
    c = codes(3, 6, pad=False)
    assert run(c) == ['_fused']
    c[0, :2] = 0; c[1, 4:] = 0
    assert run(c) == ['_fused', '_packed']   # the packed kernel also runs the fused forward
    c[2, 3] = 0
    assert run(c) == ['_loop']
    c[:, :] = 0; c[:, 0] = 1; c[1, :] = 0    # a row that is all padding: the loop (it keeps the states it was given)
    assert run(c) == ['_loop']


def test_torch_training_mode_drops_as_keras():
    "In train mode, dropout drops the same inputs at every step (one mask per sequence), recurrent_dropout the same state units."
    clear_session()
    rnn = L.SimpleRNN(6, activation='linear', dropout=0.5, return_sequences=True)
    model = Sequential([L.Input((4, 6)), rnn])
    model.set_weights([np.eye(6, dtype='float32'), np.zeros((6, 6), 'float32'), np.zeros(6, 'float32')])
    m = to_torch(model).train()
    torch.manual_seed(0)
    y = m(torch.ones(50, 4, 6)).detach().numpy()          # each step's output is its dropped input
    assert set(np.unique(y)) == {0.0, 2.0} and (y == y[:, :1]).all()
    model = Sequential([L.Input((4, 6)), L.SimpleRNN(6, activation='linear', recurrent_dropout=0.5, return_sequences=True)])
    model.set_weights([np.eye(6, dtype='float32'), np.eye(6, dtype='float32'), np.zeros(6, 'float32')])
    m = to_torch(model).train()
    x = torch.zeros(50, 4, 6); x[:, 0] = 1
    y = m(x).detach().numpy()                           # h_t = r * h_{t-1}: r the same at every step
    np.testing.assert_array_equal(y[:, 2], y[:, 1] ** 2)
    assert set(np.unique(y[:, 1])) == {0.0, 2.0}
    m.eval()
    np.testing.assert_array_equal(m(x).detach().numpy()[:, 3], np.ones((50, 6)))


# ---------------------------------------------------------------------------------------------------------------
# What is refused, and how
# ---------------------------------------------------------------------------------------------------------------
def test_lambda_is_refused_saying_what_to_do():
    for model in (Sequential([L.Input((4, 3)), L.Lambda(lambda x: x * 2)]),
                  Sequential([L.Input((4, 3)), L.TimeDistributed(L.Lambda(lambda x: x * 2, name='double'))])):
        for f in (to_keras, to_torch):
            with pytest.raises(ValueError, match=r"is a Lambda: its function is numpy code.*keras.layers.Lambda with keras.ops"): f(model)
    km = keras.Sequential([keras.Input((3,)), keras.layers.Lambda(lambda x: x * 2, name='twice')])
    with pytest.raises(ValueError, match=r"'twice' is a Keras Lambda.*rewrite the function with numpy.*seqlearn's Lambda\(f\)"):
        from_keras(km)


def test_recurrent_layers_of_ones_own_are_refused():
    class MyLSTM(L.LSTM): pass
    with pytest.raises(ValueError, match="a layer of your own"): to_keras(Sequential([L.Input((4, 3)), L.Bidirectional(MyLSTM(2))]))
    model = Sequential([L.Input((4, 3)), L.GRU(2, recurrent_activation=lambda z: z / (1 + abs(z)))])
    with pytest.raises(ValueError, match="recurrent activation function"): to_torch(model)


def test_keras_recurrent_layers_seqlearn_lacks_are_refused():
    km = keras.Sequential([keras.Input((4, 5, 5, 1)), keras.layers.ConvLSTM2D(2, 3, name='conv_lstm')])
    with pytest.raises(ValueError, match=r"'conv_lstm' is a Keras ConvLSTM2D.*TimeDistributed\(Conv2D"): from_keras(km)


def test_from_keras_masks_keras_ignores_or_takes_by_hand():
    "A Keras graph whose RNN gets initial_state= but no mask= ignores its input's mask (seqlearn will not): said. A mask by hand: refused."
    xi, hi = keras.Input((None, 3)), keras.Input((4,))
    km = keras.Model([xi, hi], keras.layers.SimpleRNN(4, name='rnn')(keras.layers.Masking()(xi), initial_state=[hi]))
    with pytest.warns(UserWarning, match="'rnn' is called with initial_state= and no mask=, so Keras ignores the mask"): from_keras(km)
    km = keras.Model(xi, keras.layers.SimpleRNN(4, name='rnn2')(xi, mask=keras.ops.not_equal(xi[..., 0], 0)))
    with pytest.raises(ValueError, match="'rnn2' is called with a mask= of its own"): from_keras(km)
