"""The sphere playground from the command line, and from the app without torch.

    python -m trainers toy --loss nt_xent --temperature 0.5 --dim 3 --points 200 --steps 300 \\
        --mode encoder --seed 0 [--data blobs] [--noise 0.1] [--lr 0.02] [--classes 4] [--json]

prints one JSON object (``--json``): the per-step ``loss``, ``alignment`` and ``uniformity``
lists, ``seconds``, ``final_alignment``, ``final_uniformity``, ``uniformity_optimum`` (the
lowest uniformity the points can reach on this sphere) and ``uniformity_uniform`` (that of the
uniform distribution); ``--positions`` adds the recorded positions (see :func:`trajectory_dict`).
A bad value exits with status 2 and one message.

The app's server never imports torch (docs/architecture.md), so it runs the simulation in a
child process, one of two ways:

* :func:`simulate_in_subprocess`: a fresh ``python -m jobs.toy_cli ... --json --positions``
  per simulation. Simple, nothing left running; most of its time is the child's import of
  torch (measured on an idle 16-core server: 6.3 to 7.1 s from call to result, 5.6 s of it
  importing torch, about 1.4 s simulating 300 steps of 200 points).
* :class:`ToyServer`: one child (``python -m jobs.toy_cli --serve``) that imported torch
  once and answers requests on its stdin / stdout, one JSON object a line each way. It is
  bound to nothing but its pipes, and it exits when its stdin closes, so it ends with its
  parent. A request then costs the simulation and the transfer of its frames (same server:
  0.86 to 1.09 s for 300 steps of 200 points, the transfer about 10 ms; start 3.8 s).

Both validate the config here (:class:`trainers.toy.ToyConfig` needs no torch) and return
:func:`decode`'s dict: the JSON object with ``positions`` as a (frames, N, dim) float32 array.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import json
import os
import select
import subprocess
import sys
import tempfile
import threading
import time
import typing
from pathlib import Path
from typing import Any

import numpy as np

from trainers.options import ConfigError, Rule, check_value
from trainers.toy import CHOICES, ToyConfig, uniformity_of_uniform, uniformity_optimum

ROOT = Path(__file__).resolve().parents[1]
THREADS = Rule("threads", 1, 256, "int", rule="an integer between 1 and 256")
_HELP = {
    "loss": f"loss: {', '.join(CHOICES['loss'])} (align_uniform = align + lam * uniform, Wang & Isola, t = 2)",
    "temperature": "temperature of nt_xent / dcl / supcon",
    "lam": "weight of the uniformity term of align_uniform",
    "batch_size": "points per step (0 = all points)",
    "lr": "Adam learning rate",
    "noise": "standard deviation of the Gaussian noise that makes a view",
    "dim": "2: the circle, 3: the sphere",
    "points": "number of points (100 to 500)",
    "classes": "classes of the toy data",
    "steps": "optimiser steps",
    "seed": "seed of the data, the initial state, the views and the batches",
    "mode": "encoder (an MLP of 2-D inputs moves the points) or free (the points are the parameters)",
    "data": f"encoder mode's inputs: {', '.join(CHOICES['data'])}",
    "snapshot_every": "record the positions every this many steps (0 = every (steps // 100)-th: 101 to 200 frames)",
}
_DEFAULT_TEXT = {"temperature": "the loss's own: 0.5 / 0.1 / 0.1"}


# --------------------------------------------------------------------------- the command


def add_toy_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``toy`` command to ``subparsers`` (of ``python -m trainers``); returns its parser."""
    p = subparsers.add_parser(
        "toy", help="the sphere playground: points on the circle or sphere moved by a loss (no store)",
        description="Train a few hundred points on the circle (--dim 2) or the sphere (--dim 3) with one loss "
                    "and print the loss, alignment and uniformity of every step.")
    hints = typing.get_type_hints(ToyConfig)
    for f in dataclasses.fields(ToyConfig):
        hint = hints[f.name]
        typ = int if hint is int else str if hint is str else float
        p.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, type=typ, default=None,
                       help=f"{_HELP[f.name]} (default: {_DEFAULT_TEXT.get(f.name, f.default)})")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default: 1; the simulation is small)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--positions", action="store_true",
                   help="with --json: add the recorded positions (base64 float32), steps, labels and inputs")
    return p


