#!/usr/bin/env python3
"""What one durable-queue request costs the kernel to write through the page cache, by file
state: a new file (as segments were before they were reused), a reused one (as now), and a
reused one whose page cache was first filled in large runs (an idea measured, not built).
Also checks whether this file system caches one large write as one large folio.

Usage: scripts/pagecache_write.py [DIRECTORY, default .] (pin it: taskset -c 0 ...)
Prints the CPU time (this process's, user + system) per 50 KiB write, 4 MiB files.
"""
import ctypes
import ctypes.util
import os
import struct
import sys
import time

SEGMENT = 4 << 20
REQUEST = 50 * 1024 + 123  # about one 100-span OTLP request, not block-aligned
DATA = os.urandom(REQUEST)


def write_segment(fd):
    """Writes one segment's worth of requests back to back from offset 0; returns writes."""
    offset = writes = 0
    while offset + REQUEST <= SEGMENT:
        os.pwrite(fd, DATA, offset)
        offset += REQUEST
        writes += 1
    return writes


def per_write(fn, rounds):
    start = time.process_time()
    writes = sum(fn() for _ in range(rounds))
    return (time.process_time() - start) * 1e6 / writes


def fresh(path):
    def run():
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        n = write_segment(fd)
        os.close(fd)
        os.unlink(path)
        return n
    return run


def reused(path, prefill):
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    if prefill:
        zeros = bytes(prefill)
        for offset in range(0, SEGMENT, prefill):
            os.pwrite(fd, zeros, offset)
    else:
        write_segment(fd)
    return fd, lambda: write_segment(fd)


def large_folio(path):
    """Whether a 1 MiB write is cached as one compound page (root needed for kpageflags)."""
    size = 1 << 20
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    os.pwrite(fd, b"x" * size, 0)
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                          ctypes.c_int, ctypes.c_long]
    addr = libc.mmap(None, size, 1, 1, fd, 0)  # PROT_READ, MAP_SHARED
    for offset in range(0, size, 4096):
        ctypes.c_uint8.from_address(addr + offset).value  # fault each page in
    tails = 0
    try:
        with open("/proc/self/pagemap", "rb") as pagemap, open("/proc/kpageflags", "rb") as flags:
            for page in range(size // 4096):
                pagemap.seek((addr // 4096 + page) * 8)
                pfn = struct.unpack("<Q", pagemap.read(8))[0] & ((1 << 55) - 1)
                flags.seek(pfn * 8)
                tails += struct.unpack("<Q", flags.read(8))[0] >> 16 & 1  # KPF_COMPOUND_TAIL
    except OSError as error:
        return f"unknown ({error})"
    finally:
        os.close(fd)
        os.unlink(path)
    return f"{tails} of {size // 4096 - 1} pages after the first are folio tails"


def main():
    directory = sys.argv[1] if len(sys.argv) > 1 else "."
    path = os.path.join(directory, f"pagecache-write-{os.getpid()}.bin")
    print(f"new file each segment:        {per_write(fresh(path), 20):5.1f} us per write")
    for label, prefill in (("reused file:", 0), ("reused, filled in 64 KiB runs:", 64 << 10)):
        fd, run = reused(path, prefill)
        print(f"{label:30s} {per_write(run, 50):5.1f} us per write")
        os.close(fd)
        os.unlink(path)
    start = time.process_time()
    for _ in range(20):
        fd, _ = reused(path, 64 << 10)
        os.close(fd)
        os.unlink(path)
    print(f"filling a new file in 64 KiB runs: {(time.process_time() - start) / 20 * 1e3:.2f} ms")
    print(f"one 1 MiB write: {large_folio(path)}")


if __name__ == "__main__":
    main()
