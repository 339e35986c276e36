"""The documentation site: `python tools/build_docs.py` builds, every notebook has a page, internal links resolve,
the API entry for `Sequential.fit` exists, and a real browser shows non-blank pages (screenshots in artifacts/)."""
import importlib.util, os, pathlib, re, shutil, subprocess, sys
from html.parser import HTMLParser
from urllib.parse import urldefrag, unquote
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SITE = ROOT / '_site'
ARTIFACTS = ROOT / 'artifacts'
CHROMIUM = '/usr/bin/chromium'
CHROMIUM_FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
                  '--disable-sync', '--no-first-run']

missing = [m for m in ('sphinx', 'myst_nb') if importlib.util.find_spec(m) is None]
pytestmark = pytest.mark.skipif(bool(missing), reason=f"docs dependencies not installed ({', '.join(missing)}): "
                                                      'pip install -e ".[docs]"')

@pytest.fixture(scope='module')
def site():
    r = subprocess.run([sys.executable, 'tools/build_docs.py'], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, f"docs build failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    BUILD['log'] = r.stdout
    return SITE
BUILD = {'log': ''}   # what the build printed

def test_every_api_cell_renders(site):
    "The build runs each notebook's exported, import and show_doc cells: none may fail (a failure drops API entries)."
    failed = [l for l in BUILD['log'].splitlines() if 'failed while rendering API docs' in l]
    assert not failed, '\n'.join(failed)

class _Refs(HTMLParser):
    def __init__(self):
        super().__init__(); self.links, self.ids = [], set()
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if 'id' in a: self.ids.add(a['id'])
        if tag == 'a' and a.get('href'): self.links.append(a['href'])
        if tag in ('img', 'script') and a.get('src'): self.links.append(a['src'])
        if tag == 'link' and a.get('href'): self.links.append(a['href'])

def _parse(path):
    p = _Refs(); p.feed(path.read_text(encoding='utf-8')); return p

def test_every_notebook_has_a_page(site):
    nbs = [pathlib.Path('index.ipynb')] + sorted(p.relative_to(ROOT) for p in (ROOT / 'nbs').rglob('*.ipynb')
                                                 if not any(s.startswith(('_', '.')) for s in p.relative_to(ROOT / 'nbs').parts))
    missing = [str(nb) for nb in nbs if not (site / nb.with_suffix('.html')).exists()]
    assert not missing, f"notebooks without a page: {missing}"
    assert any('tutorials' in nb.parts for nb in nbs), "no lessons found in nbs/tutorials"

def test_no_broken_internal_links(site):
    pages = [p for p in site.rglob('*.html') if '_sources' not in p.parts]
    parsed = {p.resolve(): _parse(p) for p in pages}
    broken = []
    for page, refs in parsed.items():
        for href in refs.links:
            if re.match(r'^[a-z][a-z0-9+.-]*:', href) or href.startswith('//'): continue   # external (http:, mailto:, data:)
            target, frag = urldefrag(href)
            target = target.split('?')[0]   # cache-busting ?v=...
            dest = page if not target else (page.parent / unquote(target)).resolve()
            if dest.is_dir(): dest = dest / 'index.html'
            if not dest.exists(): broken.append(f"{page.relative_to(site.resolve())}: {href}"); continue
            if frag and dest.suffix == '.html':
                ids = parsed[dest].ids if dest in parsed else _parse(dest).ids
                if frag not in ids: broken.append(f"{page.relative_to(site.resolve())}: {href} (no such anchor)")
    assert not broken, f"{len(broken)} broken internal links, e.g.:\n" + '\n'.join(broken[:20])

def test_navigation_follows_notebook_order(site):
    html = (site / 'index.html').read_text(encoding='utf-8')
    lessons = sorted(p.stem for p in (ROOT / 'nbs' / 'tutorials').glob('*.ipynb'))
    pos = [html.find(f'nbs/tutorials/{s}.html') for s in lessons]
    assert all(p >= 0 for p in pos) and pos == sorted(pos), "lessons missing or out of order in the navigation"

def test_api_entry_for_fit_and_the_model_classes(site):
    api = site / 'api.html'
    assert api.exists()
    html = api.read_text(encoding='utf-8')
    # fit is defined once, on Trainer, which every model inherits (Model(Trainer, Layer); Sequential(Model))
    m = re.search(r'<dt[^>]*id="seqlearn\.trainer\.Trainer\.fit"[^>]*>(.*?)</dt>\s*<dd>(.*?)</dd>', html, re.S)
    assert m, "no API entry for Trainer.fit"
    for cls, arg in [('seqlearn.models.sequential.Sequential', 'layers'), ('seqlearn.models.model.Functional', 'inputs')]:
        e = re.search(r'<dt[^>]*id="' + re.escape(cls) + r'"[^>]*>(.*?)</dt>', html, re.S)
        assert e and arg in re.sub(r'<[^>]+>', '', e.group(1)), f"no API entry (with its signature) for {cls}"
    sig, doc = (re.sub(r'<[^>]+>', '', s) for s in m.groups())
    assert 'validation_split' in sig and 'epochs' in sig, sig       # the signature
    assert 'Train the model' in doc, doc                              # the docstring

def test_api_docs_list_parameters_with_clean_signatures(site):
    "The API page lists each parameter's comment; signatures on every page never read `x:NoneType=None`."
    api = re.sub(r'<[^>]+>', '', (site / 'api.html').read_text(encoding='utf-8'))
    assert 'Number of output units' in api and 'Name or callable; None means linear' in api   # Dense's parameters
    ugly = [p.name for p in site.rglob('*.html') if 'NoneType' in re.sub(r'<[^>]+>', '', p.read_text(encoding='utf-8'))]
    assert not ugly, f"signatures with NoneType annotations on {ugly[:5]}"


def test_lesson_pages_show_outputs(site):
    html = (site / 'nbs' / 'tutorials' / '03_three_layers.html').read_text(encoding='utf-8')
    assert re.search(r'Total params:\s*(<b>)?897', html)             # the summary table (rich HTML in a notebook)
    fit = (site / 'nbs' / 'tutorials' / '04_compile_fit.html').read_text(encoding='utf-8')
    assert '<img' in fit and 'val_accuracy' in fit                   # the History plot and the training log

def _launch(p):
    return p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)

