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
  Then, as a teacher would: save (the app's save command), stop the server, start a new one, reopen the notebook:
  every display shows its final picture (summaries with their diagrams, both fits' bars, final line and curves,
  the histograms, whose slider still works with no kernel behind it, the activation picture), no "Error
  displaying widget", no console error; and `nbconvert --to html` of the saved notebook shows the same pictures.
  Screenshots go to artifacts/.
- `test_hidden_states_in_browser`: JupyterLab runs an LSTM's fit with `HiddenStates`: the heat map is redrawn in place
  while the fit runs (later epochs in the same output), its labels sit where they should around the picture (unit
  numbers left, tokens under it, the colour scale's ends beside the bar, 12 px text) and the picture is sharp (twice
  its pixels); a Bidirectional shown outside fit stacks both directions. Saved, the server stopped, the notebook
  reopened by a server with an empty trust database (untrusted, as a fresh clone: JupyterLab's sanitizer runs, shown
  by a control output whose <svg> it removes): the same pictures with the labels at the same places, no error; and
  the nbconvert HTML export, opened in Chromium, shows them too.

Skipped, with the reason, when /usr/bin/chromium, playwright or jupyterlab/notebook are missing.
"""
import base64, json, os, queue, re, shutil, signal, socket, subprocess, sys, time, urllib.request
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
        shown = []   # the displays made by the setup cell: the live summary
        for code in ('import json\n' + SETUP, PROBE):
            r = kc.execute_interactive(code, timeout=60, output_hook=shown.append)
            assert r['content']['status'] == 'ok'
        summary_id = next(m['content']['transient']['display_id'] for m in shown if m['msg_type'] == 'display_data')
        # the widget front-end (ipywidgets 8.1.9) sends its comm messages from a kernel subshell: do the same
        kc.control_channel.send(kc.session.msg('create_subshell_request', {}))
        subshell = kc.control_channel.get_msg(timeout=10)['content'].get('subshell_id')
        fit_id, after_id = kc.execute(FIT), kc.execute(AFTER)   # the second waits behind the fit
        stop_id = t_click = None
        texts, displays, t_start, done = [], [], time.time(), False
        while time.time() - t_start < 180 and not done:
            try: msg = kc.get_iopub_msg(timeout=0.1)
            except queue.Empty: msg = None
            if msg:
                c, pid = msg['content'], msg['parent_header'].get('msg_id')
                if msg['msg_type'] == 'comm_open' and c.get('data', {}).get('state', {}).get('description') == 'Stop':
                    stop_id, t_seen = c['comm_id'], time.time()
                elif msg['msg_type'] == 'stream': texts.append((pid, c['text']))
                elif msg['msg_type'] in ('display_data', 'update_display_data'):
                    displays.append((msg['msg_type'], c.get('transient', {}).get('display_id'), c['data']))
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
        # the progress display: a widget view while fit runs, then replaced in place by the finished picture
        made = [(i, d) for k, i, d in displays if k == 'display_data' and WIDGET in d]
        assert len(made) == 1, [(k, i, sorted(d)) for k, i, d in displays]
        final = [d for k, i, d in displays if k == 'update_display_data' and i == made[0][0]]
        assert final and WIDGET not in final[-1] and 'Stopped at epoch' in final[-1]['text/html'], final
        # the summary shown by the setup cell followed the fit, from the fit's cell: updated by its display id
        assert any(k == 'update_display_data' and i == summary_id and 'Trained:' in d['text/html'] for k, i, d in displays)
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
cnn.summary(live=True)   # not the cell's last line: it shows all the same
cnn.compile('adam', 'mse')
acts = ActivationStats()
cnn.fit(xi, xi.mean(axis=(1, 2)), epochs=3, batch_size=32, verbose=0, callbacks=[acts])"""

# the ActivationStats output: its report line and its picture, shown at natural size
ACTS_VIEW = """() => { const o = Array.from(document.querySelectorAll('.jp-OutputArea-output'))
    .find(o => o.textContent.includes('batches recorded') && o.querySelector('img')); const i = o && o.querySelector('img');
    return i && i.naturalWidth > 0 ? {label: o.textContent, width: i.naturalWidth, shown: i.getBoundingClientRect().width} : null; }"""

GRAPH_SVG = """() => { const img = Array.from(document.querySelectorAll('.jp-OutputArea-output img'))
    .find(i => i.src.startsWith('data:image/svg+xml') && atob(i.src.split(',')[1]).includes('gjoin (Concatenate)'));
    if (!img) return null;
    const svg = new DOMParser().parseFromString(atob(img.src.split(',')[1]), 'image/svg+xml');
    const box = img.getBoundingClientRect(), ratio = img.naturalWidth ? img.naturalHeight / img.naturalWidth : 0;
    return {rects: svg.querySelectorAll('rect').length, lines: svg.querySelectorAll('line').length, text: svg.documentElement.textContent,
            loaded: img.complete && img.naturalWidth > 0, whole: Math.abs(box.height / box.width - ratio) < 0.02}; }"""
GRAPH_IMG = """() => Array.from(document.querySelectorAll('.jp-OutputArea-output img'))
    .find(i => i.src.startsWith('data:image/svg+xml') && atob(i.src.split(',')[1]).includes('gjoin (Concatenate)'))"""

# the histograms' view: the label shown, the first strip's shift, and whether every picture has loaded
HIST_STATE = """() => { const v = document.querySelector('.sl-hist'); if (!v) return null;
    const imgs = Array.from(v.querySelectorAll('img'));
    return {label: Array.from(v.querySelectorAll('span[data-e]')).filter(e => e.style.display !== 'none').map(e => e.textContent).join(' | '),
            shift: v.querySelector('.sl-strip').style.marginTop, imgs: imgs.length,
            loaded: imgs.every(i => i.complete && i.naturalWidth > 0)}; }"""

# the finished progress displays: the final line, the bars (value/max) and the curves image
PROGRESS_DONE = """() => Array.from(document.querySelectorAll('.jp-OutputArea-output'))
    .filter(o => /Stopped at epoch|Done in/.test(o.textContent) && o.querySelector('progress'))
    .map(o => ({text: o.textContent, bars: Array.from(o.querySelectorAll('progress')).map(p => [p.value, p.max]),
                curves: (o.querySelector('img') || {}).naturalWidth || 0}))"""

# the cells (by index) with an output that says "Error displaying widget" (textContent, not innerText: an output
# scrolled out of view has no innerText)
WIDGET_ERRORS = """() => Array.from(document.querySelectorAll('.jp-Notebook .jp-Cell')).map((c, i) =>
    Array.from(c.querySelectorAll('.jp-OutputArea-output')).some(o => /Error displaying widget|model not found/.test(o.textContent)) ? i : -1)
    .filter(i => i >= 0)"""
WIDGET = 'application/vnd.jupyter.widget-view+json'


# the control: a plain ipywidget, saved as a widget view like any other. Reopened, it must show the error (proof that
# the widget manager has asked the new kernel for its models, so a seqlearn display holding a widget view would too)
CONTROL = "import ipywidgets\nipywidgets.IntSlider(description='control')"


def _notebook(path):
    import nbformat
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(SETUP), nbformat.v4.new_code_cell('import json\n' + PROBE),
                nbformat.v4.new_code_cell(FIT), nbformat.v4.new_code_cell(AFTER), nbformat.v4.new_code_cell(HIST),
                nbformat.v4.new_code_cell(GRAPH), nbformat.v4.new_code_cell(CNN), nbformat.v4.new_code_cell(CONTROL)]
    nb.metadata['kernelspec'] = {'name': 'python3', 'display_name': 'Python 3', 'language': 'python'}
    nbformat.write(nb, str(path))


