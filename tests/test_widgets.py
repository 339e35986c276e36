"Headless tests of seqlearn.widgets: the display objects driven directly, no kernel, no browser."
import subprocess, sys
import numpy as np
import pytest
from seqlearn import Sequential, Dense, Input, set_seed
from seqlearn.callbacks import LambdaCallback, progress_display, ProgbarLogger
from seqlearn.widgets import ModelSummary, TrainingProgress, WeightHistograms

WIDGET = 'application/vnd.jupyter.widget-view+json'


def data(n=256):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    return x, (x @ np.array([1., -2., .5, 3.], np.float32))[:, None]


def make_model():
    set_seed(0)
    m = Sequential([Input((4,)), Dense(16, activation='relu'), Dense(1)])
    m.compile('adam', 'mse', metrics=['mae'])
    return m


class FakeClock:
    def __init__(self): self.t = 0.0
    def __call__(self): return self.t


def test_import_is_headless():
    code = "import sys, seqlearn, seqlearn.widgets; assert 'matplotlib.pyplot' not in sys.modules; print('ok')"
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env={'PATH': '', 'MPLBACKEND': ''})
    assert out.stdout.strip() == 'ok', out.stderr


def test_engine_does_not_import_widgets():
    code = ("import sys, numpy as np, seqlearn\n"
            "m = seqlearn.Sequential([seqlearn.Dense(1, input_shape=(2,))]); m.compile('sgd', 'mse')\n"
            "m.fit(np.zeros((4, 2)), np.zeros((4, 1)), verbose=0)\n"
            "print(any(k.startswith(('ipywidgets', 'matplotlib', 'seqlearn.widgets')) for k in sys.modules))")
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert out.stdout.strip() == 'False', out.stderr


def test_terminal_gets_text_progress():
    assert isinstance(progress_display('auto'), ProgbarLogger)


def test_summary_follows_add_pop_build_freeze_and_fit():
    m = Sequential([Dense(8, activation='relu'), Dense(3)], name='live')
    s = ModelSummary(m)
    assert '?' in s.table                            # unbuilt
    m.build((None, 4))
    assert '(None, 8)' in s.table and '(None, 3)' in s.table and 'Total params: <b>67</b>' in s.table
    m.add(Dense(2)); assert s.last_event == 'add' and 'Total params: <b>75</b>' in s.table
    m.pop(); assert s.last_event == 'pop' and 'Total params: <b>67</b>' in s.table
    m.layers[0].trainable = False
    assert 'class="frozen"' in s.table and 'non-trainable: 40' in s.table
    assert 'stroke-dasharray' in s.diagram and '(None, 4)' in s.diagram
    m.layers[0].trainable = True
    m.compile('adam', 'mse'); s.refresh()           # compile sends no model event (yet)
    assert 'not trained yet' in s.table
    x = np.zeros((64, 4), np.float32); y = np.zeros((64, 3), np.float32)
    m.fit(x, y, epochs=1, verbose=0, callbacks=[TrainingProgress(show=False)])
    assert 'Trained: 2 updates' in s.table and s.last_event == 'trained'
    n = s.redraws; s.close(); m.add(Dense(1))
    assert s.redraws == n and s._on_event not in m._observers


def test_summary_bundle_and_live_flag():
    m = make_model()
    s = m.summary(live=True)
    assert isinstance(s, ModelSummary)
    b = s._repr_mimebundle_()
    assert set(b) == {'text/plain', 'text/html'}      # no widget view: a saved notebook shows it with no kernel
    assert '<table' in b['text/html'] and 'data:image/svg+xml;base64,' in b['text/html'] and '<svg' not in b['text/html']  # survives sanitizing
    assert s._repr_html_().startswith('<div')


