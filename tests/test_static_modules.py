"""The editor's ES modules: served as JavaScript (a browser runs a module script of no other type), and their
relative imports still resolve once `collectstatic` has given every file a hashed name."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kata.design import MAX_COORDINATE
from tests.test_settings_production import PRODUCTION

ROOT = Path(__file__).resolve().parents[1]
MODULES = sorted(p.relative_to(ROOT / "static").as_posix() for p in (ROOT / "static" / "kata" / "js").rglob("*.js"))
# What Django's module pattern matches: `import ... from './x.js';` (see config/storage.py).
RELATIVE_IMPORT = re.compile(r"""^import\s.*?\sfrom\s*["'](\.[^"']+)["']""", re.MULTILINE)


def test_every_module_imports_with_a_semicolon_so_hashing_can_rewrite_it():
    imports = 0
    for name in MODULES:
        source = (ROOT / "static" / name).read_text(encoding="utf-8")
        lines = [line for line in source.splitlines() if line.startswith("import ")]
        imports += len(lines)
        assert all(line.rstrip().endswith(";") for line in lines), name
        assert len(RELATIVE_IMPORT.findall(source)) == len(lines), name
    assert imports >= 8  # main.js alone imports six modules


@pytest.mark.django_db
@pytest.mark.parametrize("name", MODULES)
def test_modules_are_served_with_a_javascript_type(client, name):
    response = client.get(f"/static/{name}")
    assert response.status_code == 200
    assert response["Content-Type"].split(";")[0] == "text/javascript"


def test_collectstatic_under_production_settings_points_module_imports_at_hashed_files(tmp_path):
    # The production settings as they are, with only STATIC_ROOT moved to a scratch folder before first use.
    script = (
        "from django.conf import settings; from django.core.management import call_command; "
        f"settings.STATIC_ROOT = {str(tmp_path)!r}; call_command('collectstatic', '--noinput', verbosity=0); "
        "from django.core.files.storage import storages; print(type(storages['staticfiles']).__name__)"
    )
    clean = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "SECRET_KEY", "ALLOWED_HOSTS")}
    result = subprocess.run([sys.executable, "manage.py", "shell", "-c", script], capture_output=True, text=True,
                            timeout=300, env={**clean, **PRODUCTION}, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "HashedModulesStorage"
    manifest = json.loads((tmp_path / "staticfiles.json").read_text(encoding="utf-8"))["paths"]
    rewritten = 0
    for name in MODULES:
        hashed = tmp_path / manifest[name]
        assert hashed.name != Path(name).name, name
        for target in RELATIVE_IMPORT.findall(hashed.read_text(encoding="utf-8")):
            resolved = (hashed.parent / target).resolve().relative_to(tmp_path).as_posix()
            assert resolved in manifest.values(), f"{manifest[name]} imports {target}, which is not a hashed file"
            rewritten += 1
    assert rewritten >= 8


def test_the_editor_clamps_positions_at_the_validators_coordinate_limit():
    """The document model runs without a page, so it carries the limit itself: it must be the validator's."""
    source = (Path(__file__).resolve().parents[1] / "static/kata/js/editor/document.js").read_text()
    found = re.search(r"export const LIMIT = (\d+);", source)
    assert found and int(found.group(1)) == MAX_COORDINATE
