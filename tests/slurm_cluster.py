"""A one-node Slurm cluster of this machine, for the executor tests: munged, slurmctld and
slurmd started by hand in a folder of their own (own socket, ports, state and logs), and
stopped again by the process ids they wrote. Needs Debian's slurm-wlm and munge, and root."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd")


def missing() -> str | None:
    """Why a cluster cannot start here, or None."""
    absent = [d for d in DAEMONS if shutil.which(d, path="/usr/sbin:/usr/bin") is None]
    if absent:
        return f"{', '.join(absent)} not installed (apt-get install slurm-wlm munge)"
    if os.geteuid() != 0:
        return "the test Slurm cluster runs its daemons as root"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _conf(folder: Path, host: str, cpus: int) -> str:
    return f"""ClusterName=atrbench
SlurmctldHost={host}
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket={folder}/munge.socket
StateSaveLocation={folder}/state
SlurmdSpoolDir={folder}/spool
SlurmctldPidFile={folder}/slurmctld.pid
SlurmdPidFile={folder}/slurmd.pid
SlurmctldLogFile={folder}/slurmctld.log
SlurmdLogFile={folder}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
MinJobAge=600
KillWait=5
NodeName={host} CPUs={cpus} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""


@dataclass
class Cluster:
    folder: Path
    conf: Path

    def env(self) -> dict[str, str]:
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def command(self, *argv: str) -> str:
        out = subprocess.run(argv, env=self.env(), capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)}: {out.stderr.strip()}")
        return out.stdout

    def log_tail(self) -> str:
        parts = []
        for name in ("munged.log", "slurmctld.log", "slurmd.log"):
            path = self.folder / name
            if path.exists():
                parts.append(f"--- {name}\n" + "\n".join(path.read_text().splitlines()[-15:]))
        return "\n".join(parts)


def start(folder: Path, cpus: int = 2) -> Cluster:
    """Start the daemons; raises (with their logs) when the node is not up within a minute."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    (folder / "state").mkdir()
    (folder / "spool").mkdir()
    host = socket.gethostname().split(".")[0]
    conf = folder / "slurm.conf"
    conf.write_text(_conf(folder, host, cpus))
    cluster = Cluster(folder, conf)
    key = folder / "munge.key"
    subprocess.run(["mungekey", "--create", f"--keyfile={key}"], check=True)
    key.chmod(0o400)
    munged = [
        "munged", f"--socket={folder}/munge.socket", f"--key-file={key}",
        f"--pid-file={folder}/munged.pid", f"--log-file={folder}/munged.log",
        f"--seed-file={folder}/munged.seed", "--force",
    ]  # fmt: skip
    try:
        subprocess.run(munged, check=True, timeout=30)
        subprocess.run(["slurmctld", "-f", str(conf)], check=True, timeout=30, env=cluster.env())
        subprocess.run(["slurmd", "-f", str(conf)], check=True, timeout=30, env=cluster.env())
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                state = cluster.command("sinfo", "--noheader", "--format", "%t").split()
            except RuntimeError:
                state = []
            if state and state[0] in ("idle", "mix", "alloc"):
                return cluster
            time.sleep(1)
        raise RuntimeError(f"the Slurm node did not come up\n{cluster.log_tail()}")
    except BaseException:
        stop(cluster)
        raise


def stop(cluster: Cluster) -> None:
    """Cancel every job of this cluster, then end each daemon it started, by its pid file."""
    try:
        cluster.command("scancel", "--full", "--user", "root")
        time.sleep(1)
    except (RuntimeError, OSError, subprocess.TimeoutExpired):
        pass
    for name in ("slurmd", "slurmctld", "munged"):
        pid_file = cluster.folder / f"{name}.pid"
        try:
            pid = int(pid_file.read_text().split()[0])
            os.kill(pid, signal.SIGTERM)
        except (OSError, ValueError, IndexError):
            continue
        for _ in range(100):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)