def config_from_args(a: argparse.Namespace) -> ToyConfig:
    """The config the flags describe (flags left out keep their defaults); raises ConfigError."""
    given = {f.name: getattr(a, f.name) for f in dataclasses.fields(ToyConfig) if getattr(a, f.name) is not None}
    return ToyConfig.from_dict(given)


def run_toy(a: argparse.Namespace) -> int:
    """Run the ``toy`` command: 0 on success, 2 (one message on stderr) for a bad value."""
    try:
        cfg = config_from_args(a)
        threads = check_value("threads", a.threads, THREADS)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    import torch

    from trainers.toy import simulate

    torch.set_num_threads(threads)
    out = trajectory_dict(simulate(cfg), positions=a.json and a.positions)
    if a.json:
        print(json.dumps(out))
    else:
        tau = f", temperature {cfg.effective_temperature:g}" if cfg.loss in ("nt_xent", "dcl", "supcon") else ""
        print(f"{cfg.loss}{tau}: {cfg.steps} steps of {cfg.points} points on the "
              f"{'circle' if cfg.dim == 2 else 'sphere'} ({cfg.mode} mode) in {out['seconds']:.2f} s")
        print(f"  loss        {out['loss'][0]:.4f} -> {out['loss'][-1]:.4f}")
        print(f"  alignment   {out['alignment'][0]:.4f} -> {out['final_alignment']:.4f}")
        print(f"  uniformity  {out['uniformity'][0]:.4f} -> {out['final_uniformity']:.4f} (optimum "
              f"{out['uniformity_optimum']:.4f}, uniform distribution {out['uniformity_uniform']:.4f})")
    return 0


def trajectory_dict(traj: Any, *, positions: bool = True) -> dict[str, Any]:
    """A :class:`trainers.toy.Trajectory` as a JSON-ready object.

    Always: ``config``, ``loss``, ``alignment``, ``uniformity`` (per step 0..steps),
    ``seconds``, ``final_alignment``, ``final_uniformity``, ``uniformity_optimum``,
    ``uniformity_uniform``. With ``positions``: ``steps`` (of the frames), ``labels``,
    ``inputs`` (null in free mode), ``positions_shape`` and ``positions_b64`` (the
    (frames, N, dim) positions as little-endian float32 bytes, base64); and when the trajectory
    recorded them (``simulate(cfg, record_views=True)``), ``views_shape`` and ``views_b64`` (the
    (frames, 2, N, dim) views, encoded the same way).
    """
    cfg = traj.config
    out: dict[str, Any] = {
        "config": cfg.to_dict(),
        "loss": traj.loss,
        "alignment": traj.alignment,
        "uniformity": traj.uniformity,
        "seconds": traj.seconds,
        "final_alignment": traj.final_alignment,
        "final_uniformity": traj.final_uniformity,
        "uniformity_optimum": uniformity_optimum(cfg.points, cfg.dim),
        "uniformity_uniform": uniformity_of_uniform(cfg.dim),
    }
    if positions:
        pos = np.ascontiguousarray(traj.positions, dtype="<f4")
        out.update(
            steps=list(traj.steps),
            labels=traj.labels.tolist(),
            inputs=None if traj.inputs is None else traj.inputs.tolist(),
            positions_shape=list(pos.shape),
            positions_b64=base64.b64encode(pos.tobytes()).decode("ascii"),
        )
        if getattr(traj, "views", None) is not None:
            views = np.ascontiguousarray(traj.views, dtype="<f4")
            out.update(views_shape=list(views.shape), views_b64=base64.b64encode(views.tobytes()).decode("ascii"))
    return out


def decode(d: dict[str, Any]) -> dict[str, Any]:
    """:func:`trajectory_dict`'s object with ``positions`` (frames, N, dim) float32, ``labels``
    (N,) int64 and ``inputs`` (N, 2) float32 or None as numpy arrays (and ``views``, (frames, 2,
    N, dim) float32, when it holds them)."""
    out = dict(d)
    if "positions_b64" in out:
        raw = base64.b64decode(out.pop("positions_b64"))
        out["positions"] = np.frombuffer(raw, dtype="<f4").reshape(out.pop("positions_shape")).copy()
        out["labels"] = np.asarray(out["labels"], dtype=np.int64)
        out["inputs"] = None if out["inputs"] is None else np.asarray(out["inputs"], dtype=np.float32)
    if "views_b64" in out:
        raw = base64.b64decode(out.pop("views_b64"))
        out["views"] = np.frombuffer(raw, dtype="<f4").reshape(out.pop("views_shape")).copy()
    return out