class Server:
    "JupyterLab or Notebook 7 on a free port with a token, in its own tmp dirs; stopped by PID."
    def __init__(self, app, root, tmp, tag='', args=()):
        self.port, self.token = _free_port(), 'seqlearn-test-token'
        settings = tmp / 'settings' / '@jupyterlab' / 'apputils-extension'
        settings.mkdir(parents=True, exist_ok=True)
        (settings / 'notification.jupyterlab-settings').write_text(json.dumps({'fetchNews': 'false', 'checkForUpdates': False}))
        env = dict(os.environ, JUPYTERLAB_SETTINGS_DIR=str(tmp / 'settings'), JUPYTERLAB_WORKSPACES_DIR=str(tmp / 'ws'),
                   JUPYTER_RUNTIME_DIR=str(tmp / 'runtime'), PYTHONPATH=str(ROOT))
        cls = 'LabApp' if app == 'lab' else 'JupyterNotebookApp'
        cmd = [sys.executable, '-m', 'jupyterlab' if app == 'lab' else 'notebook', '--no-browser', '--ip', '127.0.0.1',
               '--port', str(self.port), f'--ServerApp.token={self.token}', '--allow-root', f'--ServerApp.root_dir={root}',
               '--ServerApp.port_retries=0', f'--{cls}.expose_app_in_browser=True', *args]
        log = tmp / f'{app}{tag}.log'
        self.log = open(log, 'w')
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=env, cwd=str(root))
        self.url = f'http://127.0.0.1:{self.port}'
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(f'{self.url}/api/status?token={self.token}', timeout=2) as r:
                    if r.status == 200: break
            except OSError: pass
            if self.proc.poll() is not None or time.time() > deadline:
                self.stop(); pytest.fail(f"{app} did not start: {log.read_text()[-2000:]}")
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


