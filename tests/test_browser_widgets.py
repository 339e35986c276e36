"""The widgets in a live kernel and in a real browser.

- `test_stop_in_live_kernel`: a real ipykernel (through jupyter_client) runs `fit(verbose='auto')`; a `comm_msg`
  'click' sent to the Stop button while the cell runs must stop training early, and a cell queued behind the
  fit must still run afterwards (it was deferred, not lost).
- `test_widgets_in_browser[lab|notebook]`: JupyterLab 4 / Notebook 7 on a free port, driven by headless Chromium
  through playwright: run a notebook with a live summary and a long fit, watch the bars advance in place,
  click Stop, check that training stopped early; then a fit that runs to the end (bars at 100%, plot image)
  with `WeightHistograms`, whose epoch slider is moved from the keyboard and must change the picture; last, a
  functional model's live summary, whose diagram must draw its graph (a box per layer, an arrow per connection);
  and a CNN, whose live summary lists its conv, pooling and normalization layers (moving statistics counted as
  non-trainable) and whose `ActivationStats` draws its picture at natural size.
  Screenshots go to artifacts/.

Skipped, with the reason, when /usr/bin/chromium, playwright or jupyterlab/notebook are missing.
"""
import json, os, queue, re, shutil, signal, socket, subprocess, sys, time, urllib.request
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / 'artifacts'
CHROMIUM = '/usr/bin/chromium'
CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
                 '--disable-sync', '--no-first-run']
EPOCHS = 3000   # far more than the test waits for: only a working Stop ends the fit in time

SETUP = """\
import time, numpy as np
from seqlearn import Sequential, Dense, Input, set_seed
set_seed(0)
x = np.random.default_rng(0).normal(size=(2048, 8)).astype(np.float32)
y = x[:, :1] * 2 - x[:, 1:2]
model = Sequential([Input((8,)), Dense(64, activation='relu'), Dense(1)], name='browser_test')
model.compile('adam', 'mse', metrics=['mae'])
model.summary(live=True)"""

# test instrumentation: when the Stop click is handled in the kernel, and after how many updates
PROBE = """\
import seqlearn.widgets.progress as _p
stats = {}
_orig_on_stop = _p.TrainingProgress._on_stop
def _on_stop(self, b=None):
    stats.setdefault('t_stop', time.time()); stats.setdefault('it_stop', int(self.model.optimizer.iterations))
    _orig_on_stop(self, b)
_p.TrainingProgress._on_stop = _on_stop"""

FIT = f"""\
t0 = time.time()
history = model.fit(x, y, epochs={EPOCHS}, batch_size=32, verbose='auto')
print(json.dumps(dict(epochs=len(history.history['loss']), t0=t0, t_end=time.time(),
                      it_end=int(model.optimizer.iterations), **stats)))"""

AFTER = "print('AFTER FIT CELL RAN')"

# the third widget, and a fit that runs to the end (its bars must reach 100%)
HIST = """\
from seqlearn.widgets import WeightHistograms
hist = WeightHistograms(model)
h2 = model.fit(x, y, epochs=6, batch_size=256, verbose='auto', callbacks=[hist])
hist"""


def _need(mod):
    try: __import__(mod)
    except ImportError: pytest.skip(f"{mod} is not installed (pip install -e '.[dev]')")


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]


def _parse_result(text):
    m = re.search(r'\{"epochs".*\}', text)
    assert m, f"no result line in output: {text[-2000:]!r}"
    return json.loads(m.group(0))


# ---------------------------------------------------------------------------------------------------------
# a live kernel, no browser

