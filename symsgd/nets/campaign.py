"""Long Monte Carlo runs: a config file, checkpointed chunks of trials, torch.distributed.

A *campaign* is one :func:`~symsgd.nets.simulate` call described by a small config file
(JSON or TOML, never evaluated) and cut into chunks of consecutive trials:

* **Chunks are checkpoints.**  Each finished chunk is written to ``OUTDIR/chunks`` as an
  ``.npz`` file (loaded with ``allow_pickle=False``) with a SHA-256 sidecar, both written
  to a temporary name and renamed, so a crash leaves either a whole chunk or none.  A rerun
  of the same config computes only the chunks that are missing or fail to verify.
* **The manifest** ``OUTDIR/manifest.json`` records the config, its digest and the symsgd
  version; a rerun with a different config or code version is refused with a
  :class:`~symsgd.errors.CheckpointError` naming the difference.
* **Ranks.**  Under ``torchrun`` (``torch.distributed`` initialized from the environment;
  gloo on CPU, NCCL on GPUs) rank ``r`` of ``W`` runs the chunks ``i`` with ``i % W == r``,
  each on its device, and the per-trial results are summed across ranks (every trial is
  filled by one rank only, so the sum is exact).  Since a trial's draws depend only on
  its index, the result equals a single-process run of the same config bit for bit,
  whatever ``W``.
* A chunk that raises stops the run with a :class:`~symsgd.errors.CampaignError` naming the
  rank and the trials; the chunks already written stay valid.

>>> import json, tempfile, pathlib
>>> config = Config({"landscape": "mean_estimation", "init": 1},
...                 {"name": "SGD", "schedule": {"N": 4}}, lr=[0.1], trials=40, chunk=16)
>>> out = pathlib.Path(tempfile.mkdtemp())
>>> runs = run(config, out, progress=False)
>>> runs.trials, sorted(p.name for p in (out / "chunks").glob("*.npz"))
(40, ['00000.npz', '00001.npz', '00002.npz'])
>>> bool(json.loads((out / "results.json").read_text())["mean"]["test"][0][-1] > 0)
True
"""

from __future__ import annotations

import dataclasses
import datetime
import fractions
import hashlib
import io
import json
import os
import pathlib

import numpy as np
import torch
from tqdm.auto import tqdm

from .. import __version__, landscapes, schedule as _schedule
from .._progress import _quiet
from ..errors import CampaignError, CheckpointError, InputTypeError, MethodError
from . import data, dynamics as _dynamics, models
from ._checks import count, seed as _seed
from .landscape import NetLandscape
from ._problem import problem as _as_problem
from .montecarlo import MEASURES, Runs, _record, simulate

try:                                            # Python 3.11+
    import tomllib
except ModuleNotFoundError:                     # pragma: no cover - Python 3.10
    tomllib = None

__all__ = ["Config", "run", "launch", "digits_net"]

#: The layout version of a campaign's directory.
FORMAT = "symsgd-campaign/1"
#: Landscapes a config may name (the zoo's keyword options are passed through).
LANDSCAPES = {name: getattr(landscapes, name) for name in landscapes.__all__}
#: Dynamics a config may name.
DYNAMICS = {name: getattr(_dynamics, name) for name in _dynamics.__all__ if name != "Dynamics"}
#: The per-trial arrays a chunk holds, shape ``(L, trials, K)``.
ARRAYS = ("test", "train", "displacement", "speed")


def digits_net(model: str, *, seed: int = 0) -> NetLandscape:
    """Tenka's digits problems with a cross-entropy loss: ``'convnet'`` (P = 2,990),
    ``'logistic'`` (P = 650, standard-normal parameters, Xavier scale in the forward
    pass) or ``'logistic0'`` (logistic regression initialized at zero).

    Needs scikit-learn (the bundled digits data).
    """
    if model not in ("convnet", "logistic", "logistic0"):
        raise MethodError(f"model must be 'convnet', 'logistic' or 'logistic0', got {model!r}")
    x, y = data.digits(flatten=model != "convnet")
    if model == "convnet":
        module = models.ConvNet((1, 8, 8), 10, seed=seed)
    else:
        module = models.LogisticRegression(64, 10, seed=seed)
        if model == "logistic0":
            with torch.no_grad():
                for p in module.parameters():
                    p.zero_()
    ce = torch.nn.functional.cross_entropy
    return NetLandscape(module, lambda out, t: ce(out, t, reduction="none"), x, y,
                        name=f"digits {model}")