@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)")
@pytest.mark.skipif(importlib.util.find_spec('playwright') is None, reason='playwright not installed (pip install playwright)')
def test_screenshots_are_not_blank(site):
    from playwright.sync_api import sync_playwright
    import numpy as np
    from PIL import Image
    ARTIFACTS.mkdir(exist_ok=True)
    shots = {'docs_home.png': site / 'index.html', 'docs_lesson_04_compile_fit.png': site / 'nbs/tutorials/04_compile_fit.html'}
    with sync_playwright() as p:
        browser = _launch(p)
        try:
            page = browser.new_page(viewport={'width': 1280, 'height': 900})
            for name, path in shots.items():
                page.goto(path.resolve().as_uri()); page.wait_for_load_state('load')
                assert page.locator('h1').count() >= 1, f"{path.name}: no title"
                page.screenshot(path=str(ARTIFACTS / name), full_page=True)
        finally:
            browser.close()
    for name in shots:
        img = np.asarray(Image.open(ARTIFACTS / name).convert('L'), dtype=np.float32)
        assert img.std() > 10, f"{name} looks blank (pixel std {img.std():.1f})"
        assert (img < 128).mean() > 0.005, f"{name} has almost no dark (text) pixels"


def _words(text): return re.findall(r'[A-Za-z0-9]+', text)

def _opening_words(nb_path, n=8):
    "The first words of a notebook's opening prose: what follows its title and summary."
    import nbformat
    md = [c.source for c in nbformat.read(nb_path, as_version=4).cells if c.cell_type == 'markdown']
    first = md[0].splitlines() if md else []
    after = [l for l in first if l.strip() and not l.startswith(('#', '>'))]
    prose = after if after else next(([l for l in c.splitlines() if l.strip() and not l.startswith(('#', '>', '|', '!'))]
                                      for c in md[1:] if any(l.strip() and not l.startswith(('#', '>', '|', '!')) for l in c.splitlines())), [])
    return _words(' '.join(prose))[:n]

