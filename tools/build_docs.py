"""Build seqlearn's documentation site offline into _site/ (Quarto, which nbdev_docs needs, cannot be installed).

    python tools/build_docs.py            # after: pip install -e ".[dev,docs]"

1. Every notebook in nbs/ (recursively, in file order) and index.ipynb goes through nbdev's own docs
   processors (the ones `nbdev_proc_nbs` uses): `#| hide` and `#| export` cells are dropped, `show_doc` API
   entries are rendered (as markdown outputs) for every exported name, backticked names become links.
2. The Quarto-only bits are translated for MyST: the front-matter cell becomes a `# title` and description,
   `#| echo: false` / `#| output: false` / `#| include: false` become myst-nb's remove-input / remove-output /
   remove-cell tags, links to the future hosted site become relative links.
3. An API reference page (`api.md`) documents every module's public names with Sphinx autodoc.
4. Sphinx + myst-nb renders it all with stored outputs (nothing is executed), into _site/.

Navigation: the landing page (index.ipynb), then the lessons (nbs/tutorials), then the library notebooks,
then the API reference; each group in notebook order.
"""
import inspect, argparse, time, copy, os, pathlib, pkgutil, re, shutil, subprocess, sys, warnings
import multiprocessing
from concurrent.futures import ProcessPoolExecutor

ROOT = pathlib.Path(__file__).resolve().parents[1]
SRC = ROOT / '_proc' / 'sphinx'   # generated sources (gitignored with _proc/)
OUT = ROOT / '_site'

def notebooks():
    "index.ipynb, then nbs/**.ipynb in path order (skipping _ and . names, as nbdev does)."
    nbs = sorted(p for p in (ROOT / 'nbs').rglob('*.ipynb')
                 if not any(part.startswith(('_', '.')) for part in p.relative_to(ROOT / 'nbs').parts))
    return [ROOT / 'index.ipynb'] + nbs

# ---- 1. nbdev processing ---------------------------------------------------------------------------------
def _process(src_dst):
    "Run nbdev's docs processors on one notebook (in its own process: each gets a fresh kernel)."
    src, dst = map(pathlib.Path, src_dst)
    os.chdir(ROOT); os.environ['IN_TEST'] = '1'
    import matplotlib; matplotlib.use('Agg')
    from execnb.nbio import read_nb, write_nb
    from nbdev import processors
    import fastcore.docments as docments
    _fmt = docments.DocmentText._fmt_param
    def fmt_param(self, nm, p):  # show_doc fills a missing annotation with the default's type: `x:NoneType=None` reads badly
        return _fmt(self, nm, {**p, 'anno': inspect.Parameter.empty} if p.get('anno') is type(None) else p)
    docments.DocmentText._fmt_param = fmt_param
    problems = []

    class tolerant_exec_show_docs(processors.exec_show_docs):
        "nbdev's show_doc executor, but a failing cell is reported instead of stopping the whole build."
        def __call__(self, cell):
            try: super().__call__(cell)
            except Exception as e:
                problems.append(f"{src.relative_to(ROOT)}: cell {cell.idx_} failed while rendering API docs "
                                f"({type(e.__cause__ or e).__name__}: {e.__cause__ or e}); that cell's show_doc output may be missing")
                self.k.exc = None

    class Filter(processors.FilterDefaults):
        def base_procs(self):
            return [tolerant_exec_show_docs if p is processors.exec_show_docs else p for p in super().base_procs()]

    nb = read_nb(src)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        Filter()(nb)
    dst.parent.mkdir(parents=True, exist_ok=True)
    write_nb(nb, dst)
    return problems

# ---- 2. Quarto -> MyST -----------------------------------------------------------------------------------
_re_attr_link = re.compile(r'(\[[^\]]*\]\([^)]*\))\{[^}]*\}')
_re_directive = re.compile(r'^\s*#\|\s*([\w-]+):?\s*(.*)$')

