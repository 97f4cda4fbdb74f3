#!/usr/bin/env python3
"""Builds the store benchmark's test image as a docker-archive.

Five layers, ~800 MB: a Debian-like base (copied from this host's /etc,
/usr/sbin, /usr/lib/python3, /usr/share/perl5), 30,000 small files of 1-4 KiB,
one 512 MiB incompressible file, one moderately compressible 200 MiB file, and
a layer that deletes files of the lower ones (whiteouts and an opaque dir).

Usage: make_image.py OUTDIR   (writes OUTDIR/image.tar and OUTDIR/layers/*.tar)
"""
import hashlib, io, json, os, random, sys, tarfile

out = sys.argv[1]
os.makedirs(f"{out}/layers", exist_ok=True)
rng = random.Random(42)


def write_layer(name, fill):
    path = f"{out}/layers/{name}.tar"
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as t:
        fill(t)
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return path, h.hexdigest()


def add_bytes(t, name, data, mode=0o644):
    ti = tarfile.TarInfo(name)
    ti.size, ti.mode, ti.mtime = len(data), mode, 1_700_000_000
    t.addfile(ti, io.BytesIO(data))


def add_dir(t, name):
    ti = tarfile.TarInfo(name)
    ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, 1_700_000_000
    t.addfile(ti)


def base(t):
    for src in ["/etc", "/usr/sbin", "/usr/lib/python3", "/usr/share/perl5"]:
        if os.path.exists(src):
            t.add(src, arcname=src.lstrip("/"), recursive=True,
                  filter=lambda ti: None if ti.type in (tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE) else ti)


def small_files(t):
    add_dir(t, "data")
    for d in range(300):
        add_dir(t, f"data/d{d:03}")
        for i in range(100):
            add_bytes(t, f"data/d{d:03}/f{i:03}", rng.randbytes(rng.randint(1024, 4096)))


class Stream(io.RawIOBase):
    """A file-like source of `size` bytes from `gen(n)`, without holding it all."""

    def __init__(self, size, gen):
        self.left, self.gen = size, gen

    def readable(self):
        return True

    def readinto(self, b):
        n = min(len(b), self.left)
        if n == 0:
            return 0
        chunk = self.gen(n)
        b[:n] = chunk
        self.left -= n
        return n


def big_file(t, name, size, gen):
    ti = tarfile.TarInfo(name)
    ti.size, ti.mode, ti.mtime = size, 0o644, 1_700_000_000
    t.addfile(ti, io.BufferedReader(Stream(size, gen), 1 << 20))


def incompressible(t):
    add_dir(t, "blob")
    big_file(t, "blob/random.bin", 512 << 20, os.urandom)


WORDS = [w.encode() for w in "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu".split()]


def text(n):
    # Words with random numbers: compresses to roughly a third with gzip.
    parts, size = [], 0
    while size < n:
        line = b" ".join(rng.choice(WORDS) for _ in range(8)) + b" %d\n" % rng.randrange(10**9)
        parts.append(line)
        size += len(line)
    return b"".join(parts)[:n]


def compressible(t):
    add_dir(t, "logs")
    big_file(t, "logs/app.log", 200 << 20, text)


def deletions(t):
    add_dir(t, "data")
    for d in range(0, 300, 10):
        add_bytes(t, f"data/.wh.d{d:03}", b"")
    add_dir(t, "data/d001")
    add_bytes(t, "data/d001/.wh..wh..opq", b"")
    add_bytes(t, "data/d001/replacement", b"new\n")
    add_dir(t, "etc")
    add_bytes(t, "etc/.wh.motd", b"")


layers = [write_layer(n, f) for n, f in [("1-base", base), ("2-small-files", small_files),
                                         ("3-incompressible", incompressible),
                                         ("4-compressible", compressible), ("5-deletions", deletions)]]
config = json.dumps({
    "architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
    "config": {"Cmd": ["sh"]},
    "rootfs": {"type": "layers", "diff_ids": [f"sha256:{h}" for _, h in layers]},
    "history": [{"created": "2024-01-01T00:00:00Z", "created_by": f"layer {i}"} for i in range(len(layers))],
}).encode()
with tarfile.open(f"{out}/image.tar", "w") as t:
    add_bytes(t, "config.json", config)
    for path, h in layers:
        t.add(path, arcname=f"{h}/layer.tar")
    add_bytes(t, "manifest.json", json.dumps([{
        "Config": "config.json", "RepoTags": ["bench:1"],
        "Layers": [f"{h}/layer.tar" for _, h in layers]}]).encode())

# 1,000 images sharing one tiny layer, for listing and inspect.
tiny = io.BytesIO()
with tarfile.open(fileobj=tiny, mode="w") as t:
    add_bytes(t, "hello", b"hello\n")
tiny = tiny.getvalue()
tiny_id = hashlib.sha256(tiny).hexdigest()
manifest = []
with tarfile.open(f"{out}/many.tar", "w") as t:
    add_bytes(t, f"{tiny_id}/layer.tar", tiny)
    for i in range(1000):
        cfg = json.dumps({"architecture": "amd64", "os": "linux",
                          "created": f"2024-01-01T00:{i // 60 % 60:02}:{i % 60:02}Z",
                          "config": {"Labels": {"n": str(i)}},
                          "rootfs": {"type": "layers", "diff_ids": [f"sha256:{tiny_id}"]}}).encode()
        name = f"{hashlib.sha256(cfg).hexdigest()}.json"
        add_bytes(t, name, cfg)
        manifest.append({"Config": name, "RepoTags": [f"many/img{i}:v1"], "Layers": [f"{tiny_id}/layer.tar"]})
    add_bytes(t, "manifest.json", json.dumps(manifest).encode())
print(f"{out}/image.tar")
