"""Headless tests of `HiddenStates` (seqlearn.widgets.hidden_states): the display driven during `fit`, no kernel, no browser.

The recurrent layers below are stand-ins that keep the contract of seqlearn's SimpleRNN/LSTM/GRU (`last_hidden_states`:
(batch, timesteps, units) after each call, in the input's time order) and of Bidirectional (`forward_layer`,
`backward_layer`). When the real layers are merged, swap `TinyRNN` for `SimpleRNN` and `TinyBidirectional(n)` for
`Bidirectional(SimpleRNN(n))`: the tests should pass unchanged apart from the class names in the messages.
"""
import base64, io, re
import numpy as np
import pytest
from seqlearn import Sequential, Model, Input, Dense, Dropout, Layer, set_seed, register_layer
from seqlearn.callbacks import LambdaCallback
from seqlearn.widgets import HiddenStates, show_hidden_states, hidden_states_figure
from seqlearn.widgets.summary import png_size
import seqlearn.widgets.hidden_states as hsmod


@register_layer
class TinyRNN(Layer):
    "h_t = tanh(x_t W + h_{t-1} U + b); returns the last state and keeps `last_hidden_states`."
    def __init__(self, units, go_backwards=False, **kwargs):
        super().__init__(**kwargs)
        self.units, self.go_backwards, self.last_hidden_states = units, go_backwards, None
    def build(self, input_shape, owner=None):
        owner, pre = owner or self, '' if owner is None else ('backward_' if self.go_backwards else 'forward_')
        self.W = owner.add_weight(shape=(input_shape[-1], self.units), name=pre + 'kernel')
        self.U = owner.add_weight(shape=(self.units, self.units), name=pre + 'recurrent_kernel')
        self.b = owner.add_weight(shape=(self.units,), initializer='zeros', name=pre + 'bias')
    def compute_output_shape(self, input_shape): return (input_shape[0], self.units)
    def call(self, x, training=None):
        xs = x[:, ::-1] if self.go_backwards else x
        h, hs = np.zeros((len(x), self.units), self.W.value.dtype), []
        for t in range(xs.shape[1]):
            h = np.tanh(xs[:, t] @ self.W.value + h @ self.U.value + self.b.value); hs.append(h)
        self._x, self._h = xs, np.stack(hs, axis=1)
        self.last_hidden_states = self._h[:, ::-1] if self.go_backwards else self._h
        return h
    def backward(self, grad):
        xs, H, W, U = self._x, self._h, self.W.value, self.U.value
        gW, gU, gb, dx, dh = np.zeros_like(W), np.zeros_like(U), np.zeros_like(self.b.value), np.zeros_like(xs), grad
        for t in reversed(range(xs.shape[1])):
            dz = dh * (1 - H[:, t] ** 2)
            gW += xs[:, t].T @ dz; gb += dz.sum(0); dx[:, t] = dz @ W.T
            if t: gU += H[:, t - 1].T @ dz
            dh = dz @ U.T
        self.W.grad[...], self.U.grad[...], self.b.grad[...] = gW, gU, gb
        return dx[:, ::-1] if self.go_backwards else dx
    def get_config(self): return {**super().get_config(), 'units': self.units, 'go_backwards': self.go_backwards}


@register_layer
class TinyBidirectional(Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units, self.forward_layer, self.backward_layer = units, TinyRNN(units), TinyRNN(units, go_backwards=True)
    def build(self, input_shape):
        for l in (self.forward_layer, self.backward_layer): l.build(input_shape, owner=self)
    def compute_output_shape(self, input_shape): return (input_shape[0], 2 * self.units)
    def call(self, x, training=None): return np.concatenate([self.forward_layer.call(x), self.backward_layer.call(x)], axis=-1)
    def backward(self, grad):
        return self.forward_layer.backward(grad[:, :self.units]) + self.backward_layer.backward(grad[:, self.units:])
    def get_config(self): return {**super().get_config(), 'units': self.units}


def data(n=128, steps=10):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, steps, 3)).astype(np.float32)
    return x, x[:, :, :1].sum(axis=1) / 4