def _site_links(text, pages, here, ext='.ipynb'):
    "Links to the hosted nbdev site (doc_host/doc_baseurl/page.html#x) -> relative links to our pages."
    def repl(m):
        page, anchor = m.group(1), m.group(2) or ''
        target = pages.get(page)
        if target is None: return m.group(0)
        # in markdown cells, link to the notebook (MyST resolves it to its page); markdown *outputs* are not
        # resolved, so they link to the page. The anchors of the hosted site are Quarto's: dropped.
        return os.path.relpath(target.with_suffix(ext), here.parent).replace(os.sep, '/')
    return _HOST_RE.sub(repl, text)

def _to_myst(path, pages):
    import nbformat
    nb = nbformat.read(path, as_version=4)
    here = path.relative_to(SRC)
    cells = []
    for c in nb.cells:
        if c.cell_type == 'raw' and c.source.lstrip().startswith('---'):
            import yaml
            fm = yaml.safe_load(c.source.strip().strip('-')) or {}
            md = f"# {fm.get('title', path.stem)}\n"
            if fm.get('description'): md += f"\n> {fm['description']}\n"
            cells.append(nbformat.v4.new_markdown_cell(md)); continue
        if c.cell_type == 'markdown' and 'THIS FILE WAS AUTOGENERATED' in c.source: continue
        if c.cell_type == 'markdown':
            c.source = _site_links(_re_attr_link.sub(r'\1', c.source), pages, here)
        if c.cell_type == 'code':
            tags, keep = set(c.metadata.get('tags', [])), []
            for line in c.source.splitlines():
                m = _re_directive.match(line)
                if not m: keep.append(line); continue
                key, val = m.group(1).lower(), m.group(2).strip().lower()
                if key == 'echo' and val == 'false': tags.add('remove-input')
                elif key == 'output' and val == 'false': tags.add('remove-output')
                elif key == 'include' and val == 'false': tags.add('remove-cell')
            c.source = '\n'.join(keep).strip('\n')
            if tags: c.metadata['tags'] = sorted(tags)
            for o in c.get('outputs', []):
                md = o.get('data', {}).get('text/markdown')
                if md is not None:
                    md = re.sub(r'^\s*---\s*\n', '', md)   # show_doc's leading rule would read as YAML front matter
                    o['data']['text/markdown'] = _site_links(_re_attr_link.sub(r'\1', md), pages, here, '.html')
        for k in list(c):   # nbdev's processors leave their own bookkeeping keys on cells
            if k not in ('cell_type', 'id', 'metadata', 'source', 'outputs', 'execution_count', 'attachments'): del c[k]
        cells.append(c)
    nb.cells = cells
    nb.metadata['kernelspec'] = {'name': 'python3', 'display_name': 'Python 3', 'language': 'python'}
    nb.metadata['language_info'] = {'name': 'python', 'pygments_lexer': 'ipython3'}
    _drop_widget_state(nb)
    nbformat.write(nb, path)

def _drop_widget_state(nb):
    """The site shows each widget's static picture (text/html, image/png), never a live view: drop the saved widget
    state and the widget-view mimetype, so no page loads the widget manager (or require.js) from a CDN."""
    nb.metadata.pop('widgets', None)
    for c in nb.cells:
        for o in c.get('outputs', []) if c.cell_type == 'code' else []:
            data = o.get('data', {})
            if 'application/vnd.jupyter.widget-view+json' in data and len(data) > 1: del data['application/vnd.jupyter.widget-view+json']

def _title(path):
    import nbformat
    for c in nbformat.read(path, as_version=4).cells:
        if c.cell_type == 'markdown':
            m = re.search(r'^#\s+(.+)$', c.source, re.M)
            if m: return m.group(1).strip()
    return path.stem

# ---- 3. API reference ------------------------------------------------------------------------------------
def _api_page():
    import seqlearn
    mods = sorted(m.name for m in pkgutil.walk_packages(seqlearn.__path__, 'seqlearn.')
                  if not m.name.split('.')[-1].startswith('_'))
    lines = ['# API reference', '',
             'Every public class and function of seqlearn (the names in each module\'s `__all__`), with its signature',
             'and docstring. The notebooks explain each one with examples.', '']
    for name in mods:
        lines += [f'## `{name}`', '', '```{eval-rst}', f'.. automodule:: {name}', '   :members:', '```', '']
    return '\n'.join(lines)

