"""Elasticsearch 8, single node, plain HTTP, from the integ-test zip on Maven Central.

Elasticsearch refuses to run as root; as root we run it as a dedicated system user that
owns its writable directories.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import stat
import zipfile
from pathlib import Path

import structlog

from kestra_stream.services._base import LocalService, java_home, maven_argv, maven_progress_line
from kestra_stream.services._process import LaunchSpec, Progress, ServiceError, port_open, run_tool
from kestra_stream.services._settings import BIND_ADDRESS, ServiceName

log = structlog.get_logger("kestra_stream.services")

_ARTIFACT = "org.elasticsearch.distribution.integ-test-zip:elasticsearch:{version}:zip"

# The integ-test zip carries only transport-netty4, x-pack-core/security and apm: settings
# of absent modules (ml, geoip ...) would be rejected, so none are set here.
_CONFIG = """# Written by `kestra-stream services up elasticsearch`; rewritten at every start.
cluster.name: kestra-stream
node.name: kestra-stream-1
path.data: {data}
path.logs: {logs}
network.host: {bind}
http.port: {port}
transport.port: {transport_port}
discovery.type: single-node
xpack.security.enabled: false
# A nearly full CI disk must not turn every index read-only.
cluster.routing.allocation.disk.threshold_enabled: false
"""


class Elasticsearch(LocalService):
    name: ServiceName = "elasticsearch"
    # Its JVM took 118 s to start on a 2-core machine at load 12 (two test suites beside it), and
    # the first answers after that took seconds: a CI under load must not give up on a healthy node.
    ready_timeout = 300.0

    @property
    def version_dir(self) -> Path:
        return self.dist_dir / self.settings.elasticsearch_version

    @property
    def es_home(self) -> Path:
        return self.version_dir / f"elasticsearch-{self.settings.elasticsearch_version}"

    @property
    def config_dir(self) -> Path:
        return self.dir / "config"

    @property
    def tmp_dir(self) -> Path:
        return self.dir / "tmp"

    def logs(self) -> list[Path]:
        return [self.logs_dir / "kestra-stream.log", self.out_log]

    def installed(self) -> bool:
        return (self.version_dir / ".complete").exists()

    def install(self, progress: Progress) -> None:
        self.require_tool("mvn", "install Apache Maven (e.g. `apt-get install maven`)")
        version = self.settings.elasticsearch_version
        download = self.version_dir / "download"
        download.mkdir(parents=True, exist_ok=True)
        progress(f"fetching {_ARTIFACT.format(version=version)} with Maven")
        run_tool(self.name, maven_argv("dependency:copy", f"-Dartifact={_ARTIFACT.format(version=version)}",
                                       f"-DoutputDirectory={download}"),
                 cwd=self.version_dir, progress=progress, log_file=self.install_log, show=maven_progress_line)
        archive = download / f"elasticsearch-{version}.zip"
        progress(f"unpacking {archive.name} into {self.version_dir}")
        if self.es_home.exists():
            shutil.rmtree(self.es_home)  # a half-unpacked tree from an interrupted install
        unzip_with_modes(archive, self.version_dir)
        archive.unlink()  # the zip stays in ~/.m2; no need for two copies
        (self.version_dir / ".complete").write_text(version + "\n")

    def prepare(self) -> LaunchSpec:
        s = self.settings
        for d in (self.config_dir, self.data_dir, self.logs_dir, self.tmp_dir, self.run_dir):
            d.mkdir(parents=True, exist_ok=True)
        shipped = self.es_home / "config"
        for item in shipped.iterdir():
            target = self.config_dir / item.name
            if item.is_dir():
                shutil.copytree(item, target, dirs_exist_ok=True)
            elif not target.exists():
                shutil.copy2(item, target)
        (self.config_dir / "elasticsearch.yml").write_text(_CONFIG.format(
            data=self.data_dir, logs=self.logs_dir, bind=BIND_ADDRESS, port=s.elasticsearch_port,
            transport_port=s.elasticsearch_transport_port))
        options = self.config_dir / "jvm.options.d"
        options.mkdir(exist_ok=True)
        heap = s.elasticsearch_heap
        (options / "kestra-stream.options").write_text(f"-Xms{heap}\n-Xmx{heap}\n")
        user = self._run_as()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ES_", "JAVA_TOOL_OPTIONS"))}
        env.update({"ES_JAVA_HOME": str(java_home()), "ES_PATH_CONF": str(self.config_dir),
                    "ES_TMPDIR": str(self.tmp_dir), "HOME": str(self.dir)})
        # cwd = logs: jvm.options writes gc.log and hs_err files relative to it.
        return LaunchSpec(argv=[str(self.es_home / "bin" / "elasticsearch")], cwd=self.logs_dir,
                          log_file=self.out_log, env=env, user=user, group=user)

    def _run_as(self) -> str | None:
        """As root: the dedicated user, created if missing, owning the writable directories."""
        if os.geteuid() != 0:
            return None
        name = self.settings.elasticsearch_user
        try:
            pwd.getpwnam(name)
        except KeyError:
            log.info("services.elasticsearch.useradd", user=name)
            run_tool(self.name, ["useradd", "--system", "--user-group", "--no-create-home",
                                 "--home-dir", str(self.dir), "--shell", "/usr/sbin/nologin", name],
                     progress=lambda _line: None, log_file=self.install_log)
        entry = pwd.getpwnam(name)
        group = grp.getgrgid(entry.pw_gid).gr_name
        if group != name:
            raise ServiceError(self.name, f"user {name} exists but its primary group is {group}, not {name}; "
                                          f"choose another user with KESTRA_STREAM_ELASTICSEARCH_USER")
        for d in (self.config_dir, self.data_dir, self.logs_dir, self.tmp_dir):
            chown_tree(d, entry.pw_uid, entry.pw_gid)
        self.out_log.touch()
        os.chown(self.out_log, entry.pw_uid, entry.pw_gid)
        grant_traverse(self.es_home)
        return name

    def probe(self) -> bool:
        return elasticsearch_ready(self.endpoint)


def elasticsearch_ready(url: str, timeout: float = 10.0) -> bool:
    """True when ``url`` answers a cluster health of yellow or green."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.hostname in ("localhost", "127.0.0.1") and parts.port and not port_open(parts.port):
        return False
    try:
        from elasticsearch import ApiError, Elasticsearch, TransportError
    except ImportError as exc:
        raise ServiceError("elasticsearch", "the readiness check needs the client: "
                                            "`pip install 'elasticsearch>=8,<9'`") from exc
    with Elasticsearch(url, request_timeout=timeout) as client:
        try:
            health = client.cluster.health(wait_for_status="yellow", timeout="1s")
        except (ApiError, TransportError):
            return False
    return str(health.get("status")) in ("yellow", "green")


def unzip_with_modes(archive: Path, target: Path) -> None:
    """Extract keeping the Unix permission bits (zipfile drops them; bin/ must stay executable)."""
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            path = Path(zf.extract(info, target))
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                path.chmod(mode)


def chown_tree(root: Path, uid: int, gid: int) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [dirpath, *(os.path.join(dirpath, n) for n in dirnames + filenames)]:
            st = os.lstat(name)
            if st.st_uid != uid or st.st_gid != gid:
                os.lchown(name, uid, gid)


def grant_traverse(path: Path) -> None:
    """Let other users pass through every ancestor of ``path`` (search bit only, no listing).

    Needed when the home sits under a private directory such as /root: the Elasticsearch
    user must reach its files. Contents stay as protected as their own modes say.
    """
    for directory in reversed(path.absolute().parents):
        mode = directory.stat().st_mode
        if not mode & stat.S_IXOTH:
            log.warning("services.elasticsearch.grant_traverse", directory=str(directory),
                        reason="the Elasticsearch user must reach its files below it")
            directory.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)
