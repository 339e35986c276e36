"""Write README.md from index.ipynb without Quarto (nbdev_readme needs it).

Hidden cells and cell directives are dropped, then nbconvert renders markdown.
`--check` exits 1 when README.md differs from what index.ipynb gives (CI uses it)."""
import sys, pathlib, copy
import nbformat
from nbconvert import MarkdownExporter

ROOT = pathlib.Path(__file__).resolve().parents[1]

def render():
    nb = nbformat.read(ROOT / 'index.ipynb', as_version=4)
    out = copy.deepcopy(nb); out.cells = []
    for c in nb.cells:
        lines = c.source.splitlines()
        directives = [l.strip().replace(' ', '') for l in lines if l.strip().startswith('#|')]
        if any(d in ('#|hide', '#|include:false') for d in directives): continue
        if c.cell_type == 'code':
            c.source = '\n'.join(l for l in lines if not l.strip().startswith('#|')).strip()
            if any(d in ('#|echo:false',) for d in directives): c.source = ''
            # widget outputs: keep only their static fallbacks
            for o in c.get('outputs', []):
                if 'data' in o: o['data'].pop('application/vnd.jupyter.widget-view+json', None)
        out.cells.append(c)
    body, _ = MarkdownExporter(exclude_output_prompt=True).from_notebook_node(out)
    return '<!-- Generated from index.ipynb by tools/make_readme.py: edit the notebook, not this file. -->\n\n' + body.strip() + '\n'

if __name__ == '__main__':
    text = render()
    if '--check' in sys.argv:
        if (ROOT / 'README.md').read_text() != text:
            print('README.md is out of date with index.ipynb: run `python tools/make_readme.py` and commit it.'); sys.exit(1)
        print('README.md matches index.ipynb')
    else:
        (ROOT / 'README.md').write_text(text); print('README.md written')