def _exact(value, where: str):
    """A config value for an exact landscape option: ints stay, ``"p/q"`` strings become
    :class:`fractions.Fraction` (parsed as a fraction, never evaluated), lists recurse."""
    if isinstance(value, list):
        return [_exact(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, str):
        try:
            return fractions.Fraction(value)
        except ValueError:
            raise InputTypeError(f"{where} must be a number or a fraction 'p/q', "
                                 f"got {value!r}") from None
    return value


def _plain(value, where: str):
    """``value`` if it is JSON data (dicts with string keys, lists, numbers, strings, bools)."""
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise InputTypeError(f"{where} must have string keys")
        return {k: _plain(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise InputTypeError(f"{where} must be JSON data, got {type(value).__name__}")


@dataclasses.dataclass(frozen=True)
class Config:
    """What a campaign simulates: the arguments of :func:`~symsgd.nets.simulate`, as data.

    Args:
        problem: ``{"landscape": NAME, **options}`` (a :mod:`symsgd.landscapes` constructor
            and its keyword options; exact numbers as ints or ``"p/q"`` strings) or
            ``{"digits": "logistic" | "logistic0" | "convnet", "seed": S}``.
        dynamics: ``{"name": "SGD", "schedule": {"N": ..., "batch": ..., "epochs": ...,
            "reshuffle": ...}, **options}`` or ``{"name": "GD" | "GDC" | "SDE" | "NoisyGD" |
            "SVAG", "N": ..., **options}`` (the class's keyword options).
        lr: the learning rates.
        trials: trials per learning rate.
        seed: the seed of every trial's draws.
        record: the nominal steps to record (default ``(0, T)``).
        training: ``'sampled'`` or ``'population'``.
        chunk: trials per checkpointed chunk (the unit of work of a rank).

    >>> c = Config({"landscape": "gauss"}, {"name": "GD", "N": 4, "steps": 2}, lr=[0.1],
    ...            trials=100)
    >>> c.digest == Config.from_dict(json.loads(c.to_json())).digest
    True
    """

    problem: dict
    dynamics: dict
    _: dataclasses.KW_ONLY
    lr: tuple
    trials: int
    seed: int = 0
    record: tuple | None = None
    training: str = "sampled"
    chunk: int = 1024

    def __post_init__(self):
        object.__setattr__(self, "problem", _plain(self.problem, "problem"))
        object.__setattr__(self, "dynamics", _plain(self.dynamics, "dynamics"))
        if not isinstance(self.problem, dict) or not isinstance(self.dynamics, dict):
            raise InputTypeError("problem and dynamics must be tables (dicts)")
        kinds = [k for k in ("landscape", "digits") if k in self.problem]
        if len(kinds) != 1:
            raise InputTypeError("problem must name exactly one of 'landscape' or 'digits'")
        if kinds[0] == "landscape" and self.problem["landscape"] not in LANDSCAPES:
            raise MethodError(f"problem.landscape must be one of {sorted(LANDSCAPES)}, "
                              f"got {self.problem['landscape']!r}")
        if self.dynamics.get("name") not in DYNAMICS:
            raise MethodError(f"dynamics.name must be one of {sorted(DYNAMICS)}, "
                              f"got {self.dynamics.get('name')!r}")
        rates = self.lr if isinstance(self.lr, (list, tuple)) else [self.lr]
        if not rates or not all(isinstance(r, (int, float)) and not isinstance(r, bool)
                                for r in rates):
            raise InputTypeError(f"lr must be a number or a list of numbers, got {self.lr!r}")
        object.__setattr__(self, "lr", tuple(float(r) for r in rates))
        object.__setattr__(self, "trials", count(self.trials, "trials", low=2))
        object.__setattr__(self, "seed", _seed(self.seed))
        object.__setattr__(self, "chunk", count(self.chunk, "chunk"))
        if self.record is not None:
            object.__setattr__(self, "record",
                               tuple(count(k, "record", low=0) for k in self.record))
        if self.training not in ("sampled", "population"):
            raise MethodError(f"training must be 'sampled' or 'population', "
                              f"got {self.training!r}")

    @classmethod
    def from_dict(cls, table: dict) -> "Config":
        """A config from a table with the fields of :class:`Config` (unknown keys refused)."""
        if not isinstance(table, dict):
            raise InputTypeError(f"a config must be a table, got {type(table).__name__}")
        names = {f.name for f in dataclasses.fields(cls)} - {"_"}
        unknown = sorted(set(table) - names)
        if unknown:
            raise InputTypeError(f"unknown config keys {unknown}; known: {sorted(names)}")
        missing = sorted({"problem", "dynamics", "lr", "trials"} - set(table))
        if missing:
            raise InputTypeError(f"the config misses {missing}")
        rest = {k: v for k, v in table.items() if k not in ("problem", "dynamics")}
        return cls(table["problem"], table["dynamics"], **rest)

    @classmethod
    def load(cls, path) -> "Config":
        """Read a ``.json`` or ``.toml`` config file (parsed as data, never evaluated)."""
        path = pathlib.Path(path)
        if path.suffix == ".toml":
            if tomllib is None:
                raise MethodError("TOML configs need Python 3.11 or later (tomllib); "
                                  "write the config as .json")
            with open(path, "rb") as f:
                return cls.from_dict(tomllib.load(f))
        if path.suffix == ".json":
            return cls.from_dict(json.loads(path.read_text()))
        raise InputTypeError(f"a config file must end in .json or .toml, got {path.name}")

    def as_dict(self) -> dict:
        """The config as JSON data."""
        table = dataclasses.asdict(self)
        table["lr"] = list(self.lr)
        table["record"] = None if self.record is None else list(self.record)
        return table

    def to_json(self) -> str:
        """Canonical JSON (sorted keys): equal configs give equal text."""
        return json.dumps(self.as_dict(), sort_keys=True)

    @property
    def digest(self) -> str:
        """SHA-256 of :meth:`to_json`."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()

    def build(self) -> tuple:
        """``(problem, dynamics)``: the objects :func:`~symsgd.nets.simulate` takes."""
        spec = dict(self.problem)
        if "digits" in spec:
            problem = digits_net(spec.pop("digits"), seed=spec.pop("seed", 0))
            if spec:
                raise InputTypeError(f"unknown digits options {sorted(spec)}")
        else:
            make = LANDSCAPES[spec.pop("landscape")]
            problem = make(**{k: _exact(v, f"problem.{k}") for k, v in spec.items()})
        spec = dict(self.dynamics)
        cls = DYNAMICS[spec.pop("name")]
        if cls is _dynamics.SGD:
            if "schedule" not in spec:
                raise InputTypeError("dynamics SGD needs a schedule table {N, batch, epochs, "
                                     "reshuffle}")
            sizes = dict(spec.pop("schedule"))
            N = sizes.pop("N", None)
            return problem, cls(_schedule.sgd(N, **sizes), **spec)
        if "N" not in spec:
            raise InputTypeError(f"dynamics {cls.__name__} needs N")
        return problem, cls(spec.pop("N"), **spec)


class _Store:
    """A campaign directory: the manifest and the verified chunks."""

    def __init__(self, outdir: pathlib.Path, config: Config, chunks: int):
        self.root, self.config, self.chunks = outdir, config, chunks
        self.dir = outdir / "chunks"

    def manifest(self) -> dict:
        return {"format": FORMAT, "symsgd": __version__, "digest": self.config.digest,
                "config": self.config.as_dict(), "chunks": self.chunks}

    def open(self, create: bool) -> None:
        """Check the manifest against this config (writing it if ``create`` and absent)."""
        path = self.root / "manifest.json"
        if not path.exists():
            if not create:
                return
            self.dir.mkdir(parents=True, exist_ok=True)
            _atomic(path, json.dumps(self.manifest(), indent=1, sort_keys=True).encode())
            return
        try:
            found = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise CheckpointError(f"{path} is not a campaign manifest: {error}") from None
        expected = self.manifest()
        for key in ("format", "symsgd"):
            if found.get(key) != expected[key]:
                raise CheckpointError(f"{self.root} was written by {key} {found.get(key)!r}, "
                                      f"this is {expected[key]!r}: use a new directory")
        if found.get("digest") != expected["digest"]:
            old = found.get("config", {})
            diff = [f"{k}: {old.get(k)!r} there, {v!r} here"
                    for k, v in expected["config"].items() if old.get(k) != v]
            raise CheckpointError(f"{self.root} holds a campaign with another config ("
                                  + "; ".join(diff or ["unreadable"]) + "): use a new directory")

    def _paths(self, i: int):
        return self.dir / f"{i:05d}.npz", self.dir / f"{i:05d}.sha256"

    def read(self, i: int, shape: tuple, P: int):
        """Chunk ``i``'s arrays if it exists and verifies, else ``None``."""
        npz, sha = self._paths(i)
        if not (npz.exists() and sha.exists()):
            return None
        blob = npz.read_bytes()
        if hashlib.sha256(blob).hexdigest() != sha.read_text().strip():
            return None
        try:
            with np.load(io.BytesIO(blob), allow_pickle=False) as f:     # the bytes verified
                arrays = {k: f[k] for k in f.files}
        except (OSError, ValueError):
            return None
        if any(arrays.get(k) is None or arrays[k].shape != shape for k in ARRAYS) or \
                arrays.get("complete") is None or arrays["complete"].shape != shape[:2] or \
                arrays.get("sums") is None or arrays["sums"].shape != (2,) + shape[::2] + (P,):
            return None
        return arrays

    def write(self, i: int, arrays: dict) -> None:
        npz, sha = self._paths(i)
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        blob = buffer.getvalue()
        _atomic(npz, blob)
        _atomic(sha, hashlib.sha256(blob).hexdigest().encode())


def _atomic(path: pathlib.Path, blob: bytes) -> None:
    tmp = path.with_suffix(f"{path.suffix}.{os.getpid()}.tmp")
    tmp.write_bytes(blob)
    os.replace(tmp, path)


def _chunk_arrays(runs: Runs, theta0: np.ndarray) -> dict:
    """A chunk's per-trial arrays, and the sums over its complete trials of the displacement
    ``theta - theta_0`` and its square (to pool the mean weights and their errors)."""
    n = runs.complete.sum(1)[:, None, None].astype(float)
    mean = np.nan_to_num(runs.weights - theta0)
    var = np.nan_to_num(runs.weights_sem ** 2 * n)
    return {"test": runs.test, "train": runs.train, "displacement": runs.displacement,
            "speed": runs.speed, "complete": runs.complete,
            "sums": np.stack([mean * n, var * (n - 1) + n * mean ** 2])}


def _summary(config: Config, runs: Runs) -> dict:
    """The numbers a campaign writes: means and standard errors per measure."""
    return {"config": config.as_dict(), "digest": config.digest, "symsgd": __version__,
            "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(),
            "lr": runs.lr.tolist(), "steps": runs.steps.tolist(), "trials": runs.trials,
            "complete": runs.complete.sum(1).tolist(),
            "mean": {m: runs.mean(measure=m).tolist() for m in MEASURES},
            "sem": {m: runs.sem(measure=m).tolist() for m in MEASURES},
            "weights": runs.weights.tolist(), "weights_sem": runs.weights_sem.tolist()}


def _distributed():
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def run(config: Config, outdir, *, progress: bool | None = None, device=None) -> Runs:
    """Run (or resume) the campaign ``config`` in ``outdir``; every rank returns the
    whole :class:`~symsgd.nets.Runs`, and rank 0 writes ``outdir/results.json``.

    Args:
        config: a :class:`Config`.
        outdir: the campaign directory (created if absent; on several nodes, a shared
            file system, or each node keeps the checkpoints of its own ranks).
        progress: a progress bar on rank 0 (True, False, or None: automatic).
        device: where a landscape's tensors live (default: this rank's GPU under NCCL,
            else the CPU).

    Raises:
        CheckpointError: ``outdir`` holds another config's or code version's campaign.
        CampaignError: a chunk raised; names the rank and the trials (the chunks written
            before stay valid).
    """
    if not isinstance(config, Config):
        raise InputTypeError(f"config must be a Config, got {type(config).__name__}")
    rank, world = _distributed()
    if device is None and world > 1 and torch.distributed.get_backend() == "nccl":
        device = torch.device("cuda", torch.cuda.current_device())
    outdir = pathlib.Path(outdir)
    problem, dyn = config.build()
    n_chunks = -(-config.trials // config.chunk)
    store = _Store(outdir, config, n_chunks)
    store.open(create=rank == 0)
    if world > 1:
        torch.distributed.barrier()
        store.open(create=True)                 # a node without a shared file system
    theta0 = _as_problem(problem, device=device).theta0.detach().cpu().numpy()
    steps = _record(config.record, dyn.T)
    L, K, P = len(config.lr), len(steps), len(theta0)
    full = {k: np.zeros((L, config.trials, K)) for k in ARRAYS + ("complete",)}
    sums = np.zeros((n_chunks, 2, L, K, P))
    mine = range(rank, n_chunks, world)
    quiet = True if rank > 0 else _quiet(progress, n_chunks < 2)     # rank 0 shows progress
    bar = tqdm(total=len(mine), desc="chunks", disable=quiet)
    for i in mine:
        first = i * config.chunk
        size = min(config.chunk, config.trials - first)
        arrays = store.read(i, (L, size, K), P)
        if arrays is None:
            try:
                runs = simulate(problem, dyn, lr=list(config.lr), trials=size, seed=config.seed,
                                record=config.record, training=config.training, first=first,
                                device=device, progress=False)
            except Exception as error:
                raise CampaignError(f"rank {rank} failed on chunk {i} (trials {first}.."
                                    f"{first + size - 1}): {type(error).__name__}: {error}"
                                    ) from error
            arrays = _chunk_arrays(runs, theta0)
            store.write(i, arrays)
        for k in ARRAYS:
            full[k][:, first:first + size] = arrays[k]
        full["complete"][:, first:first + size, 0] = arrays["complete"]
        sums[i] = arrays["sums"]
        bar.update(1)
    bar.close()
    if world > 1:                               # every entry is filled by one rank: exact
        for a in (*full.values(), sums):
            t = torch.from_numpy(a)
            if torch.distributed.get_backend() == "nccl":
                t = t.to(device)
            torch.distributed.all_reduce(t)
            a[...] = t.cpu().numpy()
    complete = full["complete"][:, :, 0].astype(bool)
    total = sums.sum(0)
    n = complete.sum(1)[:, None, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total[0] / n
        var = np.maximum(total[1] - n * mean ** 2, 0) / (n - 1)
    runs = Runs(np.array(config.lr), steps, config.seed, full["test"], full["train"],
                full["displacement"], mean + theta0, np.sqrt(var / n), complete,
                speed=full["speed"])
    if rank == 0:
        _atomic(outdir / "results.json", json.dumps(_summary(config, runs), indent=1).encode())
    return runs


def launch(path, outdir, *, progress: bool | None = None) -> Runs:
    """Run the campaign in the config file ``path``: what ``symsgd simulate`` does.

    Under ``torchrun`` (``WORLD_SIZE`` > 1 in the environment) it first joins the process
    group (NCCL with one GPU per process where CUDA is available, else gloo) and leaves it
    at the end; otherwise it runs in this process alone.
    """
    config = Config.load(path)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    joined = world > 1 and not torch.distributed.is_initialized()
    if joined:
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
            torch.distributed.init_process_group("nccl")
        else:
            torch.distributed.init_process_group("gloo")
    try:
        return run(config, outdir, progress=progress)
    finally:
        if joined:
            torch.distributed.destroy_process_group()