def test_stop_in_live_kernel():
    _need('jupyter_client'); _need('ipykernel')
    from jupyter_client.manager import start_new_kernel
    km, kc = start_new_kernel(kernel_name='python3', cwd=str(ROOT))
    try:
        r = kc.execute_interactive('import json\n' + SETUP + '\n' + PROBE, timeout=60)
        assert r['content']['status'] == 'ok'
        # the widget front-end (ipywidgets 8.1.9) sends its comm messages from a kernel subshell: do the same
        kc.control_channel.send(kc.session.msg('create_subshell_request', {}))
        subshell = kc.control_channel.get_msg(timeout=10)['content'].get('subshell_id')
        fit_id, after_id = kc.execute(FIT), kc.execute(AFTER)   # the second waits behind the fit
        stop_id = t_click = None
        texts, t_start, done = [], time.time(), False
        while time.time() - t_start < 180 and not done:
            try: msg = kc.get_iopub_msg(timeout=0.1)
            except queue.Empty: msg = None
            if msg:
                c, pid = msg['content'], msg['parent_header'].get('msg_id')
                if msg['msg_type'] == 'comm_open' and c.get('data', {}).get('state', {}).get('description') == 'Stop':
                    stop_id, t_seen = c['comm_id'], time.time()
                elif msg['msg_type'] == 'stream': texts.append((pid, c['text']))
                elif msg['msg_type'] == 'status' and c['execution_state'] == 'idle' and pid == after_id: done = True
            if stop_id and t_click is None and time.time() - t_seen > 1.5:
                click = kc.session.msg('comm_msg', {'comm_id': stop_id, 'data': {'method': 'custom', 'content': {'event': 'click'}}})
                if subshell: click['header']['subshell_id'] = subshell
                kc.shell_channel.send(click); t_click = time.time()
        assert stop_id, "no Stop button was displayed"
        assert t_click, "never clicked"
        res = _parse_result(''.join(t for p, t in texts if p == fit_id))
        assert res['epochs'] < EPOCHS, res
        assert 't_stop' in res, "the click was never handled by the kernel"
        assert res['t_stop'] - t_click < 1.0, res                 # handled within a poll interval or so
        assert res['it_end'] == res['it_stop'], res              # fit ended right after that batch
        assert any('AFTER FIT CELL RAN' in t for p, t in texts if p == after_id), texts[-3:]
        print(f"kernel: stop handled {res['t_stop'] - t_click:.3f}s after the click, fit returned "
              f"{res['t_end'] - t_click:.3f}s after it, {res['it_end'] - res['it_stop']} updates after it was handled, "
              f"{res['epochs']}/{EPOCHS} epochs")
    finally:
        kc.stop_channels(); km.shutdown_kernel(now=True)


# ---------------------------------------------------------------------------------------------------------
# a real browser
# a functional model: the live summary draws its graph (8 layers as boxes, 9 connections as arrows)
GRAPH = """\
from seqlearn import Model, Input, Dense, concatenate, add
a, b = Input((8,), name='ga'), Input((4,), name='gb')
shared = Dense(8, activation='tanh', name='gshared')
h = concatenate([add([a, shared(a)], name='gres'), shared(Dense(8, name='gproj')(b))], name='gjoin')
graph_model = Model([a, b], [Dense(1, name='gout1')(h), Dense(2, name='gout2')(h)], name='graph_test')
graph_model.summary(live=True)"""

# a CNN watched from inside: its live summary lists the conv layers; ActivationStats (live by default in a
# notebook) draws its picture after the fit
CNN = """\
from seqlearn import Conv2D, MaxPooling2D, BatchNormalization, Flatten, ActivationStats
xi = np.random.default_rng(1).normal(size=(256, 12, 12, 1)).astype(np.float32)
cnn = Sequential([Input((12, 12, 1)), Conv2D(8, 3, activation='relu'), MaxPooling2D(), BatchNormalization(), Flatten(), Dense(1)], name='cnn_test')
display(cnn.summary(live=True))
cnn.compile('adam', 'mse')
acts = ActivationStats()
cnn.fit(xi, xi.mean(axis=(1, 2)), epochs=3, batch_size=32, verbose=0, callbacks=[acts])"""

ACTS_VIEW = """() => { const b = Array.from(document.querySelectorAll('.widget-vbox'))
    .find(b => b.innerText.includes('batches recorded')); const i = b && b.querySelector('img');
    return i && i.naturalWidth > 0 ? {label: b.innerText, width: i.naturalWidth, shown: i.getBoundingClientRect().width} : null; }"""

GRAPH_SVG = """() => { const svg = Array.from(document.querySelectorAll('.jupyter-widgets svg'))
    .find(s => s.textContent.includes('gjoin (Concatenate)'));
    return svg ? {rects: svg.querySelectorAll('rect').length, lines: svg.querySelectorAll('line').length, text: svg.textContent} : null; }"""