# Notebook 7.6 throws this while it starts, on any notebook (measured on one holding only `print(1)`, with and without
# the settings file above): its keyboard-shortcuts settings handler; nothing of seqlearn's has rendered yet
NOTEBOOK_STARTUP_ERROR = "Cannot read properties of undefined (reading 'schema')"


def _open(browser, server, app, console):
    "A new page on the notebook, once its kernel is connected and idle; console errors and page errors go to `console`."
    page = browser.new_page(viewport={'width': 1280, 'height': 1000})
    page.on('console', lambda m: console.append(f'{m.type}: {m.text}') if m.type == 'error' else None)
    page.on('pageerror', lambda e: None if app == 'notebook' and str(e) == NOTEBOOK_STARTUP_ERROR else console.append(f'pageerror: {e}'))
    path = '/lab/tree/widgets.ipynb' if app == 'lab' else '/notebooks/widgets.ipynb'
    page.goto(f'{server.url}{path}?token={server.token}')
    page.wait_for_function("() => window.jupyterapp && document.querySelector('.jp-Notebook .jp-Cell')", timeout=60000)
    page.wait_for_function("""() => { const w = window.jupyterapp.shell.currentWidget;
        return w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel
               && w.sessionContext.session.kernel.connectionStatus === 'connected'
               && w.sessionContext.session.kernel.status === 'idle'; }""", timeout=60000)
    return page