def test_live_summary_shows_at_once_and_not_twice(monkeypatch):
    "In a notebook, summary(live=True) shows at once (also not as the cell's last line); as the cell's result it does not repeat."
    import IPython.display, seqlearn.widgets.summary as ws
    shown, cell = [], [7]
    monkeypatch.setattr(ws, 'in_notebook', lambda: True); monkeypatch.setattr(ws, '_cell', lambda: cell[0])
    monkeypatch.setattr(IPython.display, 'display', lambda *a, **k: shown.append((a, k)))
    s = make_model().summary(live=True)
    assert len(shown) == 1 and shown[0][0][0] is s                  # display(s) at once ...
    s._ipython_display_(); assert len(shown) == 1                      # ... so the cell's result shows nothing more
    cell[0] = 8; s._ipython_display_(); assert len(shown) == 2        # shown again in a later cell: a second view
    assert shown[1][1]['display_id'] == s._display_id


def test_progress_state_after_fit_and_fallback():
    m = make_model(); x, y = data()
    tp = TrainingProgress(plot_interval=0, show=False)
    h = m.fit(x, y, epochs=3, batch_size=32, validation_split=0.25, verbose=0, callbacks=[tp])
    assert tp.done and not tp.stopped and len(h.epoch) == 3
    assert tp.epoch_bar.value == tp.epoch_bar.max == 3 and tp.batch_bar.value == tp.batch_bar.max == 6
    assert tp.best[0] == 'val_loss' and 1 <= tp.best[1] <= 3
    assert 'Done in' in tp.status.value and '3 epochs' in tp.status.value and 'best epoch' in tp.status.value
    assert tp.metrics_html.value == '' and tp.stop_button.layout.display == 'none'   # final metrics shown once; no dead button
    assert tp.stop_button.disabled
    b = tp._repr_mimebundle_()
    assert set(b) == {'text/plain', 'text/html', 'image/png'}   # finished: the picture, no widget view
    assert 'data:image/png;base64,' in b['text/html']
    import base64
    assert base64.b64decode(b['image/png']).startswith(b'\x89PNG')


def test_stop_button_mid_fit():
    m = make_model(); x, y = data()
    tp = TrainingProgress(show=False)
    click = LambdaCallback(on_train_batch_end=lambda b, logs=None: tp.stop_button.click() if len(tp.epochs_logs) == 2 and b == 3 else None)
    h = m.fit(x, y, epochs=10, batch_size=32, verbose=0, callbacks=[tp, click])
    assert len(h.epoch) == 3 < 10                      # two full epochs and the one cut short
    assert m.optimizer.iterations == 2 * 8 + 4
    assert tp.stopped and 'Stopped' in tp.status.value


def test_progress_throttle_with_injected_clock():
    m = make_model(); x, y = data()
    clock = FakeClock()
    tick = LambdaCallback(on_train_batch_begin=lambda b, logs=None: setattr(clock, 't', clock.t + 0.005))
    tp = TrainingProgress(clock=clock, interval=0.1, plot_interval=1.0, show=False)
    tp._shown = True                                  # as if displayed, so the plot is live
    m.fit(x, y, epochs=50, batch_size=32, verbose=0, callbacks=[tick, tp])   # 400 batches, 2 simulated seconds
    assert tp.redraws <= 2.0 / 0.1 + 2, tp.redraws
    assert tp.redraws >= 10
    assert tp.plots <= 2.0 / 1.0 + 2, tp.plots


def test_smoothed_batch_loss_is_bounded():
    from seqlearn.widgets.progress import _Smoother
    sm = _Smoother(max_points=100); sm.new_epoch()
    for i in range(1000): sm.update(i, 1.0, i + 1)
    assert len(sm.x) <= 100 and np.allclose(sm.y, 1.0)