def _notebook(path):
    import nbformat
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(SETUP), nbformat.v4.new_code_cell('import json\n' + PROBE),
                nbformat.v4.new_code_cell(FIT), nbformat.v4.new_code_cell(AFTER), nbformat.v4.new_code_cell(HIST),
                nbformat.v4.new_code_cell(GRAPH), nbformat.v4.new_code_cell(CNN)]
    nb.metadata['kernelspec'] = {'name': 'python3', 'display_name': 'Python 3', 'language': 'python'}
    nbformat.write(nb, str(path))


class Server:
    "JupyterLab or Notebook 7 on a free port with a token, in its own tmp dirs; stopped by PID."
    def __init__(self, app, root, tmp):
        self.port, self.token = _free_port(), 'seqlearn-test-token'
        settings = tmp / 'settings' / '@jupyterlab' / 'apputils-extension'
        settings.mkdir(parents=True, exist_ok=True)
        (settings / 'notification.jupyterlab-settings').write_text(json.dumps({'fetchNews': 'false', 'checkForUpdates': False}))
        env = dict(os.environ, JUPYTERLAB_SETTINGS_DIR=str(tmp / 'settings'), JUPYTERLAB_WORKSPACES_DIR=str(tmp / 'ws'),
                   JUPYTER_RUNTIME_DIR=str(tmp / 'runtime'), PYTHONPATH=str(ROOT))
        cls = 'LabApp' if app == 'lab' else 'JupyterNotebookApp'
        cmd = [sys.executable, '-m', 'jupyterlab' if app == 'lab' else 'notebook', '--no-browser', '--ip', '127.0.0.1',
               '--port', str(self.port), f'--ServerApp.token={self.token}', '--allow-root', f'--ServerApp.root_dir={root}',
               '--ServerApp.port_retries=0', f'--{cls}.expose_app_in_browser=True']
        self.log = open(tmp / f'{app}.log', 'w')
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=env, cwd=str(root))
        self.url = f'http://127.0.0.1:{self.port}'
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(f'{self.url}/api/status?token={self.token}', timeout=2) as r:
                    if r.status == 200: break
            except OSError: pass
            if self.proc.poll() is not None or time.time() > deadline:
                self.stop(); pytest.fail(f"{app} did not start: {(tmp / f'{app}.log').read_text()[-2000:]}")
            time.sleep(0.2)

    def stop(self):
        if self.proc.poll() is None:
            try:   # shuts the kernels down too
                req = urllib.request.Request(f'{self.url}/api/shutdown?token={self.token}', method='POST')
                urllib.request.urlopen(req, timeout=5).close()
            except OSError: self.proc.send_signal(signal.SIGTERM)
            try: self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired: self.proc.kill(); self.proc.wait(timeout=10)
        self.log.close()


OUTPUT_TEXT = "Array.from(document.querySelectorAll('.jp-OutputArea-output')).map(e => e.innerText).join('\\n')"
SUMMARY_TEXT = "() => document.querySelector('table.sl-sum').closest('.widget-html, .jupyter-widgets').innerText"


def _bars(page):
    "Widths (%) of the progress bars in the fit cell: [epoch, batch]."
    return page.evaluate("""() => Array.from(document.querySelectorAll('.widget-hprogress .progress-bar'))
        .map(e => parseFloat(e.style.width) || 0)""")


def _out_state(page):
    "What the output areas hold: number of output items and of plain-text lines."
    return page.evaluate("""() => ({
        items: document.querySelectorAll('.jp-OutputArea-output').length,
        text: Array.from(document.querySelectorAll('.jp-OutputArea-output .jp-RenderedText, .jp-OutputArea-output pre'))
              .map(e => e.innerText).join('\\n')})""")