OUTPUT_TEXT = "Array.from(document.querySelectorAll('.jp-OutputArea-output')).map(e => e.innerText).join('\\n')"
SUMMARY_TEXT = "() => document.querySelector('table.sl-sum').closest('.jp-OutputArea-output').innerText"


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
    _need('playwright'); _need('jupyterlab'); _need('nbconvert')
    if app == 'notebook': _need('notebook')
    import nbformat
    from nbconvert import HTMLExporter
    from playwright.sync_api import sync_playwright
    ARTIFACTS.mkdir(exist_ok=True)
    root = tmp_path / 'root'; root.mkdir()
    _notebook(root / 'widgets.ipynb')
    live_console, reopen_console = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            # -- run it live ------------------------------------------------------------------------------
            server = Server(app, root, tmp_path)
            try:
                page = _open(browser, server, app, live_console)
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
                progress.screenshot(path=str(ARTIFACTS / f'browser_{app}_progress_widget.png'))
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
                res = _parse_result(page.evaluate(f"() => {OUTPUT_TEXT}"))
                # the finished fit is a picture now: the widget was replaced in place by the final state
                page.wait_for_function(f"() => ({PROGRESS_DONE})().some(p => p.text.includes('Stopped at epoch'))", timeout=30000)
                stopped = page.locator('.jp-OutputArea-output', has_text='Stopped at epoch').first
                stopped.scroll_into_view_if_needed()
                page.screenshot(path=str(ARTIFACTS / f'browser_{app}_stopped.png'))
                status = page.inner_text('.jp-Notebook')

                # the second fit runs to the end: its final picture has full bars and the curves; then the histograms
                page.wait_for_function(f"() => ({PROGRESS_DONE})().some(p => p.text.includes('Done in'))", timeout=120000)
                page.wait_for_function(f"() => ({HIST_STATE})() && ({HIST_STATE})().loaded", timeout=30000)
                hist_box = page.locator('.sl-hist').first
                hist_box.scroll_into_view_if_needed()
                page.wait_for_function(f"() => ({ACTS_VIEW})() !== null", timeout=60000)  # the last cell is done: the kernel is free
                page.wait_for_function("() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status === 'idle'", timeout=60000)
                done = page.evaluate(PROGRESS_DONE)
                before = page.evaluate(HIST_STATE)
                hist_box.locator('input[type=range]').focus(); page.keyboard.press('Home')   # the epoch slider to the first snapshot
                page.wait_for_function(f"(before) => ({HIST_STATE})().label !== before", arg=before['label'], timeout=30000)
                after = page.evaluate(HIST_STATE)
                page.screenshot(path=str(ARTIFACTS / f'browser_{app}_histograms.png'))
                hist_box.screenshot(path=str(ARTIFACTS / f'browser_{app}_histogram_widget.png'))
                final_summary = page.evaluate(SUMMARY_TEXT)
                # the functional model's live summary: its graph, drawn as boxes and arrows
                page.wait_for_function(f"() => ({GRAPH_SVG})() !== null", timeout=60000)
                graph = page.evaluate(GRAPH_SVG)
                svg = page.evaluate_handle(GRAPH_IMG).as_element()
                svg.scroll_into_view_if_needed()
                svg.screenshot(path=str(ARTIFACTS / f'browser_{app}_graph_summary.png'))
                # the CNN: conv layers in its live summary, and the ActivationStats picture
                acts = page.evaluate(ACTS_VIEW)
                cnn_summary = page.evaluate("""() => Array.from(document.querySelectorAll('table.sl-sum'))
                    .map(t => t.closest('.jp-OutputArea-output').innerText).find(t => t.includes('cnn_test')) || ''""")
                # each summary(live=True) shows once: as the cell's last line and not (the CNN's) alike
                summaries = page.evaluate("""() => Array.from(document.querySelectorAll('table.sl-sum'))
                    .map(t => t.closest('.jp-OutputArea-output').textContent.match(/Model: "(\\w+)"/)?.[1] || '?')""")
                view = page.locator('.jp-OutputArea-output', has_text='batches recorded').first
                view.scroll_into_view_if_needed()
                view.screenshot(path=str(ARTIFACTS / f'browser_{app}_activation_stats.png'))

                page.wait_for_selector('.widget-slider', timeout=30000)   # the control cell, the last one, has run
                # -- save with the app's own command, then stop the server (and its kernel)
                page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
                page.wait_for_function("() => !window.jupyterapp.shell.currentWidget.context.model.dirty", timeout=30000)
                page.close()
            finally:
                server.stop()
            assert server.proc.poll() is not None
            saved = nbformat.read(str(root / 'widgets.ipynb'), as_version=4)

            # -- a new server, the notebook reopened: pictures, no widget errors, no console errors --------
            server = Server(app, root, tmp_path, tag='-reopened')
            try:
                t_open = time.time()
                page = _open(browser, server, app, reopen_console)
                page.wait_for_function(f"""() => document.querySelectorAll('table.sl-sum').length >= 3 && ({HIST_STATE})()
                    && ({HIST_STATE})().loaded && ({ACTS_VIEW})() !== null && ({PROGRESS_DONE})().length >= 2
                    && ({PROGRESS_DONE})().every(p => p.curves > 0)""", timeout=60000)
                page.wait_for_function(f"() => ({WIDGET_ERRORS})().length > 0", timeout=30000)   # the control's error
                time.sleep(0.3)
                reopened_errors = page.evaluate(WIDGET_ERRORS)
                re_done, re_graph, re_acts = page.evaluate(PROGRESS_DONE), page.evaluate(GRAPH_SVG), page.evaluate(ACTS_VIEW)
                re_summary = page.evaluate(SUMMARY_TEXT)
                page.screenshot(path=str(ARTIFACTS / f'browser_{app}_reopened.png'))
                re_before = page.evaluate(HIST_STATE)
                hist_box = page.locator('.sl-hist').first
                hist_box.scroll_into_view_if_needed()
                hist_box.locator('input[type=range]').focus(); page.keyboard.press('Home')   # no kernel behind it
                page.wait_for_function(f"(before) => ({HIST_STATE})().label !== before", arg=re_before['label'], timeout=10000)
                re_after = page.evaluate(HIST_STATE)
                hist_box.screenshot(path=str(ARTIFACTS / f'browser_{app}_reopened_histograms.png'))
                t_reopen = time.time() - t_open
                page.close()   # before the server stops: its closing socket is not the notebook's error
            finally:
                server.stop()
        finally:
            browser.close()

    # the live run
    assert res['epochs'] < EPOCHS, res
    assert 't_stop' in res, "the click never reached the kernel during fit"
    assert res['t_stop'] - t_click < 2.0, res
    assert res['it_end'] == res['it_stop'], res                       # no batch after the click was handled
    assert 'Stopped' in status, status[-1000:]
    assert 'Trained:' in final_summary, final_summary                # the live summary followed the fit (from another cell)
    stop_pic, done_pic = (next(d for d in done if t in d['text']) for t in ('Stopped at epoch', 'Done in'))
    assert done_pic['bars'] and all(v == m for v, m in done_pic['bars']) and done_pic['curves'] > 0, done_pic  # bars full, curves
    assert stop_pic['curves'] > 0, stop_pic
    assert 'after epoch 6 of 6' in before['label'] and 'after epoch 0 of 6' in after['label'], (before, after)
    assert before['shift'] != after['shift']                         # the slider moved the picture
    assert graph['rects'] == 8 and graph['lines'] == 9, graph          # one box per layer, one arrow per connection
    assert 'gshared (Dense)' in graph['text'] and 'gres (Add)' in graph['text'], graph
    assert graph['loaded'] and graph['whole'], graph   # an image that loaded, scaled as a whole (never cropped)
    assert '24 batches recorded' in acts['label'] and abs(acts['shown'] - acts['width'] / 2) <= 1, acts  # 3 epochs x 8; natural size
    assert all(w in cnn_summary for w in ('conv2d', 'Conv2D', 'MaxPooling2D', 'BatchNormalization', 'non-trainable: 16')), repr(cnn_summary[:800])
    assert sorted(summaries) == ['browser_test', 'cnn_test', 'graph_test'], summaries
    assert not live_console, live_console

    # what was saved: every display as a picture, none as a widget view (but the control)
    control = [i for i, c in enumerate(saved.cells) if c.source == CONTROL]
    saved.cells = [c for c in saved.cells if c.source != CONTROL]
    outputs = [o for c in saved.cells for o in c.get('outputs', []) if o.output_type in ('display_data', 'execute_result')]
    assert outputs and not [o for o in outputs if WIDGET in o.data], "a widget view was saved: it shows an error when reopened"

    # reopened after the restart: the only widget error is the control's, and so is the only console error
    assert reopened_errors == control, (reopened_errors, control)
    assert len(reopen_console) == 1 and 'widget model not found' in reopen_console[0], reopen_console
    assert 'Trained:' in re_summary and re_graph and (re_graph['rects'], re_graph['lines']) == (8, 9), (re_summary, re_graph)
    assert sorted(('Stopped' in d['text'], 'Done in' in d['text']) for d in re_done) == [(False, True), (True, False)] and all(d['curves'] > 0 for d in re_done), re_done
    assert re_acts and '24 batches recorded' in re_acts['label'], re_acts
    assert 'after epoch 6 of 6' in re_before['label'] and 'after epoch 0 of 6' in re_after['label'], (re_before, re_after)
    assert re_before['loaded'] and re_before['shift'] != re_after['shift'], (re_before, re_after)

    # the saved notebook as HTML, with no kernel: the same pictures
    html, _ = HTMLExporter().from_notebook_node(saved)
    (ARTIFACTS / f'browser_{app}_saved.html').write_text(html)
    assert WIDGET not in html and 'Error displaying widget' not in html
    diagrams = [base64.b64decode(d).decode() for d in re.findall(r'data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)', html)]
    assert html.count('<table class="sl-sum"') == 3 and any('gjoin (Concatenate)' in d for d in diagrams) and 'Trained:' in html
    assert 'Stopped at epoch' in html and 'Done in' in html and 'class="sl-hist"' in html and 'batches recorded' in html
    pngs = re.findall(r'<img[^>]*src="data:image/png;base64,([^"]+)"', html)
    assert len(pngs) >= 2 + 2 * 4 + 1, len(pngs)                      # 2 curves, strip + heat map of 4 arrays, activations
    line = (f"{app}: stop handled {res['t_stop'] - t_click:.3f}s after the click, fit returned {res['t_end'] - t_click:.3f}s "
            f"after it (seen in the page after {t_seen - t_click:.2f}s), {res['it_end'] - res['it_stop']} updates after "
            f"handling, {res['epochs']}/{EPOCHS} epochs, {res['it_end']} updates in all; saved, restarted and reopened "
            f"with every picture and no error in {t_reopen:.1f}s")
    print(line)
    with open(ARTIFACTS / 'browser_widgets.txt', 'a') as f: f.write(line + '\n')


