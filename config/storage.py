"""Static files as production serves them: WhiteNoise's compressed, content-hashed copies."""

from __future__ import annotations

from django.contrib.staticfiles.storage import HashedFilesMixin
from whitenoise.storage import CompressedManifestStaticFilesStorage

# Django's patterns for ES module imports and exports (the ones `support_js_module_import_aggregation` adds).
_MODULE_PATTERNS = HashedFilesMixin._js_module_import_aggregation_patterns[1]


class HashedModulesStorage(CompressedManifestStaticFilesStorage):
    """Also rewrites the relative imports of this site's ES modules (`import { x } from './document.js';`) to hashed
    names, as Django's `support_js_module_import_aggregation` does.

    Without it a hashed `main.<hash>.js` would load the unhashed `document.js`, which browsers cache only briefly and
    which may belong to another release. Django's switch applies to every JavaScript file, and django_htmx's
    extensions import `../htmx` (no such file): so only kata/js/ is rewritten. Django matches only imports that end
    in a semicolon.
    """

    patterns = (*CompressedManifestStaticFilesStorage.patterns, ("kata/js/*.js", _MODULE_PATTERNS))