# ---- 4. the site -----------------------------------------------------------------------------------------
def build(clean=True, quiet=True):
    global _HOST_RE
    sys.path.insert(0, str(ROOT))
    from configparser import ConfigParser
    cfg = ConfigParser(delimiters=['=']); cfg.read(ROOT / 'settings.ini'); cfg = cfg['DEFAULT']
    host = (cfg.get('doc_host', '') + cfg.get('doc_baseurl', '')).rstrip('/')
    _HOST_RE = re.compile(re.escape(host) + r'/([\w./-]+?)\.html(#[\w.-]*)?') if host else re.compile(r'(?!x)x')

    if clean and SRC.exists(): shutil.rmtree(SRC)
    SRC.mkdir(parents=True, exist_ok=True)
    nbs = notebooks()
    jobs = [(str(p), str(SRC / p.relative_to(ROOT))) for p in nbs]
    problems, t0 = [], time.time()
    # a fresh process per notebook, as nbdev does: each notebook's code runs in its own interpreter
    with ProcessPoolExecutor(max_workers=min(4, os.cpu_count() or 1), mp_context=multiprocessing.get_context('spawn'),
                             max_tasks_per_child=1) as ex:
        for found in ex.map(_process, jobs): problems += found
    for p in problems: print('warning:', p)
    print(f"nbdev processing: {len(nbs)} notebooks in {time.time() - t0:.0f}s"); t0 = time.time()

    # nbdev names each page after the notebook without its number (01_layers -> layers.html)
    pages = {}
    for p in nbs:
        rel = p.relative_to(ROOT)
        stem = re.sub(r'^\d+[a-z]?_', '', p.stem)
        for name in (stem, p.stem):
            pages.setdefault(str(rel.parent / name).removeprefix('nbs/').removeprefix('./'), rel.with_suffix(''))
    for _, dst in jobs: _to_myst(pathlib.Path(dst), pages)

    lessons = [p for p in nbs if 'tutorials' in p.relative_to(ROOT).parts]
    library = [p for p in nbs if p not in lessons and p.name != 'index.ipynb']
    def toc(caption, paths):
        entries = '\n'.join(str(p.relative_to(ROOT).with_suffix('')) for p in paths)
        return f"```{{toctree}}\n:caption: {caption}\n:maxdepth: 1\n:hidden:\n\n{entries}\n```\n"
    (SRC / 'api.md').write_text(_api_page())
    import nbformat
    idx = SRC / 'index.ipynb'
    nb = nbformat.read(idx, as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell(
        toc('Lessons', lessons) + '\n' + toc('Library notebooks', library) + '\n' +
        "```{toctree}\n:caption: Reference\n:hidden:\n\napi\n```\n"))
    nbformat.write(nb, idx)

    # build under _proc/ (myst-nb writes a jupyter_execute/ folder next to its output dir), then move to _site/
    html = ROOT / '_proc' / 'html'
    for d in (OUT, html):
        if d.exists(): shutil.rmtree(d)
    cmd = [sys.executable, '-m', 'sphinx', '-b', 'html', '-c', str(ROOT / 'docs'), '-E', str(SRC), str(html)]
    if quiet: cmd.insert(3, '-q')
    env = {**os.environ, 'PYTHONPATH': str(ROOT) + os.pathsep + os.environ.get('PYTHONPATH', '')}
    subprocess.run(cmd, check=True, env=env)
    shutil.rmtree(html / '.doctrees', ignore_errors=True)
    shutil.move(str(html), str(OUT))
    print(f"sphinx: {time.time() - t0:.0f}s")
    print(f"Built {len(nbs)} notebooks + API reference into {OUT.relative_to(ROOT)}/ "
          f"(open {OUT.relative_to(ROOT)}/index.html)")
    return OUT

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--verbose', action='store_true', help='show every Sphinx message')
    build(quiet=not ap.parse_args().verbose)
