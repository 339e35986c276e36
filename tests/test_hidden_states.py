"""Headless tests of `HiddenStates` (seqlearn.widgets.hidden_states): the display driven during `fit`, no kernel, no browser,
on seqlearn's SimpleRNN, LSTM, GRU and Bidirectional; and the contract of those layers that it reads (`last_hidden_states`:
None before the first call, (batch, timesteps, units) after each call, in the input's time order; a Bidirectional's
`forward_layer` and `backward_layer`). The browser side is in tests/test_browser_widgets.py (`-k hidden`).
"""
import base64, io, re, time
import numpy as np
import pytest
from seqlearn import Sequential, Model, Input, Dense, Dropout, set_seed
from seqlearn.layers import SimpleRNN, LSTM, GRU, Bidirectional
from seqlearn.callbacks import LambdaCallback
from seqlearn.widgets import HiddenStates, show_hidden_states, hidden_states_figure, hidden_states_html
from seqlearn.widgets.hidden_states import hidden_states_png, PALETTE, state_colours
from seqlearn.widgets.summary import png_size
import seqlearn.widgets.hidden_states as hsmod


def data(n=128, steps=10):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, steps, 3)).astype(np.float32)
    return x, x[:, :, :1].sum(axis=1) / 4


def make_model(units=6, steps=10):
    set_seed(0)
    m = Sequential([Input((steps, 3)), SimpleRNN(units, name='rnn'), Dense(4, activation='relu', name='dense'), Dense(1, name='out')],
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


IMG = r'<img alt="([^"]*)" width="(\d+)" height="(\d+)" style="display:block;max-width:none" src="data:image/png;base64,([^"]+)">'


def picture_of(bundle):
    "The heat maps inline in the bundle's HTML: `<img>`s with data: URIs and the text as HTML (what an untrusted notebook shows)."
    html = bundle['text/html']
    assert '<svg' not in html and '<style' not in html and 'transform' not in html and '<script' not in html
    imgs = re.findall(IMG, html)
    assert imgs and imgs[-1][0] == 'colour scale', html[:300]
    maps = []
    for alt, w, h, b64 in imgs:
        data = base64.b64decode(b64)
        assert data.startswith(b'\x89PNG')
        assert png_size(data) == (2 * int(w), 2 * int(h))   # drawn at twice the pixels, shown at half: sharp on HiDPI
        if alt != 'colour scale': maps.append((alt, data))
    return maps


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
    assert final['text/plain'].startswith('rnn (SimpleRNN) hidden states · epoch 30: mean |h| ')
    assert '<b>rnn (SimpleRNN) hidden states · epoch 30</b>' in final['text/html']   # the title as text, not pixels
    (alt, data_), = picture_of(final)
    assert alt == 'hidden states' and png_size(data_) == (2 * 10 * 28, 2 * 6 * 16)   # 10 steps x 28 px, 6 units x 16 px
    whole = base64.b64decode(final['image/png'])                           # for PNG readers (PDF, LaTeX): the maps and the bar
    assert whole == hidden_states_png(hs.states) and png_size(whole) == (2 * 10 * 28 + 48, 2 * 6 * 16)
    w, h = png_size(whole)
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
    assert re.match(r"rnn \(SimpleRNN\) hidden states · epoch 0: mean \|h\| \d\.\d{3}, saturated \d+%, most active units "
                    r"\d \(\d\.\d\d\), \d \(\d\.\d\d\), \d \(\d\.\d\d\)$", lines[0]), lines[0]
    for e in (1, 2, 3):
        assert lines[2 * e - 1].startswith(f'Epoch {e}/3 - ') and lines[2 * e].startswith(f'rnn (SimpleRNN) hidden states · epoch {e}:')
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
    cases = {'rn': "HiddenStates: model 'seq' has no layer 'rn'. Did you mean 'rnn'? Its recurrent layers: 'rnn' (SimpleRNN).",
             'dense': "HiddenStates: layer 'dense' (Dense) is not recurrent: it keeps no hidden state per time step. "
                      "Its recurrent layers: 'rnn' (SimpleRNN)."}
    for name, msg in cases.items():
        w = m.get_weights()
        with pytest.raises(ValueError) as e: m.fit(x, y, epochs=1, verbose=0, callbacks=[HiddenStates(name, x[:1])])
        assert str(e.value) == msg
        assert all((a == b).all() for a, b in zip(w, m.get_weights()))   # checked before any training
    with pytest.raises(ValueError, match=r"layer 'other' is not in model 'seq'.*Its recurrent layers: 'rnn'"):
        HiddenStates(SimpleRNN(2, name='other'), x[:1]).show(m)
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
    inner = Sequential([Input((10, 3)), Bidirectional(LSTM(4), name='bi')], name='inner')
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
    maps = picture_of({'text/html': hs.to_html()})
    assert [alt for alt, _ in maps] == ['hidden states (forward)', 'hidden states (backward)']   # stacked, one colour bar
    assert '<b style="margin-left:6px">forward</b>' in hs.to_html() and '<b style="margin-left:6px">backward</b>' in hs.to_html()
    fig = hidden_states_figure(hs.states, labels=list('abcdefghij'))
    assert [a.get_ylabel() for a in fig.axes[:2]] == ['forward unit', 'backward unit'] and len(fig.axes) == 3
    with pytest.raises(ValueError, match="Its recurrent layers: 'bi' \\(Bidirectional\\)"): HiddenStates('out', x[:1]).show(m)


def test_capture_runs_in_inference_mode_and_leaves_no_hook():
    set_seed(0)
    x, y = data(64)
    m = Sequential([Input((10, 3)), Dropout(0.5), LSTM(5, name='rnn'), Dense(1)]); m.compile('adam', 'mse')
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
    assert capsys.readouterr().out.startswith('rnn (SimpleRNN) hidden states: mean |h| ') and hs.epochs == [None]
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


def scale_ends(page):
    "The colour scale's labels in the HTML: top, middle, bottom."
    return re.findall(r'<span style="[^"]*text-align:left[^"]*">([^<]*)</span>', page)


def test_colour_scale_is_centred_at_zero():
    h = np.tanh(np.random.default_rng(0).normal(size=(7, 3))).astype(np.float32)
    assert scale_ends(hidden_states_html({'': h})) == ['+1', '0', '-1']
    assert scale_ends(hidden_states_html({'': 2.5 * h / np.abs(h).max()})) == ['+2.5', '0', '-2.5']   # relu states
    assert scale_ends(hidden_states_html({'': h}, vmax=0.5)) == ['+0.5', '0', '-0.5']
    (_, data), = picture_of({'text/html': hidden_states_html({'': np.array([[-1.0], [0.0], [1.0]], np.float32)})})
    from PIL import Image
    px = np.asarray(Image.open(io.BytesIO(data)).convert('RGB'))
    assert (px[0, [0, 60, 120]] == PALETTE[[0, 127, 254]]).all()           # dark blue, white, dark red
    im = hidden_states_figure({'': h}).axes[0].images[0]
    assert im.get_clim() == (-1.0, 1.0) and im.get_cmap().name == 'RdBu_r'
    assert hidden_states_figure({'': 2.5 * h / np.abs(h).max()}).axes[0].images[0].get_clim() == (-2.5, 2.5)   # relu states
    assert hidden_states_figure({'': h}, vmax=0.5).axes[0].images[0].get_clim() == (-0.5, 0.5)


def test_a_subclassed_model_even_before_it_is_built(capsys):
    "A subclassed model builds on its first call by running its layers on zeros: the view shows the sample's states, not those."
    class Sub(Model):
        def __init__(self):
            super().__init__(name='sub'); self.rnn = GRU(5, name='rnn'); self.out = Dense(1)
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


@pytest.mark.parametrize('cls', [SimpleRNN, LSTM, GRU])
def test_the_recurrent_layers_keep_the_contract_hidden_states_reads(cls):
    "None before the first call; (batch, timesteps, units) after every call, in training, inference, fit and predict; in the input's time order."
    set_seed(0)
    x = np.random.default_rng(0).normal(size=(8, 7, 3)).astype(np.float32)
    fwd, back = cls(4, return_sequences=True), cls(4, return_sequences=True, go_backwards=True)
    assert fwd.last_hidden_states is None and back.last_hidden_states is None
    y = fwd(x, training=True)
    assert fwd.last_hidden_states.shape == (8, 7, 4) and np.allclose(fwd.last_hidden_states, y, atol=1e-6)
    back(x); back.set_weights(fwd.get_weights())
    back(x[:1], training=False)                                             # inference, one sequence
    reread = fwd(x[:1, ::-1].copy(), training=False)[:, ::-1]              # the same layer reading the reversed sequence
    assert back.last_hidden_states.shape == (1, 7, 4) and np.allclose(back.last_hidden_states, reread, atol=1e-5)
    assert np.allclose(back.last_hidden_states[:, 0], back(x[:1]) [:, -1], atol=1e-6)   # index 0: the last state read
    m = Sequential([Input((7, 3)), cls(4, name='r'), Dense(1)]); m.compile('adam', 'mse')
    r = m.get_layer('r')
    assert r.last_hidden_states is None
    m.fit(x, x[:, 0, :1], epochs=1, batch_size=4, verbose=0)
    assert r.last_hidden_states.shape == (4, 7, 4)                         # the last training batch
    m.predict(x[:3], verbose=0); assert r.last_hidden_states.shape == (3, 7, 4)
    mask = np.ones((2, 7), bool); mask[:, 5:] = False
    r.call(x[:2], training=False, mask=mask); assert r.last_hidden_states.shape == (2, 7, 4)
    bi = Bidirectional(cls(3, return_sequences=True)); out = bi(x)
    assert bi.forward_layer.last_hidden_states.shape == bi.backward_layer.last_hidden_states.shape == (8, 7, 3)
    assert np.allclose(bi.forward_layer.last_hidden_states, out[..., :3], atol=1e-6)
    assert np.allclose(bi.backward_layer.last_hidden_states, out[..., 3:], atol=1e-6)   # both on the input's time axis


def test_the_live_picture_needs_no_matplotlib(monkeypatch, shown):
    "During fit and at its end the picture is numpy: matplotlib's figure and PNG are never called (they take 30-120 ms)."
    def no(*a, **k): raise AssertionError('matplotlib was used for the live picture')
    monkeypatch.setattr(hsmod, 'figure', no); monkeypatch.setattr(hsmod, 'png', no)
    m, (x, y) = make_model(), data(64)
    clock = FakeClock()
    hs = HiddenStates('rnn', x[:1], show=True, interval=0, clock=clock)
    m.fit(x, y, epochs=3, batch_size=32, verbose=0, callbacks=[ticker(clock, 10), hs])
    assert hs.renders == 4 and len(shown) == 5 and picture_of(shown[-1][1][0])   # 4 looks; the last sent again with its PNG
    with pytest.raises(AssertionError, match='matplotlib was used'): hs.render()   # render() is matplotlib's picture, on request


def test_states_that_are_not_numbers_are_grey():
    h = np.tanh(np.random.default_rng(0).normal(size=(5, 3))).astype(np.float32); h[2, 1] = np.nan
    page = hidden_states_html({'': h})
    assert 'grey: NaN' in page and scale_ends(page) == ['+1', '0', '-1']
    assert state_colours(np.nan, 1) == 255 and list(PALETTE[255]) == [128, 128, 128]
    assert 'grey: NaN' not in hidden_states_html({'': np.nan_to_num(h)})


def test_labels_never_overlap_and_long_sequences_stay_a_reasonable_size():
    "Each label gets a box at least as wide as its text (7.3 px a character); the picture stays about 640 x 160 px or less."
    for T, U in ((5, 2), (12, 8), (40, 32), (300, 64), (1000, 300)):
        h = np.zeros((T, U), np.float32)
        words = [f'w{t}' * (1 + t % 3) for t in range(T)]
        page = hidden_states_html({'': h}, labels=words)
        (_, data), = picture_of({'text/html': page})
        w, ht = png_size(data)
        assert w // 2 <= max(640, T) and ht // 2 <= max(160, U), (T, U, w, ht)
        boxes = re.findall(r'left:(-?\d+)px;top:0px;width:(\d+)px;height:16px;text-align:center;[^"]*">([^<]*)</span>', page)
        assert boxes and all(int(bw) >= 7.3 * len(t) for _, bw, t in boxes), boxes[:3]
        lefts = [int(l) for l, _, _ in boxes]
        assert all(b - a >= int(boxes[0][1]) - 1 for a, b in zip(lefts, lefts[1:]))   # side by side, not on top of each other
