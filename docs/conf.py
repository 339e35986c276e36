# Sphinx configuration for seqlearn's documentation site (built by `python tools/build_docs.py`).
# The sources are the nbdev-processed notebooks the build script writes to _proc/sphinx; outputs are stored
# in the notebooks, so nothing is executed here.
import importlib.util, inspect, os, sys
from configparser import ConfigParser

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
sys.path.insert(0, ROOT)
_cfg = ConfigParser(delimiters=['=']); _cfg.read(os.path.join(ROOT, 'settings.ini'))
_c = _cfg['DEFAULT']

project = _c['title']
author = _c['author']
copyright = _c['copyright']
release = version = _c['version']

# sphinx-mathjax-offline ships MathJax 3 and copies it into the site: math renders with no network
extensions = ['myst_nb', 'sphinx.ext.autodoc', 'sphinx-mathjax-offline']
exclude_patterns = ['_build', '**.ipynb_checkpoints']
root_doc = 'index'

# notebooks keep their outputs: never execute while building
nb_execution_mode = 'off'
nb_merge_streams = True  # one block per cell for line-per-epoch output, not one per line
# widgets: show their static text/html fallback instead of a live view that needs a CDN
nb_mime_priority_overrides = [('html', 'application/vnd.jupyter.widget-view+json', None),
                              ('html', 'application/vnd.jupyter.widget-state+json', None)]
nb_output_stderr = 'remove-warn'
myst_enable_extensions = ['dollarmath', 'amsmath', 'colon_fence']
myst_heading_anchors = 3
suppress_warnings = ['myst.header', 'mystnb.unknown_mime_type', 'misc.highlighting_failure']

autodoc_default_options = {'members': True, 'show-inheritance': True}
autodoc_member_order = 'bysource'
autodoc_typehints = 'signature'

html_title = f"{project} {release}"
html_theme = 'furo' if importlib.util.find_spec('furo') else 'alabaster'
html_static_path = ['_static']
html_css_files = ['seqlearn.css']  # outputs wrap instead of scrolling
html_copy_source = False
html_show_sourcelink = False

# Docstrings are written for show_doc (markdown): `code` in single backticks, and |x| for absolute values.
default_role = 'literal'
import re
_LINK = re.compile(r'\[([^\]]+)\]\((https?://[^)\s]+)\)')
_GLUED = re.compile(r'(`[^`]+`)(?=[A-Za-z0-9])')  # `Callback`s: reST needs a (escaped) space after inline markup
def _markdownish(line):
    return _GLUED.sub(r'\1\\ ', _LINK.sub(r'`\1 <\2>`__', line.replace('|', r'\|')))
def _markdownish_docstring(app, what, name, obj, options, lines):
    if what in ('function', 'method', 'class'): lines.extend(_param_docs(obj))
    for i, line in enumerate(lines): lines[i] = _markdownish(line)

def _param_docs(obj):
    "The parameters' comments (nbdev's docments: `name, # what it is`) as a reST field list."
    try:
        from fastcore.docments import docments
        target = obj.__init__ if inspect.isclass(obj) else obj
        docs = docments(target, full=True)
    except Exception: return []
    fields = [f":param {k}: {v['docment']}" for k, v in docs.items()
              if k not in ('self', 'return', 'kwargs', 'args') and v.get('docment')]
    return ([''] + fields) if fields else []

# Model.__new__ only sends Model(inputs, outputs) to Functional (as Keras does); each class's signature is its __init__'s
def _init_signature(app, what, name, obj, options, signature, return_annotation):
    if what == 'class' and any(k.__name__ == 'Model' and '__new__' in vars(k) for k in getattr(obj, '__mro__', ())):
        params = list(inspect.signature(obj.__init__).parameters.values())[1:]
        return str(inspect.Signature(params)), None

def setup(app):
    app.connect('autodoc-process-docstring', _markdownish_docstring)
    app.connect('autodoc-process-signature', _init_signature)