# --------------------------------------------------------------------------- child processes


def _child_env(threads: int) -> dict[str, str]:
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
            "PYTHONPATH": str(ROOT) + (os.pathsep + path if path else "")}


def _flags(cfg: ToyConfig) -> list[str]:
    out = []
    for k, v in cfg.to_dict().items():
        if v is not None:
            out += [f"--{k.replace('_', '-')}", str(v)]
    return out


def simulate_in_subprocess(config_dict: dict[str, Any], timeout: float = 60.0, *, threads: int = 1) -> dict[str, Any]:
    """Run one simulation in a fresh child process and return :func:`decode`'s dict.

    The config is validated here first (a bad one raises ConfigError without starting a
    child). Raises ``TimeoutError`` when the child takes longer than ``timeout`` seconds
    (it is killed) and ``RuntimeError`` with the end of its stderr when it fails.
    """
    cfg = ToyConfig.from_dict(config_dict)
    threads = check_value("threads", threads, THREADS)
    cmd = [sys.executable, "-m", "jobs.toy_cli", *_flags(cfg), "--threads", str(threads), "--json", "--positions"]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=_child_env(threads))
    except subprocess.TimeoutExpired:
        raise TimeoutError(f"the toy simulation took longer than {timeout:g} s (its process was stopped)") from None
    if p.returncode != 0:
        raise RuntimeError(f"the toy simulation exited with status {p.returncode}: {p.stderr.strip()[-2000:]}")
    return decode(json.loads(p.stdout))


def serve(threads: int = 1) -> int:
    """The child of :class:`ToyServer`: import torch, warm up, say ready, then answer one JSON
    line ``{"id": k, "config": {...}}`` with one JSON line ``{"id": k, **trajectory_dict}``
    (or ``{"id": k, "error": message, "kind": "config" | "crash"}``) until stdin closes. A
    request with ``"views": true`` also gets the two views of every point at each frame."""
    start = time.perf_counter()
    import torch

    from trainers.toy import simulate

    torch.set_num_threads(threads)
    simulate(ToyConfig(points=100, steps=3))  # first-call costs (allocator, kernels) paid before the first request
    out = sys.stdout

    def send(obj: dict[str, Any]) -> None:
        out.write(json.dumps(obj) + "\n")
        out.flush()

    send({"ready": True, "pid": os.getpid(), "seconds": time.perf_counter() - start})
    for line in sys.stdin:
        rid = None
        try:
            req = json.loads(line)
            rid = req.get("id")
            traj = simulate(ToyConfig.from_dict(req.get("config")), record_views=bool(req.get("views", False)))
            reply = {"id": rid, **trajectory_dict(traj)}
        except ConfigError as e:
            reply = {"id": rid, "error": str(e), "kind": "config"}
        except Exception as e:  # the server stays up; the caller gets the reason
            reply = {"id": rid, "error": f"{type(e).__name__}: {e}", "kind": "crash"}
        send(reply)
    return 0


