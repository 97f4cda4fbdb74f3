#!/usr/bin/env bash
# The seed story, as far as it is built: make a tiny base image from Debian's
# busybox-static, import it, tag it, inspect it, read its history, stack a
# second image on the same base (kept once on disk), look at the union view,
# then save -> rmi -> load, then a Dockerfile build and containers (the tomcat walk-through: run,
# copy-on-write, diff, commit), then push to a registry -> rmi -> pull back,
# berth's own registry server with logins, search and gc, and finally the
# docker CLI driving `berth daemon` on the same store. It runs in a network
# namespace of its own (its bridge, firewall table and servers go with it).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${BERTH_DEMO_NETNS:-}" ]; then
  scripts/setup.sh >/dev/null
  cargo build --quiet
  exec unshare --net env BERTH_DEMO_NETNS=1 sh -c 'ip link set lo up && exec "$0" "$@"' "$0" "$@"
fi
berth_bin="$PWD/target/debug/berth"
work=$(mktemp -d /tmp/berth-demo.XXXXXX)
export BERTH_ROOT="$work/root" BERTH_RUNROOT="$work/run"
berth() { echo "+ berth $*" >&2; "$berth_bin" "$@"; }
cd "$work"

echo "== a base image from busybox-static"
mkdir -p rootfs/bin rootfs/etc rootfs/tmp
cp /bin/busybox rootfs/bin/busybox
for applet in sh ls cat echo uname cp mkdir sleep httpd wget nslookup; do ln -s busybox "rootfs/bin/$applet"; done
echo 'root:x:0:0:root:/root:/bin/sh' > rootfs/etc/passwd
tar -C rootfs -czf busybox.tar.gz .
berth import -c 'CMD ["sh"]' -m "busybox base" busybox.tar.gz busybox:1.36
berth tag busybox:1.36 busybox:latest
berth images
berth inspect -f '{{.Id}} {{json .Config.Cmd}} {{json .RootFS.Layers}}' busybox
berth history busybox

echo "== a second image on the same base: one more layer, base shared"
# A docker-archive written by hand: the busybox layer plus a layer that adds
# /etc/motd and deletes /bin/cat (an OCI whiteout).
base_tar=$(tar -C rootfs -cf - . | tee base.tar | sha256sum | cut -d' ' -f1)
mkdir -p top/etc top/bin && echo "hello from the top layer" > top/etc/motd && : > top/bin/.wh.cat
top_tar=$(tar -C top -cf - . | tee top.tar | sha256sum | cut -d' ' -f1)
mkdir -p arch/"$base_tar" arch/"$top_tar"
mv base.tar arch/"$base_tar"/layer.tar && mv top.tar arch/"$top_tar"/layer.tar
printf '{"architecture":"amd64","os":"linux","created":"2024-06-01T00:00:00Z","config":{"Cmd":["cat","/etc/motd"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s","sha256:%s"]},"history":[{"created":"2024-06-01T00:00:00Z","created_by":"import busybox"},{"created":"2024-06-01T00:00:00Z","created_by":"/bin/sh -c echo hello > /etc/motd && rm /bin/cat"}]}' "$base_tar" "$top_tar" > arch/config.json
printf '[{"Config":"config.json","RepoTags":["greeter:1"],"Layers":["%s/layer.tar","%s/layer.tar"]}]' "$base_tar" "$top_tar" > arch/manifest.json
tar -C arch -cf greeter.tar .
berth load -i greeter.tar
berth images
berth system df -v

echo "== the union view: both layers overlaid, read-only"
view=$(berth image mount greeter:1)
echo "mounted at $view"; grep " $view " /proc/self/mounts || true
ls "$view/bin"; cat "$view/etc/motd"
test ! -e "$view/bin/cat" && echo "/bin/cat is hidden by the top layer's whiteout"
berth image umount greeter:1

echo "== save -> rmi -> load: same image IDs"
before=$("$berth_bin" images -q --no-trunc | sort -u)
berth save -o all.tar busybox:1.36 busybox:latest greeter:1
berth rmi busybox:1.36 busybox:latest greeter:1
berth images
berth load -i all.tar
after=$("$berth_bin" images -q --no-trunc | sort -u)
[ "$before" = "$after" ] && echo "image IDs identical after the round trip"
berth images

echo "== build: a tomcat-like image from a Dockerfile (webapps empty, webapps.dist not)"
mkdir -p tomcat-ctx
echo "<h1>Hello from tomcat</h1>" > tomcat-ctx/index.html
cat > tomcat-ctx/Dockerfile <<'DOCKERFILE'
FROM busybox:1.36
ENV CATALINA_HOME=/usr/local/tomcat
WORKDIR $CATALINA_HOME
RUN mkdir -p webapps webapps.dist/ROOT
COPY index.html webapps.dist/ROOT/
CMD ["sleep", "3600"]
DOCKERFILE
berth build --progress plain -t tomcat:9.0 tomcat-ctx
echo "-- the same build again: every step from the cache, the same image"
berth build --progress plain -t tomcat:9.0 tomcat-ctx 2>&1 | grep -E "CACHED|writing image"