def make_model(units=6, steps=10):
    set_seed(0)
    m = Sequential([Input((steps, 3)), TinyRNN(units, name='rnn'), Dense(4, activation='relu', name='dense'), Dense(1, name='out')],
                   name='seq')
    m.compile('adam', 'mse')
    return m


class FakeClock:
    def __init__(self): self.t = 0.0
    def __call__(self): return self.t


def ticker(clock, seconds):
    "A callback that moves the clock on by `seconds` per epoch (it must come before the view in the callbacks)."
    return LambdaCallback(on_epoch_end=lambda e, logs=None: setattr(clock, 't', clock.t + seconds))


@pytest.fixture
def shown(monkeypatch):
    "Stand in for the notebook front end: record every display and update the view sends."
    import IPython.display
    calls = []
    monkeypatch.setattr(IPython.display, 'display', lambda *a, **k: calls.append(('display', a, k)))
    monkeypatch.setattr(IPython.display, 'update_display', lambda *a, **k: calls.append(('update', a, k)))
    return calls


def picture_of(bundle):
    "The PNG inline in the bundle's HTML, checked to be an <img> with a data: URI (what an untrusted notebook shows)."
    html = bundle['text/html']
    assert '<svg' not in html
    m = re.search(r'<img alt="hidden states of [^"]*" width="(\d+)"[^>]*src="data:image/png;base64,([^"]+)"', html)
    assert m, html[:300]
    data = base64.b64decode(m.group(2))
    assert data.startswith(b'\x89PNG')
    assert png_size(data)[0] == 2 * int(m.group(1))   # drawn at twice the pixels, shown at half: sharp on HiDPI
    return data


