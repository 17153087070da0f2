"""Reproducible ``.tar.gz`` archives of the public files: the same files give the same bytes.

tarfile and gzip stamp the current time (gzip header, every member) and the user and group names of
the writer; the public archives (``likelihoods.tar.gz``, ``hepdata.tar.gz``) carry none of that: members
in sorted order, mode 0644, owner 0/0 without names, and one fixed time, ``SOURCE_DATE_EPOCH`` when set
(the reproducible-builds convention), else 1980-01-01 (the earliest ZIP time, as Python wheels use).
"""

from __future__ import annotations

import gzip
import tarfile
from pathlib import Path

from .. import paths

DEFAULT_EPOCH = 315532800   # 1980-01-01T00:00:00Z


def archive_time() -> int:
    return paths.source_date_epoch(DEFAULT_EPOCH)


def write_tar_gz(out: str | Path, members: list[tuple[str | Path, str]]) -> Path:
    """Write ``out`` (atomically) holding the files ``members`` = [(path, name in the archive)]."""
    stamp = archive_time()

    def normalise(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.mtime, info.uid, info.gid, info.uname, info.gname = stamp, 0, 0, "", ""
        info.mode = 0o644 if info.isfile() else 0o755
        return info

    out = Path(out)
    with paths.atomic_output(out, mode="wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=stamp) as gz:
            with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
                for path, name in sorted(members, key=lambda m: m[1]):
                    tar.add(str(path), arcname=name, recursive=False, filter=normalise)
    return out


def write_folder_tar_gz(out: str | Path, folder: str | Path) -> Path:
    """``out`` holding every file of ``folder``, named relative to it (as hepdata_lib's archive)."""
    folder = Path(folder)
    return write_tar_gz(out, [(p, p.relative_to(folder).as_posix()) for p in folder.rglob("*") if p.is_file()])
