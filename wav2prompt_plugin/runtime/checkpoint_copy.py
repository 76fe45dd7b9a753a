"""Checkpoints that survive `kill -9` at any moment.

fairseq writes a checkpoint atomically (`torch_persistent_save`: write
``NAME.tmp``, then rename), but then copies it to ``checkpoint_last.pt``,
``checkpoint_best.pt``, ... with `PathManager.copy`, which for local files is
`shutil.copyfile`: a kill during that copy leaves a truncated
``checkpoint_last.pt``, the very file the next run resumes from. The plugin makes
the copy atomic as well (copy to ``NAME.tmp`` in the same directory, then
`os.replace`), so ``checkpoint_last.pt`` is always a complete checkpoint: the
newest one, or the one before. Paths handled by iopath (remote storage) keep
fairseq's own behaviour.
"""
import os
import shutil

from fairseq.file_io import PathManager

_fairseq_copy = PathManager.copy


def atomic_copy(src_path: str, dst_path: str, overwrite: bool = False) -> bool:
    if PathManager.path_requires_pathmanager(dst_path):
        return _fairseq_copy(src_path, dst_path, overwrite=overwrite)
    tmp_path = dst_path + ".tmp"
    shutil.copyfile(src_path, tmp_path)
    os.replace(tmp_path, dst_path)
    return True


def install_atomic_checkpoint_copy():
    PathManager.copy = staticmethod(atomic_copy)


def atomic_checkpoint_copy_installed() -> bool:
    return PathManager.copy is atomic_copy
