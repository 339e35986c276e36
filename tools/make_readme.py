"""Write README.md from index.ipynb without Quarto (nbdev_readme needs it).

Hidden cells and cell directives are dropped, then nbconvert renders markdown. Outputs that carry a PNG
(the widgets' static pictures, plots) are written to images/readme/ and linked, since GitHub does not
show inline data-URI images. `--check` exits 1 when README.md or those images differ from what index.ipynb
gives (CI uses it)."""
import sys, pathlib, copy
import nbformat
from nbconvert import MarkdownExporter

ROOT = pathlib.Path(__file__).resolve().parents[1]
IMAGES = 'images/readme'

def render():
    "(README text, {relative image path: bytes})."
    nb = nbformat.read(ROOT / 'index.ipynb', as_version=4)
    out = copy.deepcopy(nb); out.cells = []
    for c in nb.cells:
        lines = c.source.splitlines()
        directives = [l.strip().replace(' ', '') for l in lines if l.strip().startswith('#|')]
        if any(d in ('#|hide', '#|include:false') for d in directives): continue
        if c.cell_type == 'code':
            c.source = '\n'.join(l for l in lines if not l.strip().startswith('#|')).strip()
            if '#|echo:false' in directives: c.source = ''
            for o in c.get('outputs', []):
                data = o.get('data')
                if not data: continue
                data.pop('application/vnd.jupyter.widget-view+json', None)  # no kernel on GitHub
                if 'image/png' in data: data.pop('text/html', None)        # the picture, as a file
                elif str(data.get('text/plain', '')).startswith('Model: "'): data.pop('text/html', None)  # summary(): its text table
        out.cells.append(c)
    exporter = MarkdownExporter(exclude_output_prompt=True)
    body, res = exporter.from_notebook_node(out, resources={'output_files_dir': IMAGES, 'unique_key': 'index'})
    text = ('<!-- Generated from index.ipynb by tools/make_readme.py: edit the notebook, not this file. -->\n\n'
            + body.strip() + '\n')
    return text, dict(res.get('outputs', {}))

if __name__ == '__main__':
    text, images = render()
    if '--check' in sys.argv:
        stale = [p for p, b in images.items() if not (ROOT / p).exists() or (ROOT / p).read_bytes() != b]
        if (ROOT / 'README.md').read_text() != text or stale:
            print('README.md (or its images) is out of date with index.ipynb: run `python tools/make_readme.py` and commit.')
            sys.exit(1)
        print('README.md matches index.ipynb')
    else:
        (ROOT / IMAGES).mkdir(parents=True, exist_ok=True)
        for old in (ROOT / IMAGES).glob('*'): old.unlink()
        for p, b in images.items(): (ROOT / p).write_bytes(b)
        (ROOT / 'README.md').write_text(text); print(f'README.md written ({len(images)} images in {IMAGES}/)')
