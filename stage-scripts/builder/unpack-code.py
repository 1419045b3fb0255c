"""Unpack the farm's code asset (a zip) on a builder instance, keeping file
modes: Ubuntu images have python3 but no unzip. Usage: unpack-code.py ZIP DIR.
An existing DIR is kept: the same asset hash is the same code."""
import os
import shutil
import sys
import zipfile

archive, target = sys.argv[1], sys.argv[2]
if not os.path.isdir(target):
    partial = target + ".partial"
    shutil.rmtree(partial, ignore_errors=True)
    with zipfile.ZipFile(archive) as z:
        for info in z.infolist():
            # extract() refuses absolute paths and '..' components.
            written = z.extract(info, partial)
            mode = (info.external_attr >> 16) & 0o777
            if mode and not info.is_dir():
                os.chmod(written, mode)
    os.rename(partial, target)