# ---------------------------------------------------------------------------------------------------------
# HiddenStates: live in JupyterLab, then saved, reopened untrusted, and exported

HIDDEN_FIT = """\
import json, time, numpy as np
from seqlearn import Sequential, Model, Input, Dense, set_seed
from seqlearn.layers import LSTM, SimpleRNN, Bidirectional
from seqlearn.callbacks import LambdaCallback
from seqlearn.widgets import HiddenStates, show_hidden_states
set_seed(0)
tokens = np.random.default_rng(0).integers(0, 3, size=(1024, 12))
x = np.eye(3, dtype=np.float32)[tokens]
y = ((tokens == 0).sum(1) - (tokens == 1).sum(1))[:, None].astype(np.float32) / 4
model = Sequential([Input((12, 3)), LSTM(8, name='lstm'), Dense(1)]); model.compile('adam', 'mse')
text = 'aaaa--bbbbbb'
sample = np.eye(3, dtype=np.float32)[['ab-'.index(c) for c in text]]
hs = HiddenStates('lstm', sample, labels=text)
slow = LambdaCallback(on_epoch_end=lambda e, logs=None: time.sleep(0.1))   # at least 4 s of fit, however fast the machine
model.fit(x, y, epochs=40, batch_size=64, verbose=0, callbacks=[slow, hs])
print(json.dumps({'hidden_epochs': hs.epochs, 'renders': hs.renders}))"""