@pytest.mark.parametrize('app', ['lab', 'notebook'])
def test_widgets_in_browser(app, tmp_path):
    if not Path(CHROMIUM).exists(): pytest.skip(f"{CHROMIUM} missing (apt-get install -y chromium)")
    _need('playwright'); _need('jupyterlab')
    if app == 'notebook': _need('notebook')
    from playwright.sync_api import sync_playwright
    ARTIFACTS.mkdir(exist_ok=True)
    root = tmp_path / 'root'; root.mkdir()
    _notebook(root / 'widgets.ipynb')
    server = Server(app, root, tmp_path)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={'width': 1280, 'height': 1000})
                path = '/lab/tree/widgets.ipynb' if app == 'lab' else '/notebooks/widgets.ipynb'
                page.goto(f'{server.url}{path}?token={server.token}')
                page.wait_for_function("() => window.jupyterapp && document.querySelector('.jp-Notebook .jp-Cell')", timeout=60000)
                # wait for the kernel to be ready, then run every cell (the AFTER cell is queued behind the fit)
                page.wait_for_function("""() => { const w = window.jupyterapp.shell.currentWidget;
                    return w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel
                           && w.sessionContext.session.kernel.connectionStatus === 'connected'
                           && w.sessionContext.session.kernel.status === 'idle'; }""", timeout=60000)
                page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")  # no await: it resolves when all cells are done

                # the live summary renders as a table
                page.wait_for_selector('table.sl-sum', timeout=60000)
                summary = page.evaluate(SUMMARY_TEXT)
                assert 'browser_test' in summary and 'Total params' in summary and 'dense' in summary.lower(), summary

                # bars appear and advance, in place
                page.wait_for_selector('.widget-hprogress .progress-bar', timeout=60000)
                page.wait_for_function("() => document.querySelectorAll('.widget-hprogress').length >= 2", timeout=30000)
                page.wait_for_function("""() => Array.from(document.querySelectorAll('.widget-hprogress .progress-bar'))
                    .some(e => parseFloat(e.style.width) > 0)""", timeout=30000)
                b1, o1 = _bars(page), _out_state(page)
                time.sleep(1.5)
                b2, o2 = _bars(page), _out_state(page)
                progress = page.locator('.widget-vbox', has=page.locator('.widget-hprogress')).first
                progress.scroll_into_view_if_needed()
                page.screenshot(path=str(ARTIFACTS / f'browser_{app}_training.png'))
                assert b1 != b2, (b1, b2)                              # the bars move
                assert o2['items'] == o1['items'], (o1, o2)           # no new output per update
                assert o2['text'].count('\n') == o1['text'].count('\n'), (o1['text'][-500:], o2['text'][-500:])
                assert 'epochs' not in o2['text']                     # the fit is still running

                # Stop
                button = page.locator('.jupyter-widgets button:has-text("Stop")')
                t_click = time.time()
                button.click()
                page.wait_for_function(f"() => ({OUTPUT_TEXT}).includes('\"epochs\"')", timeout=180000)  # a Stop that fails: the whole fit
                t_seen = time.time()
                page.wait_for_function(f"() => ({OUTPUT_TEXT}).includes('AFTER FIT CELL RAN')", timeout=30000)
                time.sleep(0.5)   # let the final widget state arrive
                progress.scroll_into_view_if_needed()
                page.screenshot(path=str(ARTIFACTS / f'browser_{app}_stopped.png'))
                progress.screenshot(path=str(ARTIFACTS / f'browser_{app}_progress_widget.png'))
                res = _parse_result(page.evaluate(f"() => {OUTPUT_TEXT}"))
                status = page.inner_text('.jp-Notebook')

                # the second fit runs to the end: its bars reach 100%, its plot is an image; then the histograms
                page.wait_for_selector('.widget-hslider', timeout=120000)
                page.wait_for_function("""() => { const bars = Array.from(document.querySelectorAll('.widget-hprogress .progress-bar'));
                    return bars.length >= 4 && bars.slice(-2).every(e => parseFloat(e.style.width) >= 99.9); }""", timeout=60000)
                fit2_plot = page.evaluate("""() => { const boxes = Array.from(document.querySelectorAll('.widget-vbox'))
                    .filter(b => b.querySelector('.widget-hprogress'));
                    const img = boxes[boxes.length - 1].querySelector('img');
                    return img ? img.naturalWidth : 0; }""")
                hist_box = page.locator('.widget-vbox', has=page.locator('.widget-hslider')).last
                hist_box.scroll_into_view_if_needed()
                page.wait_for_function("""() => { const b = Array.from(document.querySelectorAll('.widget-vbox'))
                    .filter(b => b.querySelector('.widget-hslider')).pop(); const i = b && b.querySelector('img');
                    return i && i.naturalWidth > 0; }""", timeout=30000)
                hist_state = lambda: page.evaluate("""() => { const b = Array.from(document.querySelectorAll('.widget-vbox'))
                    .filter(b => b.querySelector('.widget-hslider')).pop();
                    return {label: b.innerText, src: b.querySelector('img').src.length + ':' + b.querySelector('img').src.slice(-64)}; }""")
                page.wait_for_function(f"() => ({ACTS_VIEW})() !== null", timeout=60000)  # the last cell is done: the kernel is free
                page.wait_for_function("() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status === 'idle'", timeout=60000)
                before = hist_state()
                handle = hist_box.locator('.noUi-handle').first
                handle.focus(); page.keyboard.press('Home')   # move the epoch slider to the first snapshot
                page.wait_for_function("""(before) => { const b = Array.from(document.querySelectorAll('.widget-vbox'))
                    .filter(b => b.querySelector('.widget-hslider')).pop();
                    return b.innerText !== before; }""", arg=before['label'], timeout=30000)
                time.sleep(0.5)
                after = hist_state()
                page.screenshot(path=str(ARTIFACTS / f'browser_{app}_histograms.png'))
                hist_box.screenshot(path=str(ARTIFACTS / f'browser_{app}_histogram_widget.png'))
                final_summary = page.evaluate(SUMMARY_TEXT)
                # the functional model's live summary: its graph, drawn as boxes and arrows
                page.wait_for_function(f"() => ({GRAPH_SVG})() !== null", timeout=60000)
                graph = page.evaluate(GRAPH_SVG)
                svg = page.locator('.jupyter-widgets svg', has_text='gjoin (Concatenate)').first
                svg.scroll_into_view_if_needed()
                svg.screenshot(path=str(ARTIFACTS / f'browser_{app}_graph_summary.png'))
                # the CNN: conv layers in its live summary, and the ActivationStats picture
                acts = page.evaluate(ACTS_VIEW)
                cnn_summary = page.evaluate("""() => Array.from(document.querySelectorAll('table.sl-sum'))
                    .map(t => t.closest('.jp-OutputArea-output').innerText).find(t => t.includes('cnn_test')) || ''""")
                view = page.locator('.widget-vbox', has_text='batches recorded').first
                view.scroll_into_view_if_needed()
                view.screenshot(path=str(ARTIFACTS / f'browser_{app}_activation_stats.png'))
            finally:
                browser.close()
    finally:
        server.stop()
    assert server.proc.poll() is not None
    assert res['epochs'] < EPOCHS, res
    assert 't_stop' in res, "the click never reached the kernel during fit"
    assert res['t_stop'] - t_click < 2.0, res
    assert res['it_end'] == res['it_stop'], res                       # no batch after the click was handled
    assert 'Stopped' in status, status[-1000:]
    assert 'Trained:' in final_summary, final_summary                # the live summary followed the fit
    assert fit2_plot > 0                                              # the completed fit's plot is an image
    assert 'after epoch 6 of 6' in before['label'] and 'after epoch 0 of 6' in after['label'], (before, after)
    assert before['src'] != after['src']                             # the slider moved the picture
    assert graph['rects'] == 8 and graph['lines'] == 9, graph          # one box per layer, one arrow per connection
    assert 'gshared (Dense)' in graph['text'] and 'gres (Add)' in graph['text'], graph
    assert '24 batches recorded' in acts['label'] and abs(acts['shown'] - acts['width'] / 2) <= 1, acts  # 3 epochs x 8; natural size
    assert all(w in cnn_summary for w in ('conv2d', 'Conv2D', 'MaxPooling2D', 'BatchNormalization', 'non-trainable: 16')), repr(cnn_summary[:800])
    line = (f"{app}: stop handled {res['t_stop'] - t_click:.3f}s after the click, fit returned {res['t_end'] - t_click:.3f}s "
            f"after it (seen in the page after {t_seen - t_click:.2f}s), {res['it_end'] - res['it_stop']} updates after "
            f"handling, {res['epochs']}/{EPOCHS} epochs, {res['it_end']} updates in all")
    print(line)
    with open(ARTIFACTS / 'browser_widgets.txt', 'a') as f: f.write(line + '\n')