def test_every_page_keeps_its_opening_prose(site):
    """nbdev reads a notebook's first markdown cell as front matter: prose there after the title and summary is lost
    on the site unless it sits in a cell of its own. Every page must show the first words of its opening prose."""
    missing = []
    for nb in sorted((ROOT / 'nbs').rglob('*.ipynb')):
        if any(s.startswith(('_', '.')) for s in nb.relative_to(ROOT / 'nbs').parts): continue
        words = _opening_words(nb)
        if not words: continue
        page = site / nb.relative_to(ROOT).with_suffix('.html')
        text = ' '.join(_words(re.sub(r'<[^>]+>', ' ', page.read_text(encoding='utf-8'))))
        if ' '.join(words) not in text: missing.append(f"{nb.relative_to(ROOT)}: {' '.join(words)}")
    assert not missing, "opening prose missing on the site:\n" + '\n'.join(missing)


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)")
@pytest.mark.skipif(importlib.util.find_spec('playwright') is None, reason='playwright not installed (pip install playwright)')
def test_output_blocks_wrap_instead_of_scrolling(site):
    """Every output block of every lesson fits its column at a laptop's width (long lines wrap, error messages are
    whole), and read from file:// no page (lessons and home) requests anything from the network."""
    from playwright.sync_api import sync_playwright
    wide, requests = [], []
    with sync_playwright() as p:
        browser = _launch(p)
        try:
            page = browser.new_page(viewport={'width': 1280, 'height': 900})
            page.on('request', lambda r: requests.append(r.url))  # every request a page makes, to check none leaves the site
            for path in [site / 'index.html'] + sorted((site / 'nbs' / 'tutorials').glob('*.html')):
                page.goto(path.resolve().as_uri()); page.wait_for_load_state('load')
                n = page.evaluate("""() => Array.from(document.querySelectorAll('div.cell_output pre'))
                                      .filter(e => e.scrollWidth > e.clientWidth + 1).length""")
                total = page.evaluate("() => document.querySelectorAll('div.cell_output pre').length")
                outputs = page.evaluate("() => document.querySelectorAll('div.cell_output').length")
                assert outputs > 0 or path.name == 'index.html', f"{path.name}: no output blocks found (selector out of date?)"
                if n: wide.append(f"{path.name}: {n} of {total} output blocks scroll")
        finally:
            browser.close()
    assert not wide, '\n'.join(wide)
    away = sorted({u for u in requests if not u.startswith(('file://', 'data:', 'blob:', 'about:'))})
    assert not away, f"requests that leave the site: {away[:10]}"


def test_pages_load_no_script_or_style_from_elsewhere(site):
    "Read offline from file://, the site must not depend on CDNs: no <script src> or stylesheet from another host."
    found = []
    for page in site.rglob('*.html'):
        html = page.read_text(encoding='utf-8')
        for tag, url in re.findall(r'<(script|link)[^>]+(?:src|href)="(https?://[^"]+)"', html):
            if tag == 'link' and 'stylesheet' not in html[html.find(url) - 200:html.find(url)]: continue
            found.append(f"{page.relative_to(site)}: {url}")
    assert not found, "pages load from other hosts:\n" + '\n'.join(sorted(set(found))[:20])


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)")
@pytest.mark.skipif(importlib.util.find_spec('playwright') is None, reason='playwright not installed (pip install playwright)')
def test_math_renders_offline(site):
    "Pages with math typeset it from the site's own copy of MathJax: no raw LaTeX left in the text."
    from playwright.sync_api import sync_playwright
    pages = [p for p in site.rglob('*.html') if 'class="math' in p.read_text(encoding='utf-8')]
    assert pages, "no page with math found"
    raw = []
    with sync_playwright() as p:
        browser = _launch(p)
        try:
            page = browser.new_page()
            for path in pages:
                page.goto(path.resolve().as_uri()); page.wait_for_load_state('load')
                page.wait_for_function("() => document.querySelectorAll('mjx-container').length > 0", timeout=20000)
                text = page.evaluate("() => document.querySelector('article, main, body').innerText")
                if '\\(' in text or '\\[' in text or '$$' in text: raw.append(path.name)
        finally:
            browser.close()
    assert not raw, f"raw LaTeX left on: {raw}"