HIDDEN_BI = """\
bi = Sequential([Input((12, 3)), Bidirectional(SimpleRNN(5), name='bi'), Dense(1)], name='bi_model')
show_hidden_states(bi, 'bi', sample, labels=text)"""

# what an untrusted notebook's sanitizer removes (the <svg>) and keeps (the <b>)
SANITIZER_CONTROL = """\
from IPython.display import HTML
HTML('<div><svg width="20" height="20"><rect width="20" height="20" fill="red"/></svg><b>sanitizer control</b></div>')"""

# one HiddenStates output, found by its heat map's alt text: the title, the picture's sizes, each label's box relative
# to the first heat map, the colour bar's box, the text size
HIDDEN_VIEW = """(alt) => {
    const img = Array.from(document.querySelectorAll('.jp-OutputArea-output img')).find(i => i.alt === alt);
    if (!img || !img.complete || !img.naturalWidth) return null;
    const out = img.closest('.jp-OutputArea-output'), r = img.getBoundingClientRect();
    const box = e => { const q = e.getBoundingClientRect();
        return [Math.round(q.left - r.left), Math.round(q.top - r.top), Math.round(q.width), Math.round(q.height)]; };
    const bar = out.querySelector('img[alt="colour scale"]');
    return {title: out.querySelector('b').textContent, w: r.width, h: r.height, nw: img.naturalWidth, nh: img.naturalHeight,
            maps: Array.from(out.querySelectorAll('img')).filter(i => i.alt.startsWith('hidden states')).map(i => i.alt),
            spans: Array.from(out.querySelectorAll('span')).map(s => [s.textContent, ...box(s)]),
            bar: bar && bar.complete && bar.naturalWidth ? box(bar) : null,
            font: getComputedStyle(out.querySelector('span')).fontSize, outputs: out.closest('.jp-OutputArea').querySelectorAll('.jp-OutputArea-child').length}; }"""

CONTROL_VIEW = """() => { const o = Array.from(document.querySelectorAll('.jp-OutputArea-output'))
    .find(o => o.textContent.includes('sanitizer control')); return o ? {svg: !!o.querySelector('svg')} : null; }"""

CELLS_TRUSTED = """() => { const m = window.jupyterapp.shell.currentWidget.content.model;
    return Array.from({length: m.cells.length}, (_, i) => m.cells.get(i)).filter(c => c.type === 'code').map(c => c.trusted); }"""


def _check_hidden_layout(v):
    "The labels around the LSTM's heat map: where a reader looks for them, and readable."
    assert (v['nw'], v['nh']) == (2 * v['w'], 2 * v['h']), v                 # twice the pixels shown: sharp, not squeezed
    assert (v['w'], v['h']) == (12 * 28, 8 * 16), v                          # 12 steps x 28 px, 8 units x 16 px
    assert v['font'] == '12px', v['font']
    spans = v['spans']
    units, tokens, ends = spans[:8], spans[8:20], spans[20:]
    assert [s[0] for s in units] == [str(u) for u in range(8)] and all(s[1] + s[3] <= 0 for s in units), units   # left of the map
    assert all(abs(s[2] + s[4] / 2 - (u + 0.5) * 16) <= 2 for u, s in enumerate(units)), units            # each on its row
    assert ''.join(s[0] for s in tokens) == 'aaaa--bbbbbb' and all(s[2] >= v['h'] for s in tokens), tokens   # under the map
    assert all(abs(s[1] + s[3] / 2 - (t + 0.5) * 28) <= 2 for t, s in enumerate(tokens)), tokens          # each on its column
    bar = v['bar']
    assert bar and bar[0] >= v['w'] and (bar[1], bar[3]) == (0, v['h']), bar   # right of the map, as tall
    assert [s[0] for s in ends] == ['+1', '0', '-1'] and all(s[1] >= bar[0] + bar[2] for s in ends), ends   # beside the bar
    assert ends[0][2] <= ends[1][2] <= ends[2][2], ends