echo "== containers: a writable layer on top, copy-on-write, commit (the tomcat walk-through)"
berth run -d --name tomcat01 tomcat:9.0
berth exec tomcat01 ls webapps
berth exec tomcat01 sh -c 'cp -r webapps.dist/* webapps/'
berth ps
berth diff tomcat01
berth commit -a "kuangshen" -m "add webapps app" tomcat01 tomcat02:1.0
berth images
berth history tomcat02:1.0
berth run --rm tomcat02:1.0 cat webapps/ROOT/index.html
berth run --rm tomcat:9.0 ls webapps && echo "(the old image's webapps is still empty)"
berth stop -t 1 tomcat01
berth ps -a
berth rm tomcat01

echo "== networks: the tomcat published on the host's port 8080, names on a user-defined network"
berth run -d --name tomcat03 -p 8080:8080 tomcat02:1.0 httpd -f -p 8080 -h webapps/ROOT
berth port tomcat03
berth ps
for _ in $(seq 50); do curl -sf http://localhost:8080/ && break; sleep 0.1; done
berth network create shop
berth run -d --name db --network shop --network-alias database tomcat02:1.0 httpd -f -p 80 -h webapps/ROOT
berth run --rm --network shop busybox:1.36 wget -qO- http://database:80/
berth network inspect -f '{{range .Containers}}{{.Name}} {{.IPv4Address}}{{end}}' shop
berth network ls
berth rm -f tomcat03 db
berth network rm shop

echo "== a registry: push -> rmi -> pull, same digests (Debian's docker-registry on loopback)"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'version: 0.1\nlog: {level: error}\nstorage: {filesystem: {rootdirectory: %s}}\nhttp: {addr: 127.0.0.1:%s}\n' \
  "$work/registry" "$port" > registry.yml
docker-registry serve registry.yml >/dev/null 2>&1 &
registry_pid=$!
trap 'kill $registry_pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.1; done
repo=127.0.0.1:$port/haochen/greeter
berth tag greeter:1 "$repo:1"
berth push "$repo:1"
berth search "127.0.0.1:$port/greeter"
id=$("$berth_bin" inspect -f '{{.Id}}' "$repo:1")
berth rmi "$repo:1" greeter:1
berth pull "$repo:1"
[ "$("$berth_bin" inspect -f '{{.Id}}' "$repo:1")" = "$id" ] && echo "pulled back with the same image ID"
berth pull "$repo:1"

echo "== host a registry: berth registry serve, with htpasswd logins"
port2=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
htpasswd -Bbc "$work/htpasswd" haochen s3cret 2>/dev/null
"$berth_bin" registry serve --root "$work/berth-registry" --addr "127.0.0.1:$port2" \
  --htpasswd "$work/htpasswd" 2> "$work/berth-registry.log" &
berth_registry_pid=$!
trap 'kill $registry_pid $berth_registry_pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -s "http://127.0.0.1:$port2/v2/" >/dev/null && break; sleep 0.05; done
own=127.0.0.1:$port2/haochen/tomcat02
berth tag tomcat02:1.0 "$own:1.0"
berth push "$own:1.0" || echo "(refused: not logged in yet)"
echo s3cret | berth login -u haochen --password-stdin "127.0.0.1:$port2"
berth push "$own:1.0"
berth search "127.0.0.1:$port2/tomcat"
skopeo inspect --tls-verify=false --creds haochen:s3cret "docker://$own:1.0" | grep -E '"(Name|Digest)"'
berth rmi "$own:1.0"
berth pull "$own:1.0"
"$berth_bin" registry gc --root "$work/berth-registry" --dry-run --grace 0s | tail -1
tail -3 "$work/berth-registry.log"

echo "== the docker CLI on berth daemon: the same store, the same containers"
"$berth_bin" daemon -H "unix://$work/docker.sock" 2> "$work/daemon.log" &
daemon_pid=$!
trap 'kill $registry_pid $berth_registry_pid $daemon_pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -S "$work/docker.sock" ] && break; sleep 0.05; done
export DOCKER_HOST="unix://$work/docker.sock" DOCKER_CONFIG="$work/docker-cli"
docker() { echo "+ docker $*" >&2; command docker "$@"; }
docker version --format 'docker {{.Client.Version}} -> {{.Server.Platform.Name}} (API {{.Server.APIVersion}})'
docker images
docker run --rm busybox sh -c 'echo "hello from a container started by docker, run by berth"'
docker run -d --name web01 tomcat:9.0 >/dev/null
berth ps
docker exec web01 ls /usr/local/tomcat/webapps.dist
docker cp web01:/usr/local/tomcat/webapps.dist "$work/copied" && ls "$work/copied"
docker commit -a "haochen" -m "through the docker CLI" web01 tomcat03:1.0 >/dev/null
berth history tomcat03:1.0 | head -2
docker rm -f web01 >/dev/null
echo "demo store left in $work"
