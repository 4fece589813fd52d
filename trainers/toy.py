"""The sphere playground: a few hundred points on the circle or the sphere, moved by a loss.

:func:`simulate` trains a :class:`ToyConfig` and returns a :class:`Trajectory`: the clean
embedding of every point at recorded steps, with the loss, alignment and uniformity of
every step. It is pure (no store, no files, no global random state) and small enough to
run while a person waits: 300 steps of 200 points took 0.85 to 1.5 s on one thread of an
idle 16-core server (``align`` alone: 0.35 s; the (2N)^2 similarity matrix of the
contrastive and uniformity losses, forward and backward, is most of the rest), and 500
points about 5.5 s.

Two modes:

* ``"encoder"``: 2-D inputs (``blobs``, ``moons`` or ``rings``, ``classes`` classes,
  seeded, standardised), a tiny MLP ``2 -> 32 -> 32 -> dim`` (tanh), then L2
  normalisation. The two views of a point are its input plus Gaussian noise of standard
  deviation ``noise``. The last layer starts with no weight into the ``e_1`` output and a
  bias that centres the other outputs and puts ``c e_1`` in front of them (``c`` set from
  their spread), so that the untrained encoder maps every input into the open half-sphere
  around ``e_1``, within an RMS angle of about :data:`CAP` radians: what the loss does then
  shows as the points leave the cap.
* ``"free"``: the positions themselves are the parameters, drawn in the same cap around
  ``e_1`` and put back on the sphere after every step. The two views of a point are its
  position plus Gaussian noise of standard deviation ``noise``, normalised.

The losses (on the two views ``z1``, ``z2`` of the batch; ``t = 2``, ``alpha = 2``):

* ``nt_xent``, ``dcl``, ``supcon``: :mod:`trainers.losses` (SupCon on both views stacked,
  with the point's class as label);
* ``align``: ``mean_i ||z1_i - z2_i||^2`` (Wang & Isola 2020, eq. 4);
* ``uniform``: the mean over the two views of ``log mean_{i<j} exp(-t ||z_i - z_j||^2)``
  (eq. 5), each view on its own;
* ``align_uniform``: ``align + lam * uniform``, their loss ``L_align + lam * L_uniform``.

Optimiser: Adam (``lr`` default 0.02; :class:`_Adam`, the same update as torch.optim.Adam).
Adam divides each step by the gradient's running scale, so one learning rate moves every
loss's points at a similar, visible speed. Plain SGD needs a rate per loss and per number of
points (the uniformity term's gradient per point shrinks as ``1/N``): with SGD at lr 1, 500
free points under ``uniform`` only reach -1.78 in 300 steps (Adam: -2.0939, the optimum for
500 points), and at lr 10, which spreads them, NT-Xent at temperature 0.1 overshoots (-1.59,
against -2.06 at lr 1).

The recorded metrics use :mod:`analysis.geometry`'s definitions: ``alignment[s]`` is
:func:`~analysis.geometry.alignment` of the two views of every point at step ``s`` (the
views the step trains on), ``uniformity[s]`` is :func:`~analysis.geometry.uniformity` of
the clean positions (no noise) at step ``s``. Lists are indexed by step, ``0`` (before
any update) to ``steps`` (after the last), so ``loss[s]`` is the loss whose gradient made
the update from step ``s`` to ``s + 1`` (and ``loss[steps]`` the loss of the final state).

Where the points can go: :func:`uniformity_of_uniform` is the value for the uniform
distribution on the circle or the 2-sphere, :func:`uniformity_optimum` the lowest value
``n`` points can reach there (see their docstrings).

This module imports torch only when :func:`simulate` runs, so the config, its rules and
the bounds can be read by a process that must stay free of torch (the app's server).
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from trainers import registry
from trainers.options import MAX_SEED, ConfigError, Rule, check_value, describe

if TYPE_CHECKING:
    import torch

TOY_LOSSES = ("nt_xent", "dcl", "supcon", "align", "uniform", "align_uniform")
CONTRASTIVE = ("nt_xent", "dcl", "supcon")  # the losses that read the temperature
MODES = ("encoder", "free")
DATASETS = ("blobs", "moons", "rings")
T = 2.0  # uniformity's t (Wang & Isola)
CAP = 0.3  # angular radius (radians, RMS) of the cap around e_1 the points start in
HIDDEN = 32  # width of the encoder's two hidden layers
MIN_FRAMES = 100  # snapshot_every = 0: every (steps // 100)-th step, so 101 to 200 frames (all steps below 100)
MAX_STEPS = 5000

RULES: dict[str, Rule] = {
    "temperature": Rule("temperature", 1e-3, 100.0,
                        rule="> 0: a number between 0.001 and 100, or null for the loss's own default",
                        hint="typical values are 0.05 to 1.0"),
    "lam": Rule("uniformity weight", 0.0, 100.0, rule="a number in [0, 100]", hint="Wang & Isola use 1"),
    "batch_size": Rule("batch size", 0, 500, "int", rule="0 (all points) or an integer between 2 and the number of points"),
    "lr": Rule("learning rate", 1e-6, 10.0, rule="> 0: a number between 1e-06 and 10", hint="try 0.02"),
    "noise": Rule("augmentation noise", 0.0, 5.0, rule="a number in [0, 5]", hint="0 = identical views, try 0.1"),
    "dim": Rule("dimension", 2, 3, "int", rule="2 (the circle) or 3 (the sphere)"),
    "points": Rule("number of points", 100, 500, "int", rule="an integer between 100 and 500"),
    "classes": Rule("number of classes", 2, 10, "int", rule="an integer between 2 and 10"),
    "steps": Rule("steps", 1, MAX_STEPS, "int", rule=f"an integer between 1 and {MAX_STEPS}"),
    "seed": Rule("seed", 0, MAX_SEED, "int", rule=f"an integer between 0 and {MAX_SEED} (2**32 - 1)"),
    "snapshot_every": Rule("snapshot interval", 0, MAX_STEPS, "int",
                           rule="0 (automatic: 101 to 200 frames) or an integer between 1 and the number of steps"),
}
CHOICES: dict[str, tuple[str, ...]] = {"loss": TOY_LOSSES, "mode": MODES, "data": DATASETS}


@dataclass(frozen=True)
class ToyConfig:
    loss: str = "nt_xent"  # one of TOY_LOSSES
    temperature: float | None = None  # nt_xent / dcl / supcon; None -> the registry's default (0.5 / 0.1 / 0.1); others ignore it
    lam: float = 1.0  # align_uniform: weight of the uniformity term
    batch_size: int = 0  # points per step (a fresh random split every pass); 0 = all points every step
    lr: float = 0.02  # Adam learning rate
    noise: float = 0.05  # standard deviation of the Gaussian noise that makes a view
    dim: int = 3  # 2: points on the circle, 3: on the sphere
    points: int = 200  # number of points
    classes: int = 4  # classes of the toy data (SupCon's labels; colours)
    steps: int = 300  # optimiser steps
    seed: int = 0  # seeds the data, the initial positions or weights, the views and the batches
    mode: str = "encoder"  # "encoder": an MLP moves the points; "free": the points are the parameters
    data: str = "blobs"  # encoder mode's inputs: "blobs", "moons" or "rings" (free mode only uses the labels)
    snapshot_every: int = 0  # record the positions every this many steps (and the last); 0 = every (steps // 100)-th

    def __post_init__(self) -> None:
        for name, choices in CHOICES.items():
            v = getattr(self, name)
            if not isinstance(v, str) or v not in choices:
                raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {describe(v)}")
        for f in dataclasses.fields(self):
            rule = RULES.get(f.name)
            v = getattr(self, f.name)
            if rule is None or (f.name == "temperature" and v is None):
                continue
            where = f.name if rule.label == f.name else f"{f.name}: {rule.label}"
            object.__setattr__(self, f.name, check_value(where, v, rule))
        if self.batch_size == 1 or self.batch_size > self.points:
            raise ConfigError(f"batch_size: batch size must be {RULES['batch_size'].rule} ({self.points}), got "
                              f"{self.batch_size}" + ("; a contrastive loss needs negatives" if self.batch_size == 1 else ""))
        if self.snapshot_every > self.steps:
            raise ConfigError(f"snapshot_every: snapshot interval must be {RULES['snapshot_every'].rule} "
                              f"({self.steps}), got {self.snapshot_every}")

    @property
    def effective_temperature(self) -> float:
        """The temperature the contrastive losses use (their default when ``temperature`` is None)."""
        if self.temperature is not None:
            return self.temperature
        spec = registry.LOSSES[self.loss] if self.loss in CONTRASTIVE else registry.LOSSES["nt_xent"]
        return spec.temperature

    @property
    def interval(self) -> int:
        """Steps between recorded frames."""
        return self.snapshot_every or max(1, self.steps // MIN_FRAMES)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Any) -> ToyConfig:
        """A config from a JSON object; unknown keys are refused with the known ones listed."""
        if not isinstance(d, dict):
            raise ConfigError(f"a toy config must be an object of fields and values, got {describe(d)}")
        known = [f.name for f in dataclasses.fields(cls)]
        bad = sorted(str(k) for k in d if k not in known)
        if bad:
            raise ConfigError(f"unknown toy field(s) {', '.join(bad)}; known: {', '.join(known)}")
        return cls(**d)


@dataclass
class Trajectory:
    config: ToyConfig
    positions: np.ndarray  # (frames, N, dim) float32: the clean embedding of every point at each recorded step
    steps: list[int]  # the step of each frame: 0, k, 2k, ..., and the last step
    labels: np.ndarray  # (N,) int64 classes
    inputs: np.ndarray | None  # (N, 2) float32 standardised inputs (encoder mode); None in free mode
    loss: list[float] = field(default_factory=list)  # per step 0..steps
    alignment: list[float] = field(default_factory=list)  # per step 0..steps: the two views of every point
    uniformity: list[float] = field(default_factory=list)  # per step 0..steps: the clean positions
    seconds: float = 0.0  # wall time of the simulation (data, model and steps; torch's import not included)
    views: np.ndarray | None = None  # (frames, 2, N, dim) float32: the two views of every point at each recorded step (simulate(record_views=True)); else None

    @property
    def final_alignment(self) -> float:
        return self.alignment[-1]

    @property
    def final_uniformity(self) -> float:
        return self.uniformity[-1]


# --------------------------------------------------------------------------- bounds


def _bessel_i0(x: float) -> float:
    """Modified Bessel function I_0 by its power series (converges fast for the x used here)."""
    total, term, k = 1.0, 1.0, 0
    while term > 1e-17 * total:
        k += 1
        term *= (x / 2.0) ** 2 / (k * k)
        total += term
    return total


def mean_potential_of_uniform(dim: int, *, t: float = T) -> float:
    """``E exp(-t ||x - y||^2)`` for x, y independent and uniform on the unit sphere in ``R^dim``.

    With ``u = x.y``, ``||x - y||^2 = 2 - 2u``. On the circle (dim 2) ``u = cos(theta)`` with
    theta uniform, so the mean is ``exp(-2t) I_0(2t)``; on the 2-sphere (dim 3) ``u`` is uniform
    on [-1, 1] (Archimedes), so it is ``(1 - exp(-4t)) / (4t)``.
    """
    if dim == 2:
        return math.exp(-2.0 * t) * _bessel_i0(2.0 * t)
    if dim == 3:
        return (1.0 - math.exp(-4.0 * t)) / (4.0 * t)
    raise ValueError(f"dim must be 2 or 3; got {dim}.")


def uniformity_of_uniform(dim: int, *, t: float = T) -> float:
    """Uniformity of the uniform distribution on the circle (dim 2) or the 2-sphere (dim 3):
    ``log E exp(-t ||x - y||^2)``, -1.5750 and -2.0798 at ``t = 2``. Points drawn at random from
    it have this value on average (up to the log's curvature)."""
    return math.log(mean_potential_of_uniform(dim, t=t))


def uniformity_optimum(n: int, dim: int, *, t: float = T) -> float:
    """The lowest uniformity ``n`` points on the circle (dim 2) or the 2-sphere (dim 3) can have.

    ``uniformity >= log((n I - 1) / (n - 1))`` with ``I`` = :func:`mean_potential_of_uniform`.
    Proof: the Gaussian kernel is positive definite, and ``int k(x, y) dsigma(y) = I`` for every
    x (sigma uniform), so for the points' empirical measure mu, ``0 <= E_k(mu - sigma) =
    E_k(mu) - I``: the mean over all n^2 ordered pairs, the n self-pairs (each 1) included, is at
    least I; the mean over the n (n-1) distinct pairs is then at least ``(n I - 1) / (n - 1)``.
    Equally spaced points on the circle reach it (their mean over a full turn is I exactly, up to
    ``exp(-t) I_n(2t)``-sized terms); on the sphere it is a close lower bound (n = 200, t = 2:
    -2.1156, against -2.0798 for the uniform distribution). It lies far above
    :func:`analysis.bounds.uniformity_optimum` (-2t n / (n - 1)), which only a regular simplex
    (n <= dim + 1 points) reaches.
    """
    if n < 2:
        raise ValueError(f"n must be at least 2; got {n}.")
    mean_pairs = (n * mean_potential_of_uniform(dim, t=t) - 1.0) / (n - 1)
    if mean_pairs <= 0.0:
        raise ValueError(f"{n} points are too few for this bound on dim {dim} at t = {t:g}.")
    return math.log(mean_pairs)


# --------------------------------------------------------------------------- data


def toy_inputs(data: str, n: int, classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)``: n 2-D inputs (float32, zero mean, unit RMS coordinate) and their classes
    (int64, balanced: point i has class ``i % classes``).

    ``blobs``: Gaussian blobs (sd 0.5) with centres evenly spaced on a circle of radius 3;
    ``moons``: a chain of interleaved half circles of radius 1 (class k: centre (k, 0.5 (k mod 2)),
    the upper half for even k, the lower for odd; two classes are scikit-learn's two moons),
    jitter 0.1; ``rings``: concentric circles of radii 1, 2, ..., jitter 0.1.
    """
    rng = np.random.default_rng([seed, 7])
    y = np.arange(n) % classes
    if data == "blobs":
        angle = 2 * np.pi * y / classes
        x = 3.0 * np.stack([np.cos(angle), np.sin(angle)], 1) + 0.5 * rng.standard_normal((n, 2))
    elif data == "moons":
        theta = np.pi * rng.uniform(size=n) + np.pi * (y % 2)
        centre = np.stack([y.astype(float), 0.5 * (y % 2)], 1)
        x = centre + np.stack([np.cos(theta), np.sin(theta)], 1) + 0.1 * rng.standard_normal((n, 2))
    elif data == "rings":
        theta = 2 * np.pi * rng.uniform(size=n)
        x = (y + 1.0)[:, None] * np.stack([np.cos(theta), np.sin(theta)], 1) + 0.1 * rng.standard_normal((n, 2))
    else:
        raise ValueError(f"data must be one of {', '.join(DATASETS)}; got {data!r}.")
    x = x - x.mean(0)
    x = x / np.sqrt((x**2).mean())
    return x.astype(np.float32), y.astype(np.int64)


def cap_positions(n: int, dim: int, gen: torch.Generator) -> torch.Tensor:
    """n unit vectors in a cap of RMS angular radius :data:`CAP` around e_1: (n, dim)."""
    import torch

    z = torch.zeros(n, dim)
    z[:, 0] = 1.0
    z[:, 1:] = torch.randn(n, dim - 1, generator=gen) * (CAP / math.sqrt(dim - 1))
    return torch.nn.functional.normalize(z, dim=1)


class _Encoder:
    """The MLP ``2 -> 32 -> 32 -> dim`` (tanh), then L2 normalisation; initialised into the cap.

    Its weights and biases are views of one flat vector, ``self.flat``, the one parameter the
    optimiser updates (one update of a few ops per step instead of one per tensor).
    """

    def __init__(self, x: torch.Tensor, dim: int, gen: torch.Generator) -> None:
        import torch

        self.shapes = [(2, HIDDEN), (HIDDEN,), (HIDDEN, HIDDEN), (HIDDEN,), (HIDDEN, dim), (dim,)]
        fan_in = [2, 2, HIDDEN, HIDDEN, HIDDEN, HIDDEN]
        # torch.nn.Linear's default initialisation: uniform in +-1/sqrt(fan_in)
        self.flat = torch.cat([(torch.rand(math.prod(s), generator=gen) * 2 - 1) / math.sqrt(f)
                               for s, f in zip(self.shapes, fan_in, strict=True)])
        with torch.no_grad():
            # into the cap: no weight into the e_1 output, the others centred, the e_1 bias set
            # so that the RMS angle from e_1, atan(|perpendicular| / b_1), is about CAP
            *_, w, b = self.layers()
            w[:, 0] = 0.0
            out = self.raw(x)
            b[1:] -= out[:, 1:].mean(0)
            spread = float((out[:, 1:] - out[:, 1:].mean(0)).pow(2).sum(1).mean().sqrt())
            b[0] = spread / math.tan(CAP)
        self.flat.requires_grad_(True)

    def layers(self) -> list[torch.Tensor]:
        """[w1, b1, w2, b2, w3, b3]: views of ``self.flat``."""
        out, at = [], 0
        for s in self.shapes:
            size = math.prod(s)
            out.append(self.flat[at : at + size].view(s))
            at += size
        return out

    def raw(self, x: torch.Tensor) -> torch.Tensor:
        w1, b1, w2, b2, w3, b3 = self.layers()
        h = (x @ w1 + b1).tanh()  # (rows, 32)
        h = (h @ w2 + b2).tanh()  # (rows, 32)
        return h @ w3 + b3  # (rows, dim)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        import torch

        return torch.nn.functional.normalize(self.raw(x), dim=1)


# --------------------------------------------------------------------------- losses


def _align_loss(z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    """Wang & Isola's L_align, alpha = 2: ``mean_i ||z1_i - z2_i||^2`` (rows unit vectors)."""
    return (z1 - z2).pow(2).sum(1).mean()


def _uniform_loss(z: torch.Tensor) -> torch.Tensor:
    """Wang & Isola's L_uniform of one view: ``log mean_{i<j} exp(-t ||z_i - z_j||^2)`` (logsumexp)."""
    import torch

    d2 = torch.pdist(z).pow(2)  # (B (B-1) / 2,)
    return torch.logsumexp(-T * d2, 0) - math.log(d2.numel())


def _loss(cfg: ToyConfig, z1: torch.Tensor, z2: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    import torch

    from trainers.losses import dcl, nt_xent, supcon

    tau = cfg.effective_temperature
    if cfg.loss == "nt_xent":
        return nt_xent(z1, z2, temperature=tau)
    if cfg.loss == "dcl":
        return dcl(z1, z2, temperature=tau)
    if cfg.loss == "supcon":
        return supcon(torch.cat([z1, z2]), torch.cat([labels, labels]), temperature=tau)
    uniform = 0.5 * (_uniform_loss(z1) + _uniform_loss(z2)) if cfg.loss != "align" else None
    if cfg.loss == "uniform":
        return uniform
    align = _align_loss(z1, z2)
    return align if cfg.loss == "align" else align + cfg.lam * uniform


# --------------------------------------------------------------------------- the simulation


class _Adam:
    """Adam (Kingma & Ba 2015) as torch.optim.Adam computes it (betas 0.9 / 0.999, eps 1e-8, no
    weight decay), written out: torch.optim's first step imports torch._dynamo, which costs
    about a second, most of a fresh process's simulation."""

    def __init__(self, params: list[torch.Tensor], lr: float) -> None:
        import torch

        self.params, self.lr, self.t = params, lr, 0
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]

    def step(self, grads: tuple[torch.Tensor, ...]) -> None:
        import torch

        b1, b2, eps = 0.9, 0.999, 1e-8
        self.t += 1
        step_size = self.lr / (1 - b1**self.t)
        root_bc2 = math.sqrt(1 - b2**self.t)
        with torch.no_grad():
            for p, g, m, v in zip(self.params, grads, self.m, self.v, strict=True):
                m.lerp_(g, 1 - b1)
                v.mul_(b2).addcmul_(g, g, value=1 - b2)
                p.addcdiv_(m, (v.sqrt() / root_bc2).add_(eps), value=-step_size)


def simulate(cfg: ToyConfig, *, record_views: bool = False) -> Trajectory:
    """Train ``cfg`` and record the trajectory of its points (see the module docstring).

    ``record_views``: also record the two views of every point at each recorded step (the views that
    step trains on, so their mean squared distance is ``alignment[step]``): a positive pair
    drawn as a segment. They cost no extra random draws: the trajectory is the same either way.

    Deterministic: the same config gives the same trajectory (on the same machine and
    torch version). Uses torch's current thread count; callers that want one thread set it.
    """
    import torch

    from analysis.geometry import alignment, uniformity

    start = time.perf_counter()
    gen = torch.Generator().manual_seed(cfg.seed)
    n = cfg.points
    if cfg.mode == "encoder":
        x_np, y_np = toy_inputs(cfg.data, n, cfg.classes, cfg.seed)
        x = torch.from_numpy(x_np)
        encoder = _Encoder(x, cfg.dim, gen)
        params = [encoder.flat]
    else:
        x_np, y_np = None, np.arange(n, dtype=np.int64) % cfg.classes
        pos = cap_positions(n, cfg.dim, gen).requires_grad_(True)
        params = [pos]
    labels = torch.from_numpy(y_np)
    opt = _Adam(params, cfg.lr)
    batch = cfg.batch_size or n
    order = torch.randperm(n, generator=gen)
    cursor = 0
    every = cfg.interval

    frames: list[np.ndarray] = []
    frame_steps: list[int] = []
    losses: list[float] = []
    aligns: list[float] = []
    uniforms: list[float] = []
    view_frames: list[np.ndarray] = []
    for step in range(cfg.steps + 1):
        # two views of every point, and its clean position
        if cfg.mode == "encoder":
            noisy = x.repeat(2, 1) + cfg.noise * torch.randn(2 * n, 2, generator=gen)  # (2N, 2)
            out = encoder(torch.cat([noisy, x]))  # (3N, dim)
            z1, z2, clean = out[:n], out[n : 2 * n], out[2 * n :].detach()
        else:
            eps = cfg.noise * torch.randn(2, n, cfg.dim, generator=gen)
            views = torch.nn.functional.normalize(pos + eps, dim=2)  # (2, N, dim)
            z1, z2, clean = views[0], views[1], pos.detach()
        if batch < n:  # the next batch of a random pass over the points
            if cursor + batch > n:
                order, cursor = torch.randperm(n, generator=gen), 0
            idx = order[cursor : cursor + batch]
            cursor += batch
        else:
            idx = slice(None)
        loss = _loss(cfg, z1[idx], z2[idx], labels[idx])
        losses.append(float(loss.detach()))
        aligns.append(alignment(z1.detach(), z2.detach()))
        uniforms.append(uniformity(clean, t=T))
        if step % every == 0 or step == cfg.steps:
            frames.append(clean.numpy().astype(np.float32, copy=True))
            frame_steps.append(step)
            if record_views:
                view_frames.append(torch.stack([z1.detach(), z2.detach()]).numpy().astype(np.float32, copy=True))
        if step == cfg.steps:
            break
        opt.step(torch.autograd.grad(loss, params))
        if cfg.mode == "free":
            with torch.no_grad():
                pos.copy_(torch.nn.functional.normalize(pos, dim=1))
    return Trajectory(
        config=cfg, positions=np.stack(frames), steps=frame_steps, labels=y_np, inputs=x_np,
        loss=losses, alignment=aligns, uniformity=uniforms, seconds=time.perf_counter() - start,
        views=np.stack(view_frames) if record_views else None,
    )