def test_hidden_states_in_browser(tmp_path):
    if not Path(CHROMIUM).exists(): pytest.skip(f"{CHROMIUM} missing (apt-get install -y chromium)")
    _need('playwright'); _need('jupyterlab'); _need('nbconvert')
    import nbformat
    from nbconvert import HTMLExporter
    from playwright.sync_api import sync_playwright
    ARTIFACTS.mkdir(exist_ok=True)
    root = tmp_path / 'root'; root.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in (HIDDEN_FIT, HIDDEN_BI, SANITIZER_CONTROL)]
    nb.metadata['kernelspec'] = {'name': 'python3', 'display_name': 'Python 3', 'language': 'python'}
    nbformat.write(nb, str(root / 'widgets.ipynb'))
    live_console, reopen_console, seen = [], [], []
    no_trust = ['--NotebookNotary.db_file=:memory:']   # signatures kept by no file: a new server trusts nothing
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            server = Server('lab', root, tmp_path, args=no_trust)
            try:
                page = _open(browser, server, 'lab', live_console)
                page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
                page.wait_for_function(f"() => ({HIDDEN_VIEW})('hidden states') !== null", timeout=120000)
                t_end = time.time() + 120
                while time.time() < t_end:   # the fit's picture while it runs: its title's epoch, and the cell's outputs
                    v, done = page.evaluate(f"() => ({HIDDEN_VIEW})('hidden states')"), 'hidden_epochs' in page.evaluate(f"() => {OUTPUT_TEXT}")
                    if done: break
                    if v and (not seen or seen[-1][0] != v['title']):
                        seen.append((v['title'], v['outputs']))
                        if len(seen) == 2:
                            page.locator('.jp-OutputArea-output', has=page.locator('img[alt="hidden states"]')).first.screenshot(
                                path=str(ARTIFACTS / 'browser_lab_hidden_states_live.png'))
                    time.sleep(0.15)
                page.wait_for_function(f"() => ({OUTPUT_TEXT}).includes('hidden_epochs')", timeout=60000)
                res = _parse_hidden(page.evaluate(f"() => {OUTPUT_TEXT}"))
                page.wait_for_function(f"() => ({HIDDEN_VIEW})('hidden states (forward)') !== null && ({CONTROL_VIEW})() !== null", timeout=60000)
                page.wait_for_function("() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status === 'idle'", timeout=60000)
                live, live_bi, live_control = (page.evaluate(f"() => ({HIDDEN_VIEW})('hidden states')"),
                                               page.evaluate(f"() => ({HIDDEN_VIEW})('hidden states (forward)')"), page.evaluate(CONTROL_VIEW))
                view = page.locator('.jp-OutputArea-output', has=page.locator('img[alt="hidden states"]')).first
                view.scroll_into_view_if_needed()
                view.screenshot(path=str(ARTIFACTS / 'browser_lab_hidden_states.png'))
                page.locator('.jp-OutputArea-output', has=page.locator('img[alt="hidden states (forward)"]')).first.screenshot(
                    path=str(ARTIFACTS / 'browser_lab_hidden_states_bidirectional.png'))
                page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
                page.wait_for_function("() => !window.jupyterapp.shell.currentWidget.context.model.dirty", timeout=30000)
                page.close()
            finally:
                server.stop()
            saved = nbformat.read(str(root / 'widgets.ipynb'), as_version=4)

            server = Server('lab', root, tmp_path, tag='-reopened', args=no_trust)
            try:
                page = _open(browser, server, 'lab', reopen_console)
                page.wait_for_function(f"""() => ({HIDDEN_VIEW})('hidden states') !== null && ({HIDDEN_VIEW})('hidden states').bar
                    && ({HIDDEN_VIEW})('hidden states (forward)') !== null && ({CONTROL_VIEW})() !== null""", timeout=60000)
                trusted = page.evaluate(CELLS_TRUSTED)
                re_view, re_bi, re_control = (page.evaluate(f"() => ({HIDDEN_VIEW})('hidden states')"),
                                              page.evaluate(f"() => ({HIDDEN_VIEW})('hidden states (forward)')"), page.evaluate(CONTROL_VIEW))
                re_errors = page.evaluate(WIDGET_ERRORS)
                view = page.locator('.jp-OutputArea-output', has=page.locator('img[alt="hidden states"]')).first
                view.scroll_into_view_if_needed()
                view.screenshot(path=str(ARTIFACTS / 'browser_lab_hidden_states_reopened_untrusted.png'))
                page.close()
            finally:
                server.stop()

            # the saved notebook as HTML (nbconvert, no kernel), opened in the browser
            html, _ = HTMLExporter().from_notebook_node(saved)
            export = ARTIFACTS / 'browser_lab_hidden_states_saved.html'
            export.write_text(html)
            page = browser.new_page(viewport={'width': 1280, 'height': 1000})
            page.goto(export.as_uri())
            page.wait_for_function("""() => { const i = Array.from(document.images).filter(i => i.alt.startsWith('hidden states'));
                return i.length === 3 && i.every(i => i.complete && i.naturalWidth > 0); }""", timeout=30000)
            exported = page.evaluate("""() => Array.from(document.images).filter(i => i.alt.startsWith('hidden states'))
                .map(i => [i.alt, i.getBoundingClientRect().width, i.naturalWidth])""")
            page.locator('img[alt="hidden states"]').first.screenshot(path=str(ARTIFACTS / 'browser_lab_hidden_states_export_map.png'))
            page.close()
        finally:
            browser.close()

    # live: redrawn in place, at later and later epochs, while the fit ran; then the final picture
    assert res['hidden_epochs'][0] == 0 and res['hidden_epochs'][-1] == 40 and res['renders'] >= 5, res   # 4+ s at 0.5 s
    epochs = [int(re.search(r'epoch (\d+)$', t).group(1)) for t, _ in seen]
    during = [e for e in epochs if e < 40]                                  # (the final picture may show before the fit returns)
    assert len(during) >= 3 and epochs == sorted(epochs), seen               # several pictures seen during the fit, in order
    assert all(n == 1 for _, n in seen), seen                                # one output, updated in place
    assert live['title'] == 'lstm (LSTM) hidden states · epoch 40' and live['outputs'] == 2, live   # the picture, the result line
    _check_hidden_layout(live)
    assert live_bi['maps'] == ['hidden states (forward)', 'hidden states (backward)'], live_bi   # stacked, one scale
    assert live_control == {'svg': True} and not live_console, (live_control, live_console)   # run here: trusted

    # saved: the pictures as <img> with PNG data, no widget view
    outs = [o for c in saved.cells for o in c.get('outputs', []) if o.output_type in ('display_data', 'execute_result')]
    assert not [o for o in outs if WIDGET in o.data]
    assert sum('<img alt="hidden states"' in o.data.get('text/html', '') for o in outs) == 1

    # reopened by a server that trusts nothing: the sanitizer ran (the control lost its <svg>), and the pictures are the
    # same, every label at the same place
    assert trusted and not any(trusted), trusted
    assert re_control == {'svg': False}, re_control
    assert re_errors == [] and not reopen_console, (re_errors, reopen_console)
    assert re_view['title'] == live['title'] and re_view['spans'] == live['spans'] and re_view['bar'] == live['bar'], (re_view, live)
    _check_hidden_layout(re_view)
    assert re_bi['maps'] == live_bi['maps'] and re_bi['spans'] == live_bi['spans'], (re_bi, live_bi)

    # exported to HTML: the three heat maps, at their size and sharp
    assert WIDGET not in html and 'lstm (LSTM) hidden states · epoch 40' in html
    assert [(a, w) for a, w, _ in exported] == [('hidden states', 336), ('hidden states (forward)', 336), ('hidden states (backward)', 336)], exported
    assert all(nw == 2 * w for _, w, nw in exported), exported
    line = (f"lab: HiddenStates redrawn at epochs {during} during the fit ({res['renders']} updates in all); reopened untrusted "
            f"and exported with the same labels")
    print(line)
    with open(ARTIFACTS / 'browser_widgets.txt', 'a') as f: f.write(line + '\n')


def _parse_hidden(text):
    m = re.search(r'\{"hidden_epochs".*\}', text)
    assert m, f"no result line in output: {text[-2000:]!r}"
    return json.loads(m.group(0))