class ToyServer:
    """One warm child process that runs simulations on request (see the module docstring).

    ``start()`` launches it and waits until it has imported torch; ``request(config)`` sends
    one config and returns :func:`decode`'s dict (starting the child first if it is not
    running); ``stop()`` closes its stdin and waits for it to exit (killing it after
    ``timeout``). Requests from several threads are served one at a time. A request that
    times out kills the child (its reply would arrive out of turn); the next one starts a new
    child. Usable as a context manager.
    """

    def __init__(self, *, threads: int = 1) -> None:
        self.threads = check_value("threads", threads, THREADS)
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: Any = None
        self._buffer = b""
        self._next_id = 0
        self._lock = threading.RLock()
        self.start_seconds: float | None = None  # how long the last start took (launch to ready)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 120.0) -> None:
        """Launch the child (if it is not running) and wait for its ready line."""
        with self._lock:
            if self.running:
                return
            self._close()
            t0 = time.perf_counter()
            self._stderr = tempfile.TemporaryFile()
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "jobs.toy_cli", "--serve", "--threads", str(self.threads)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, cwd=ROOT,
                env=_child_env(self.threads))
            self._buffer = b""
            ready = self._read_line(timeout)
            if not ready.get("ready"):
                self._kill()
                raise RuntimeError(f"the toy server answered {ready!r} instead of its ready line")
            self.start_seconds = time.perf_counter() - t0

    def request(self, config_dict: dict[str, Any], timeout: float = 60.0, *, views: bool = False) -> dict[str, Any]:
        """Simulate ``config_dict`` in the child; raises ConfigError for a bad config (checked
        here first), ``TimeoutError`` after ``timeout`` seconds, ``RuntimeError`` when the child
        fails. ``views``: the reply also holds the two views of every point at each frame."""
        cfg = ToyConfig.from_dict(config_dict)
        with self._lock:
            if not self.running:
                self.start()
            assert self._proc is not None and self._proc.stdin is not None
            self._next_id += 1
            rid = self._next_id
            try:
                msg: dict[str, Any] = {"id": rid, "config": cfg.to_dict()}
                if views:
                    msg["views"] = True
                self._proc.stdin.write((json.dumps(msg) + "\n").encode())
                self._proc.stdin.flush()
            except BrokenPipeError:
                self._kill()
                raise RuntimeError(f"the toy server had exited: {self._stderr_tail()}") from None
            reply = self._read_line(timeout)
            if reply.get("id") != rid:
                self._kill()
                raise RuntimeError(f"the toy server answered request {reply.get('id')!r} instead of {rid}")
        if "error" in reply:
            if reply.get("kind") == "config":
                raise ConfigError(reply["error"])
            raise RuntimeError(f"the toy simulation failed: {reply['error']}")
        reply.pop("id")
        return decode(reply)

    def stop(self, timeout: float = 5.0) -> None:
        """Close the child's stdin (it exits at the end of the request in hand) and wait."""
        with self._lock:
            if self._proc is None:
                return
            try:
                if self._proc.stdin is not None:
                    self._proc.stdin.close()
                self._proc.wait(timeout)
            except (subprocess.TimeoutExpired, BrokenPipeError):
                self._kill()
            self._close()

    def __enter__(self) -> ToyServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- internals

    def _read_line(self, timeout: float) -> dict[str, Any]:
        """The child's next JSON line, waiting at most ``timeout`` seconds."""
        assert self._proc is not None and self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                self._kill()
                raise TimeoutError(f"the toy server gave no answer within {timeout:g} s (its process was stopped)")
            readable, _, _ = select.select([fd], [], [], left)
            if not readable:
                continue
            chunk = os.read(fd, 1 << 20)
            if not chunk:  # the child exited
                self._kill()
                raise RuntimeError(f"the toy server exited: {self._stderr_tail()}")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return json.loads(line)

    def _stderr_tail(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        text = self._stderr.read().decode(errors="replace").strip()
        return text[-2000:] or "(no message)"

    def _kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()

    def _close(self) -> None:
        if self._proc is not None:
            for f in (self._proc.stdin, self._proc.stdout):
                if f is not None:
                    try:
                        f.close()
                    except OSError:
                        pass
        if self._stderr is not None:
            self._stderr.close()
        self._proc, self._stderr = None, None


def main(argv: list[str] | None = None) -> int:
    """``python -m jobs.toy_cli [toy flags]`` or ``python -m jobs.toy_cli --serve [--threads N]``."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--serve"]:
        p = argparse.ArgumentParser(prog="python -m jobs.toy_cli --serve")
        p.add_argument("--serve", action="store_true")
        p.add_argument("--threads", type=int, default=1)
        a = p.parse_args(argv)
        return serve(a.threads)
    parser = argparse.ArgumentParser(prog="python -m jobs.toy_cli")
    add_toy_parser(parser.add_subparsers(dest="cmd", required=True))
    return run_toy(parser.parse_args(["toy", *argv]))


if __name__ == "__main__":
    sys.exit(main())
