#!/usr/bin/python3
"""A FUSE filesystem whose statfs never returns, for the test that the agent
never stalls on a dead mount (tests/filesystem_e2e_test.cpp). Usage:
hang_fs.py MOUNTPOINT. Runs in the foreground until killed; the test
unmounts it (umount -l) and kills it by PID."""
import errno
import stat
import sys
import threading

from fusepy import FUSE, FuseOSError, Operations


class Hang(Operations):
    def getattr(self, path, fh=None):
        if path == "/":
            return {"st_mode": stat.S_IFDIR | 0o755, "st_nlink": 2}
        raise FuseOSError(errno.ENOENT)

    def readdir(self, path, fh):
        return [".", ".."]

    def statfs(self, path):
        threading.Event().wait()  # never answers, as a dead server


if __name__ == "__main__":
    FUSE(Hang(), sys.argv[1], foreground=True, nothreads=False, fsname="imwatch-hang")