def test_histograms_counts_and_view():
    m = make_model(); x, y = data()
    wh = WeightHistograms(m, bins=12, gradients=True)
    m.fit(x, y, epochs=3, batch_size=32, verbose=0, callbacks=[wh])
    assert wh.epochs == [0, 1, 2, 3]
    for layer in m.layers:
        for v in layer.weights:
            for key in (f"{layer.name}/{v.name}", f"{layer.name}/{v.name}.grad"):
                for i in range(4):
                    counts, edges = wh.histogram(key, i)
                    assert counts.sum() == v.size and len(counts) == 12 and len(edges) == 13
    mat, edges, eps = wh.overview(wh.keys[0])
    assert mat.shape == (12, 4) and (mat.sum(axis=0) == m.layers[0].kernel.size).all()
    wh.record()                                       # by hand, after training
    assert wh.epochs[-1] == 4
    b = wh._repr_mimebundle_()
    assert set(b) == {'text/plain', 'text/html', 'image/png'}   # no widget view
    view = b['text/html']
    # the browser picks the epoch and the array: every snapshot ships, the last one shown
    assert 'type="range" min="0" max="4" value="4"' in view and view.count('oninput=') == 2
    assert view.count('class="sl-strip"') == view.count('class="sl-mark"') == len(wh.keys) == 8
    assert all(f'<option value="{k}">' in view for k in wh.keys)
    assert view.count('<span data-e="4">') == 1 + len(wh.keys)        # the label and each array's range, shown
    assert view.count('<span data-e="1" style="display:none">') == 1 + len(wh.keys)
    assert '>after epoch 1 of 4</span>' in view


def test_histogram_strips_hold_every_snapshot():
    "Each array's film strip: one band per snapshot, the window one band tall, shifted to the last; bars where counts are."
    import base64, io, re
    from matplotlib.image import imread
    from seqlearn.widgets.summary import png_size
    m = make_model(); x, y = data()
    wh = WeightHistograms(m, bins=10)
    m.fit(x, y, epochs=2, batch_size=32, verbose=0, callbacks=[wh])
    view = wh._static_html()
    img = re.search(r'<img class="sl-strip" data-h="(\d+)" width="(\d+)" height="(\d+)"[^>]*margin-top:-(\d+)px[^>]*base64,([^"]+)"', view)
    h, w, total, shift, data64 = int(img[1]), int(img[2]), int(img[3]), int(img[4]), img[5]
    png = base64.b64decode(data64)
    assert (total, shift) == (3 * h, 2 * h) and png_size(png) == (2 * w, 2 * total)   # 3 snapshots, drawn at 2x
    pixels = imread(io.BytesIO(png))[:, :, :3]
    counts = wh.histogram(wh.keys[0], 0)[0]
    band0 = pixels[:2 * h]                                   # snapshot 0, top band
    bars = (band0[-3] < 0.9).any(axis=-1).reshape(10, -1).any(axis=1)   # which bins have a bar at the bottom row
    assert (bars == (counts > 0)).all(), (bars, counts)
    wh.max_shown = 2; wh.record()
    assert wh._shown_snapshots() == [0, 3] and 'max="1"' in wh._static_html()


def test_histograms_memory_is_bounded():
    m = make_model()
    wh = WeightHistograms(m, bins=30)
    for _ in range(5): wh.record()
    sizes = {k: h[0].nbytes for _, snap in wh.snapshots for k, h in snap.items()}
    assert max(sizes.values()) == 30 * 8


def test_histograms_need_a_model():
    with pytest.raises(ValueError, match='has no model'): WeightHistograms().record()


def test_widgets_follow_a_functional_model():
    """A two-input, two-output model: the summary draws its graph, the progress widget shows every output's
    loss and metric, the histograms cover every layer with weights."""
    from seqlearn import Model, Input, Dense, concatenate, add
    a, b = Input((4,), name='a'), Input((3,), name='b')
    shared = Dense(4, activation='tanh', name='shared')
    h = Dense(8, activation='relu', name='h')(concatenate([add([a, shared(a)], name='res'), b]))
    m = Model([a, b], [Dense(1, name='price')(h), Dense(2, activation='softmax', name='kind')(h)], name='graph')
    m.compile('adam', loss={'price': 'mse', 'kind': 'sparse_categorical_crossentropy'}, metrics={'kind': ['accuracy']})
    s = ModelSummary(m)
    svg = s.diagram   # shown as an <img> with this SVG as its data URI
    assert svg.count('<rect') == 8 and svg.count('<line') == 8, svg   # 8 layers (inputs included); 8 connections
    assert 'Connected to' in s.table and 'shared[0][0]' in s.table
    r = np.random.default_rng(0)
    xa, xb = r.normal(size=(64, 4)), r.normal(size=(64, 3))
    tp, hist = TrainingProgress(), WeightHistograms(m)
    m.fit([xa, xb], [xa[:, :1], (xa[:, 0] > 0).astype(int)], epochs=3, validation_split=0.25, callbacks=[tp, hist], verbose=0)
    html = tp._static_html()
    assert all(k in html for k in ('price_loss', 'kind_accuracy', 'val_kind_loss')), html[:500]
    assert 'Trained:' in s.table                                # the summary followed the fit
    assert len(hist.keys) == 8, hist.keys                            # kernel and bias of 4 Dense layers


