"""A notebook run in a real kernel, then converted to HTML with no kernel: the summary (in its final, trained
state), the final training curves and the weight histograms are all visible, from the widgets' static fallbacks.

The notebook is saved without widget state, as JupyterLab does by default; nbconvert then renders each
widget output from its `text/html` fallback, which the widgets keep in step with their final state."""
import base64, re
import pytest

nbformat = pytest.importorskip('nbformat'); nbclient = pytest.importorskip('nbclient')
pytest.importorskip('ipykernel')
from nbconvert import HTMLExporter

CELLS = [
    """import numpy as np
from seqlearn import Sequential, Dense, Input, set_seed
from seqlearn.widgets import WeightHistograms
set_seed(0); x = np.random.default_rng(0).normal(size=(512, 8)).astype('float32'); y = (x[:, 0] > 0).astype('float32')
model = Sequential([Input((8,)), Dense(16, activation='relu'), Dense(1, activation='sigmoid')], name='static_export')
model.summary()""",
    "model.summary(live=True)",
    """hist = WeightHistograms(model)
model.compile('adam', 'binary_crossentropy', metrics=['accuracy'])
h = model.fit(x, y, epochs=4, batch_size=64, verbose='auto', callbacks=[hist])""",
    "hist",
]


@pytest.fixture(scope='module')
def executed():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in CELLS]
    nb.metadata['kernelspec'] = {'name': 'python3', 'display_name': 'Python 3', 'language': 'python'}
    nbclient.NotebookClient(nb, timeout=180, kernel_name='python3', store_widget_state=False).execute()
    return nb


def test_summary_in_a_notebook_is_a_rich_table(executed):
    out = executed.cells[0].outputs
    assert len(out) == 1 and out[0].output_type == 'display_data'
    assert 'table class="sl-sum"' in out[0].data['text/html'] and 'static_export' in out[0].data['text/html']
    assert 'Total params: 161' in out[0].data['text/plain']   # the text table stays as the plain fallback


def test_every_widget_output_carries_its_final_state(executed):
    summary, progress, hist = (executed.cells[i].outputs for i in (1, 2, 3))
    assert 'Trained: 32 updates' in summary[0].data['text/html']          # the live summary followed the fit
    assert 'Done in' in progress[0].data['text/html'] and '4 epochs' in progress[0].data['text/html']  # the final state
    for o in (progress[0], hist[0]):
        assert base64.b64decode(o.data['image/png'])[:8] == b'\x89PNG\r\n\x1a\n'
    assert all(len(c.outputs) == 1 for c in executed.cells[1:])         # one output per widget: no line per update


def test_html_export_without_a_kernel_shows_summary_curves_and_histograms(executed, tmp_path):
    html, _ = HTMLExporter().from_notebook_node(executed)
    (tmp_path / 'export.html').write_text(html)
    assert 'application/vnd.jupyter.widget-view+json' not in html       # nothing needs a kernel or widget JS
    assert html.count('<table class="sl-sum"') >= 2 and 'Trained: 32 updates' in html
    assert 'Done in' in html and '4 epochs' in html
    pngs = re.findall(r'<img[^>]*src="data:image/png;base64,([^"]+)"', html)
    assert len(pngs) >= 2, 'the final curves and the histograms'
    assert all(base64.b64decode(p)[:4] == b'\x89PNG' for p in pngs)
