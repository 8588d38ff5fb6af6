"""Tiny source distributions made on the spot, buildable by ``pip wheel`` with no network.

Each sdist carries its own PEP 517 build backend (``backend-path``) with no requirements, so
``pip wheel --no-index --find-links DIR`` builds it in an isolated environment that needs
nothing from an index. ``fail_with`` makes the backend print that line and fail.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

BACKEND = """
import base64, hashlib, sys, zipfile

NAME, VERSION, FAIL = {name!r}, {version!r}, {fail!r}


def get_requires_for_build_wheel(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    print("compiling the tiny extension of", NAME, flush=True)
    if FAIL:
        print(FAIL, file=sys.stderr, flush=True)
        raise SystemExit(1)
    dist = f"{{NAME}}-{{VERSION}}.dist-info"
    files = {{
        f"{{NAME}}/__init__.py": b"VALUE = 42\\n",
        f"{{dist}}/METADATA": (
            f"Metadata-Version: 2.1\\nName: {{NAME}}\\nVersion: {{VERSION}}\\n".encode()
        ),
        f"{{dist}}/WHEEL": (
            b"Wheel-Version: 1.0\\nGenerator: tiny\\nRoot-Is-Purelib: true\\n"
            b"Tag: py3-none-any\\n"
        ),
    }}
    record = []
    filename = f"{{NAME}}-{{VERSION}}-py3-none-any.whl"
    with zipfile.ZipFile(f"{{wheel_directory}}/{{filename}}", "w") as whl:
        for path, data in files.items():
            whl.writestr(path, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{{path}},sha256={{digest}},{{len(data)}}")
        record.append(f"{{dist}}/RECORD,,")
        whl.writestr(f"{{dist}}/RECORD", "\\n".join(record) + "\\n")
    return filename
"""

PYPROJECT = """[build-system]
requires = []
build-backend = "backend"
backend-path = ["."]

[project]
name = "{name}"
version = "{version}"
"""


def make_sdist(folder: Path, name: str, version: str, fail_with: str = "") -> Path:
    """Write ``<name>-<version>.tar.gz`` into ``folder``; return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    base = f"{name}-{version}"
    files = {
        "pyproject.toml": PYPROJECT.format(name=name, version=version),
        "backend.py": BACKEND.format(name=name, version=version, fail=fail_with),
        "PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
    }
    path = folder / f"{base}.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for rel, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{base}/{rel}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path