def test_progress_eta_covers_the_whole_fit_and_the_end_says_what_happened():
    t = [0.0]
    tp = TrainingProgress(show=False, clock=lambda: t[0], interval=0)
    tp.set_params({'epochs': 3, 'steps': 10, 'batch_size': 4, 'samples': 40})
    class M: stop_training = False
    tp.set_model(M())
    tp.on_train_begin()
    tp.on_epoch_begin(0)
    for b in range(5):
        t[0] += 1.0; tp.on_train_batch_end(b, {'loss': 1.0})
    # 5 s for half an epoch of 3: 0.5 epochs done, 2.5 to go at 10 s each
    assert '5s elapsed' in tp.batch_label.value and 'ETA 25s' in tp.batch_label.value, tp.batch_label.value
    for b in range(5, 10):
        t[0] += 1.0; tp.on_train_batch_end(b, {'loss': 1.0})
    tp.on_epoch_end(0, {'loss': 1.0}); tp._on_stop(); tp.on_train_end()
    assert 'Stopped at epoch 1 of 3 after 10.0 s' in tp.status.value, tp.status.value


def test_pictures_are_sharp_and_shown_at_their_natural_size():
    "Curves and histograms are drawn at twice the pixels and shown at half: sharp on HiDPI, never stretched."
    from seqlearn.widgets.summary import png_size
    m = Sequential([Input((4,)), Dense(3, activation='relu'), Dense(1)]); m.compile('sgd', 'mse')
    x = np.random.default_rng(0).normal(size=(32, 4)).astype('float32')
    tp, hist = TrainingProgress(show=False), WeightHistograms(m)
    tp._shown = True   # as when displayed: the curves are drawn
    m.fit(x, x[:, :1], epochs=2, verbose=0, callbacks=[tp, hist])
    w, h = png_size(tp._png)
    assert tp.image.width == str(w // 2) and f'width="{w // 2}"' in tp._static_html()
    assert tp._png_metadata() == {'image/png': {'width': w // 2, 'height': h // 2}}
    hw = png_size(hist._static_png())[0]
    assert hw >= 2 * 500                                                     # rendered at HiDPI resolution
    import base64, re
    for w_shown, data64 in re.findall(r'<img[^>]*width="(\d+)"[^>]*base64,([^"]+)"', hist._static_html()):
        assert png_size(base64.b64decode(data64))[0] == 2 * int(w_shown)    # the view's strips and heat maps too

def test_a_zero_bias_at_the_start_does_not_widen_the_overview():
    "The bias starts at 0 (a constant): its first snapshot is a point, so the common range is the trained biases', not +-0.5."
    set_seed(0)
    m = Sequential([Input((4,)), Dense(8, activation='tanh'), Dense(1)])
    m.compile('sgd', 'mse')
    wh = WeightHistograms(m, bins=10)
    x = np.random.default_rng(0).normal(size=(64, 4)).astype('float32')
    m.fit(x, x[:, :1] * 0.1, epochs=2, verbose=0, callbacks=[wh])
    key = next(k for k in wh.keys if 'bias' in k)
    mat, edges, eps = wh.overview(key)
    b = m.layers[0].bias.value
    assert edges[0] <= min(b.min(), 0) and edges[-1] >= max(b.max(), 0)
    assert edges[-1] - edges[0] < 0.5 and mat[:, 0].sum() == 8   # all 8 zero biases of epoch 0 in one bin of the narrow range
    counts, e = wh.histogram(key, 0)
    assert counts.sum() == 8 and e[-1] - e[0] <= 0.01