def test_view_updates_during_fit_and_saves_its_picture(shown):
    m, (x, y) = make_model(), data()
    clock = FakeClock()
    hs = HiddenStates('rnn', x[:1], show=True, interval=1.0, clock=clock)
    m.fit(x, y, epochs=30, batch_size=32, verbose=0, callbacks=[ticker(clock, 0.1), hs])
    kinds = [k for k, _, _ in shown]
    assert kinds[0] == 'display' and kinds.count('display') == 1          # one output for the fit ...
    assert kinds.count('update') >= 3, kinds                              # ... redrawn in place while it runs
    ids = {k['display_id'] for _, _, k in shown}
    assert len(ids) == 1 and hs._display_id in ids
    first = shown[0][1][0]
    assert 'epoch 0:' in first['text/plain']                              # the look before training, shown at once
    picture_of(first)
    live = [a[0] for k, a, _ in shown[1:-1]]
    assert all('image/png' not in b for b in live)                        # live redraws: the HTML view only
    final, meta = shown[-1][1][0], shown[-1][2]['metadata']               # what the saved notebook keeps
    assert set(final) == {'text/plain', 'text/html', 'image/png'}         # no widget view: it shows without a kernel
    assert final['text/plain'].startswith('rnn (TinyRNN) hidden states · epoch 30: mean |h| ')
    data_ = picture_of(final)
    assert base64.b64decode(final['image/png']) == data_                   # the same picture for PNG readers (PDF, LaTeX)
    w, h = png_size(data_)
    assert meta == {'image/png': {'width': w // 2, 'height': h // 2}}
    assert hs.epochs[0] == 0 and hs.epochs[-1] == 30 and hs.states[''].shape == (10, 6)
    assert hs._repr_mimebundle_()['text/html'] == final['text/html']       # displayed again later: the same picture


def test_a_new_fit_gets_a_new_output(shown):
    m, (x, y) = make_model(), data()
    hs = HiddenStates('rnn', x[:1], show=True)
    m.fit(x, y, epochs=1, verbose=0, callbacks=[hs]); first = hs._display_id
    m.fit(x, y, epochs=1, verbose=0, callbacks=[hs])
    assert hs._display_id != first and [k for k, _, _ in shown].count('display') == 2
    assert hs.epochs == [0, 1]                                             # the snapshots of the last fit


def test_throttle_interval_with_a_hand_driven_clock():
    "0.1 s per epoch, 50 epochs = 5 simulated seconds: at interval=1, about 5 updates, not 50."
    m, (x, y) = make_model(), data(64)
    clock = FakeClock()
    hs = HiddenStates('rnn', x[:1], show=False, interval=1.0, clock=clock)
    m.fit(x, y, epochs=50, batch_size=32, verbose=0, callbacks=[ticker(clock, 0.1), hs])
    assert 5 <= hs.renders <= 8, (hs.renders, hs.epochs)
    assert hs.captures == hs.renders
    gaps = np.diff(hs.epochs[1:-1])
    assert (gaps >= 10).all(), hs.epochs                                   # a second (10 epochs) apart at least


def test_throttle_keeps_the_cost_under_two_percent(monkeypatch):
    "An update that takes 0.02 s waits 50 x 0.02 = 1 s for the next, even with interval=0."
    m, (x, y) = make_model(), data(64)
    clock = FakeClock()
    hs = HiddenStates('rnn', x[:1], show=False, interval=0, clock=clock)
    capture = hs.capture
    def slow_capture(epoch=None):
        clock.t += 0.02; return capture(epoch)
    monkeypatch.setattr(hs, 'capture', slow_capture)
    m.fit(x, y, epochs=200, batch_size=32, verbose=0, callbacks=[ticker(clock, 0.01), hs])   # 2 s of epochs
    assert 3 <= hs.renders <= 6, (hs.renders, hs.epochs)
    assert 0.02 * hs.renders / clock.t < 0.05


def test_every_n_epochs_and_always_the_last():
    m, (x, y) = make_model(), data(64)
    clock = FakeClock()                                                    # 10 s per epoch: the clock never holds an update back
    hs = HiddenStates('rnn', x[:1], every=3, interval=0, show=False, clock=clock)
    m.fit(x, y, epochs=10, batch_size=32, verbose=0, callbacks=[ticker(clock, 10), hs])
    assert hs.epochs == [0, 3, 6, 9, 10]
    hs = HiddenStates('rnn', x[:1], initial=False, every=5, interval=0, show=False, clock=clock)
    m.fit(x, y, epochs=10, batch_size=32, verbose=0, callbacks=[ticker(clock, 10), hs])
    assert hs.epochs == [5, 10] and hs.captures == 2                       # the last one is not captured twice


def test_text_fallback_in_a_terminal(capsys):
    "No notebook front end: a line per update, each printed after the progress line of its epoch."
    m, (x, y) = make_model(), data(64)
    clock = FakeClock()
    hs = HiddenStates('rnn', x[:1], interval=0, clock=clock)               # show='auto', outside a kernel
    m.fit(x, y, epochs=3, batch_size=32, verbose=2, callbacks=[ticker(clock, 10), hs])
    assert hs.mode == 'text'
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 7, lines
    assert re.match(r"rnn \(TinyRNN\) hidden states · epoch 0: mean \|h\| \d\.\d{3}, saturated \d+%, most active units "
                    r"\d \(\d\.\d\d\), \d \(\d\.\d\d\), \d \(\d\.\d\d\)$", lines[0]), lines[0]
    for e in (1, 2, 3):
        assert lines[2 * e - 1].startswith(f'Epoch {e}/3 - ') and lines[2 * e].startswith(f'rnn (TinyRNN) hidden states · epoch {e}:')
    out = io.StringIO()
    hs = HiddenStates('rnn', x[:1], show='text', stream=out)
    m.fit(x, y, epochs=1, verbose=0, callbacks=[hs])
    assert out.getvalue().count('\n') == 2 and capsys.readouterr().out == ''


def test_record_only_shows_nothing(capsys, shown):
    m, (x, y) = make_model(), data(64)
    hs = HiddenStates('rnn', x[:1], show=False)
    m.fit(x, y, epochs=2, verbose=0, callbacks=[hs])
    assert capsys.readouterr().out == '' and shown == [] and hs.epochs[-1] == 2


def test_layer_by_name_or_object_and_teaching_errors():
    m, (x, y) = make_model(), data(64)
    rnn = m.get_layer('rnn')
    hs = HiddenStates(rnn, x[:1], show=False); m.fit(x, y, epochs=1, verbose=0, callbacks=[hs])
    assert hs.layer is rnn
    cases = {'rn': "HiddenStates: model 'seq' has no layer 'rn'. Did you mean 'rnn'? Its recurrent layers: 'rnn' (TinyRNN).",
             'dense': "HiddenStates: layer 'dense' (Dense) is not recurrent: it keeps no hidden state per time step. "
                      "Its recurrent layers: 'rnn' (TinyRNN)."}
    for name, msg in cases.items():
        w = m.get_weights()
        with pytest.raises(ValueError) as e: m.fit(x, y, epochs=1, verbose=0, callbacks=[HiddenStates(name, x[:1])])
        assert str(e.value) == msg
        assert all((a == b).all() for a, b in zip(w, m.get_weights()))   # checked before any training
    with pytest.raises(ValueError, match=r"layer 'other' is not in model 'seq'.*Its recurrent layers: 'rnn'"):
        HiddenStates(TinyRNN(2, name='other'), x[:1]).show(m)
    flat = Sequential([Input((4,)), Dense(2, name='d')], name='flat')
    with pytest.raises(ValueError, match="'d' \\(Dense\\) is not recurrent.*It has no recurrent layer: hidden states come from "
                                         "a SimpleRNN, LSTM or GRU"):
        HiddenStates('d', np.zeros((1, 4))).show(flat)
    with pytest.raises(TypeError, match="HiddenStates needs a recurrent layer or its name"): HiddenStates(3, x[:1])
    with pytest.raises(ValueError, match="every >= 1"): HiddenStates('rnn', x[:1], every=0)
    with pytest.raises(ValueError, match="show must be True, False, 'auto' or 'text'"): HiddenStates('rnn', x[:1], show='yes')
    with pytest.raises(ValueError, match="an array of numbers such as x\\[:1\\]"): HiddenStates('rnn', 'hello')
    with pytest.raises(ValueError, match="3 labels for a sample of 10 time steps"):
        m.fit(x, y, epochs=1, verbose=0, callbacks=[HiddenStates('rnn', x[:1], labels='abc')])
    with pytest.raises(ValueError, match="has no model"): HiddenStates('rnn', x[:1]).show()


def test_the_layer_is_found_in_a_nested_model_and_a_bidirectional_shows_both_directions(capsys):
    set_seed(0)
    x, y = data(64)
    inner = Sequential([Input((10, 3)), TinyBidirectional(4, name='bi')], name='inner')
    inp = Input((10, 3))
    m = Model(inp, Dense(1)(inner(inp)), name='outer')
    m.compile('adam', 'mse')
    hs = HiddenStates('bi', x[:1], show=False)
    m.fit(x, y, epochs=2, verbose=0, callbacks=[hs])
    assert list(hs.states) == ['forward', 'backward'] and hs.states['backward'].shape == (10, 4)
    bi = m.get_layer('inner').layers[0]
    m.predict(x[:1], verbose=0)
    assert np.allclose(hs.states['backward'], bi.backward_layer.last_hidden_states[0])   # in the input's time order
    assert 'forward: mean |h|' in hs.describe() and '; backward: mean |h|' in hs.describe()
    fig = hidden_states_figure(hs.states, labels=list('abcdefghij'))
    assert [a.get_ylabel() for a in fig.axes[:2]] == ['forward unit', 'backward unit'] and len(fig.axes) == 3   # stacked, one colour bar
    with pytest.raises(ValueError, match="Its recurrent layers: 'bi' \\(TinyBidirectional\\)"): HiddenStates('out', x[:1]).show(m)


def test_capture_runs_in_inference_mode_and_leaves_no_hook():
    set_seed(0)
    x, y = data(64)
    m = Sequential([Input((10, 3)), Dropout(0.5), TinyRNN(5, name='rnn'), Dense(1)]); m.compile('adam', 'mse')
    hs = HiddenStates('rnn', x[3], show=False).bind(m)                    # one sequence without its batch axis
    a, b = hs.capture()[''], hs.capture()['']
    assert np.array_equal(a, b)                                            # no dropout: inference mode
    m(x[3:4], training=False)
    assert np.allclose(a, m.get_layer('rnn').last_hidden_states[0])
    assert m.get_layer('rnn')._hooks == ()
    hs2 = HiddenStates('rnn', x[3:9], show=False).bind(m)                  # a batch: the first sequence
    assert np.allclose(hs2.capture()[''], a)


def test_looking_does_not_change_training():
    x, y = data()
    m1 = make_model(); m1.fit(x, y, epochs=4, batch_size=32, verbose=0)
    clock, m2 = FakeClock(), make_model()
    hs = HiddenStates('rnn', x[:1], show=False, interval=0, clock=clock)
    m2.fit(x, y, epochs=4, batch_size=32, verbose=0, callbacks=[ticker(clock, 10), hs])
    assert hs.epochs == [0, 1, 2, 3, 4]                                    # a look after every epoch
    assert all(np.array_equal(a, b) for a, b in zip(m1.get_weights(), m2.get_weights()))


def test_show_outside_fit(monkeypatch, capsys, shown):
    m, (x, y) = make_model(), data(64)
    hs = show_hidden_states(m, 'rnn', x[0], labels=list('abcdefghij'))    # in a terminal: a line of text
    assert capsys.readouterr().out.startswith('rnn (TinyRNN) hidden states: mean |h| ') and hs.epochs == [None]
    monkeypatch.setattr(hsmod, 'in_notebook', lambda: True); monkeypatch.setattr(hsmod, '_cell', lambda: 7)
    import seqlearn.widgets.summary as ws
    monkeypatch.setattr(ws, '_cell', lambda: 7)
    hs = HiddenStates('rnn', x[:1]).show(m)                               # in a notebook: the picture, at once ...
    assert len(shown) == 1 and shown[0][1][0] is hs
    hs._ipython_display_(); assert len(shown) == 1                          # ... and not again as the cell's result
    picture_of(hs._repr_mimebundle_())


def test_snapshots_are_bounded():
    m, (x, y) = make_model(), data(64)
    hs = HiddenStates('rnn', x[:1], show=False, max_kept=10).bind(m)
    for e in range(37): hs.capture(e)
    assert len(hs.snapshots) <= 10 and hs.epochs[0] == 0 and hs.epochs[-1] == 36
    assert all(s[''].nbytes == 10 * 6 * 4 for _, s in hs.snapshots)        # (timesteps, units) float32 each


def test_colour_scale_is_centred_at_zero():
    h = np.tanh(np.random.default_rng(0).normal(size=(7, 3))).astype(np.float32)
    im = hidden_states_figure({'': h}).axes[0].images[0]
    assert im.get_clim() == (-1.0, 1.0) and im.get_cmap().name == 'RdBu_r'
    assert hidden_states_figure({'': 2.5 * h / np.abs(h).max()}).axes[0].images[0].get_clim() == (-2.5, 2.5)   # relu states
    assert hidden_states_figure({'': h}, vmax=0.5).axes[0].images[0].get_clim() == (-0.5, 0.5)


def test_a_subclassed_model_even_before_it_is_built(capsys):
    "A subclassed model builds on its first call by running its layers on zeros: the view shows the sample's states, not those."
    class Sub(Model):
        def __init__(self):
            super().__init__(name='sub'); self.rnn = TinyRNN(5, name='rnn'); self.out = Dense(1)
        def call(self, x, training=None): return self.out(self.rnn(x))
    x, y = data(64)
    set_seed(0); m = Sub()
    hs = HiddenStates('rnn', x[:2], show='text').show(m)                   # not built: the sample is taken as a batch
    m(x[:1], training=False)
    assert np.abs(hs.states['']).mean() > 0.05 and np.allclose(hs.states[''], m.rnn.last_hidden_states[0])
    m.compile('adam', 'mse')
    hs = HiddenStates('rnn', x[0], show=False)                             # built: one sequence without its batch axis
    m.fit(x, y, epochs=2, verbose=0, callbacks=[hs])
    assert hs.epochs == [0, 2] and hs.states[''].shape == (10, 5)
