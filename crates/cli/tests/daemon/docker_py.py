"""docker-py (PyPI) against `berth daemon`: the SDK's own calls, unchanged.

Usage: docker_py.py unix:///path/to/docker.sock
Prints "ok" when every check held; any failure raises.
"""
import io
import sys
import tarfile

import docker
from docker import errors

client = docker.DockerClient(base_url=sys.argv[1], timeout=60)
api = client.api

# System
assert client.ping() is True
version = client.version()
assert version["ApiVersion"] == "1.47", version
assert client.info()["Driver"] in ("overlay", "vfs")

# Images
image = client.images.get("busybox")
assert "busybox:latest" in image.tags, image.tags
assert image.tag("py/bb", "1")
assert "py/bb:1" in client.images.get("py/bb:1").tags
assert any("py/bb:1" in i.tags for i in client.images.list())
assert len(image.history()) >= 1
try:
    client.images.get("nosuch:1")
    raise AssertionError("an unknown image must be NotFound")
except errors.ImageNotFound:
    pass

# Containers: run and remove, stdout only by default
out = client.containers.run("busybox", ["sh", "-c", "echo hello; echo err >&2"], remove=True)
assert out == b"hello\n", out
ctr = client.containers.run("busybox", ["sleep", "300"], detach=True, name="pyc")
ctr.reload()
assert ctr.status == "running", ctr.status
assert ctr.name == "pyc"
assert any(c.id == ctr.id for c in client.containers.list())

# Exec: exit code and output, demultiplexed streams
code, output = ctr.exec_run(["sh", "-c", "echo in; echo oops >&2; exit 3"])
# Two pipes, as with dockerd: each stream keeps its order, not their mix.
assert (code, sorted(output.splitlines())) == (3, [b"in", b"oops"]), (code, output)
code, (out, err) = ctr.exec_run(["sh", "-c", "echo a; echo b >&2"], demux=True)
assert (code, out, err) == (0, b"a\n", b"b\n"), (code, out, err)

# Logs, streamed while the container writes
counter = client.containers.run(
    "busybox", ["sh", "-c", "for i in 1 2 3; do echo $i; sleep 0.2; done"], detach=True
)
lines = b"".join(counter.logs(stream=True, follow=True))
assert lines == b"1\n2\n3\n", lines
assert counter.wait()["StatusCode"] == 0
# attach with logs=1 replays what it wrote; without stream, only that
replayed = counter.attach(stdout=True, stderr=True, logs=True, stream=False)
assert replayed == b"1\n2\n3\n", replayed
counter.remove()

# Diff, commit, save and load
writer = client.containers.run("busybox", ["sh", "-c", "echo x > /made"], detach=True)
assert writer.wait()["StatusCode"] == 0
assert {"Path": "/made", "Kind": 1} in writer.diff(), writer.diff()
committed = writer.commit("py/committed", "1", author="Py <py@example.com>", message="from python")
assert committed.attrs["Author"] == "Py <py@example.com>"
archive = b"".join(committed.save(named=True))
with tarfile.open(fileobj=io.BytesIO(archive)) as t:
    assert "manifest.json" in t.getnames()
writer.remove()
client.images.remove("py/committed:1")
loaded = client.images.load(archive)
assert any("py/committed:1" in i.tags for i in loaded), loaded

# Errors keep their HTTP meaning
try:
    client.containers.get("nosuch")
    raise AssertionError("an unknown container must be NotFound")
except errors.NotFound:
    pass
try:
    client.containers.create("busybox", ["true"], cap_add=["BOGUS"])
    raise AssertionError("a bogus capability must be refused")
except errors.APIError as e:
    assert e.status_code == 400, e.status_code
try:
    client.containers.create("busybox", ["true"], name="pyc")
    raise AssertionError("a name in use must conflict")
except errors.APIError as e:
    assert e.status_code == 409, e.status_code

ctr.stop(timeout=1)
assert ctr.wait()["StatusCode"] == 137
ctr.remove()
client.images.remove("py/bb:1")
client.images.remove("py/committed:1")
print("ok")
