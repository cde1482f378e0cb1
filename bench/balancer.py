"""A real load balancer for the ``nodes`` part: Debian's nginx, run by the benchmark in a
folder of its own (``nginx -p <folder>``: its own configuration, pid file, logs and
temporary files; nothing of the machine's nginx is touched), in front of the nodes.

The configuration is the README's "Scale out" one (``NGINX_CONF`` below is the single
source: the README's snippet is this, with the bench's ports): HTTP/1.1 keep-alive to
the nodes, passive health checks (``max_fails``/``fail_timeout``), the event stream
unbuffered with a read timeout well above its 25 s heartbeat, and a listen backlog sized
for the 8 am wave.

``ensure_nginx()`` finds the binary, installing the Debian package when the benchmark
runs as root with apt-get (as ``.ci/run`` does for Chromium), or says why it cannot.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

__all__ = ["NGINX_CONF", "Nginx", "ensure_nginx"]

NGINX_CONF = """\
worker_processes {workers};
error_log {prefix}/error.log warn;
pid {prefix}/nginx.pid;
events {{ worker_connections 8192; }}

http {{
    access_log off;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    client_max_body_size 10m;          # an 8 MiB blob chunk and its headers

    upstream doorstep {{
        least_conn;
{servers}
        keepalive 128;                 # reused connections to the nodes
        keepalive_timeout 60s;
    }}

    server {{
        listen 127.0.0.1:{port} backlog=4096 reuseport;
        keepalive_timeout 75s;         # phones poll on one connection
        keepalive_requests 100000;

        location = /sync/v1/events {{  # the event stream: unbuffered, long-lived
            proxy_pass http://doorstep;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_buffering off;
            proxy_read_timeout 3600s;  # far above the 25 s heartbeat
        }}

        location / {{
            proxy_pass http://doorstep;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_next_upstream error timeout http_503;
            proxy_next_upstream_tries 2;
            proxy_read_timeout 60s;
        }}
    }}
}}
"""


def _server_lines(ports: list[int]) -> str:
    return "\n".join(f"        server 127.0.0.1:{p} max_fails=3 fail_timeout=5s;" for p in ports)


def ensure_nginx() -> tuple[str | None, str]:
    """The nginx binary, or None and why not."""
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )
    if found:
        return found, "nginx found"
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return None, "nginx is not installed (Debian: apt-get install nginx)"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    cmd = ["apt-get", "install", "-y", "--no-install-recommends", "nginx"]
    done = subprocess.run(cmd, env=env, capture_output=True, timeout=600)
    if done.returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, capture_output=True, timeout=600)
        done = subprocess.run(cmd, env=env, capture_output=True, timeout=600)
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", 1) else None
    )
    if found is None:
        return None, "nginx could not be installed with apt-get"
    return found, "nginx installed with apt-get"


class Nginx:
    """nginx on a port of its own in front of ``upstreams``; ``upstreams`` may be set
    between phases (nginx is restarted on the same port). ``close()`` stops it, always."""

    def __init__(self, binary: str, upstreams: list[int], workers: int = 1) -> None:
        self.binary = binary
        self.workers = workers
        self._dir = Path(tempfile.mkdtemp(prefix="doorstep-nginx-"))
        (self._dir / "tmp").mkdir()
        # run as root, nginx's workers run as nobody: they write its temporary files
        self._dir.chmod(0o755)
        (self._dir / "tmp").chmod(0o777)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self._proc: subprocess.Popen[bytes] | None = None
        self._upstreams = list(upstreams)
        self._start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def upstreams(self) -> list[int]:
        return list(self._upstreams)

    @upstreams.setter
    def upstreams(self, ports: list[int]) -> None:
        self._upstreams = list(ports)
        self._stop()
        self._start()

    def config(self) -> str:
        return NGINX_CONF.format(
            workers=self.workers,
            prefix=self._dir,
            servers=_server_lines(self._upstreams),
            port=self.port,
        )

    def _start(self) -> None:
        conf = self._dir / "nginx.conf"
        conf.write_text(self.config())
        self._proc = subprocess.Popen(
            [self.binary, "-p", str(self._dir), "-c", str(conf), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode() if self._proc.stderr else ""
                raise RuntimeError(f"nginx did not start: {err.strip()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        self._stop()
        raise RuntimeError("nginx did not listen within 30 s")

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()  # SIGTERM: fast shutdown
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        if proc.stderr:
            proc.stderr.close()

    def close(self) -> None:
        self._stop()
        shutil.rmtree(self._dir, ignore_errors=True)
