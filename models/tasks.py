"""Training data p_d: boundary states generated from the run's seed, nothing downloaded.

A :class:`Task` draws noisy samples ``(inputs, targets)`` of any leading shape, so that every
replica can draw its own mini-batch in one call. ``data = "finite"`` fixes a dataset of
``n_data`` samples drawn with replacement; the probe set (for full-batch quantities such as the
free energy) is fixed per run.

Tasks
-----
teacher
    A random teacher network of the student's shape (same activations) plus Gaussian label
    noise. With a 1-1-1 network, no biases and a linear output this is y = a tanh(b x).
linear
    y = W x + b + noise: with a linear student without hidden neurons the loss is quadratic in q,
    so the SGD noise model has an exact answer.
gaussian_mixture
    Classification of Gaussian clusters (targets +-1), labels flipped with probability ``noise``.
sine
    y = sin(frequency x) + noise, x uniform on [-pi, pi] (1-D regression).
parity
    y = prod(x) for x in {-1, +1}^n, labels flipped with probability ``noise``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from models.activations import activation
from models.config import SystemConfig

__all__ = ["DataSource", "Task", "make_task"]

Sampler = Callable[[np.random.Generator, tuple[int, ...]], tuple[np.ndarray, np.ndarray]]


@dataclass
class Task:
    """A data distribution p_d over boundary states.

    Attributes
    ----------
    name : str
    n_input, n_output : int
    sampler : callable
        ``sampler(rng, shape) -> (inputs[*shape, n_input], targets[*shape, n_output])``.
    params : dict of str to ndarray
        The teacher's parameters and other constants. The sampler reads these arrays when it
        is called, so writing into them changes the distribution
        (:meth:`models.learning_system.LearningSystem.set_task`).
    """

    name: str
    n_input: int
    n_output: int
    sampler: Sampler
    params: dict[str, np.ndarray] = field(default_factory=dict)

    def sample(
        self, rng: np.random.Generator, shape: tuple[int, ...]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Draw noisy samples of leading shape ``shape``.

        Examples
        --------
        >>> task = make_task(SystemConfig(), np.random.default_rng(0))
        >>> [a.shape for a in task.sample(np.random.default_rng(1), (3, 5))]
        [(3, 5, 2), (3, 5, 1)]
        """
        return self.sampler(rng, tuple(shape))


def make_task(config: SystemConfig, rng: np.random.Generator) -> Task:
    """Build the task named by ``config.task``, its constants drawn from ``rng``.

    Examples
    --------
    >>> make_task(SystemConfig(task="sine", n_input=1), np.random.default_rng(0)).name
    'sine'
    """
    builder = _BUILDERS[config.task]
    return builder(config, rng)


def _teacher(config: SystemConfig, rng: np.random.Generator) -> Task:
    p = config.task_params
    scale = p.get("teacher_scale", 1.5)
    in_scale = p.get("input_scale", 1.0)
    n_in, n_h, n_out = config.n_input, config.n_hidden, config.n_output
    f_h = activation(config.activation)[0]
    f_o = activation(config.output_activation)[0]
    if n_h > 0:
        w1 = rng.normal(0.0, scale / np.sqrt(n_in), (n_h, n_in))
        w2 = rng.normal(0.0, scale / np.sqrt(n_h), (n_out, n_h))
        b1 = rng.normal(0.0, 0.5 * scale, n_h) if config.bias else np.zeros(n_h)
    else:
        w1 = np.zeros((0, n_in))
        b1 = np.zeros(0)
        w2 = rng.normal(0.0, scale / np.sqrt(n_in), (n_out, n_in))
    b2 = rng.normal(0.0, 0.5 * scale, n_out) if config.bias else np.zeros(n_out)
    noise = config.noise

    def sampler(g: np.random.Generator, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        x = g.normal(0.0, in_scale, (*shape, n_in))
        h = f_h(x @ w1.T + b1) if n_h > 0 else x
        y = f_o(h @ w2.T + b2)
        if noise > 0:
            y = y + g.normal(0.0, noise, y.shape)
        return x, y

    return Task("teacher", n_in, n_out, sampler, {"w1": w1, "b1": b1, "w2": w2, "b2": b2})


def _linear(config: SystemConfig, rng: np.random.Generator) -> Task:
    p = config.task_params
    scale = p.get("teacher_scale", 1.0)
    in_scale = p.get("input_scale", 1.0)
    n_in, n_out = config.n_input, config.n_output
    w = rng.normal(0.0, scale / np.sqrt(n_in), (n_out, n_in))
    b = rng.normal(0.0, 0.5 * scale, n_out) if config.bias else np.zeros(n_out)
    params = {"w": w, "b": b, "input_scale": np.array(in_scale)}
    noise = config.noise

    def sampler(g: np.random.Generator, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        x = g.normal(0.0, params["input_scale"], (*shape, n_in))
        y = x @ w.T + b
        if noise > 0:
            y = y + g.normal(0.0, noise, y.shape)
        return x, y

    return Task("linear", n_in, n_out, sampler, params)


def _gaussian_mixture(config: SystemConfig, rng: np.random.Generator) -> Task:
    p = config.task_params
    sep = p.get("separation", 2.0)
    in_scale = p.get("input_scale", 1.0)
    n_in, n_out = config.n_input, config.n_output
    k = max(2, n_out)
    centres = rng.normal(0.0, sep, (k, n_in))
    flip = config.noise

    def sampler(g: np.random.Generator, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        c = g.integers(0, k, shape)
        x = centres[c] + g.normal(0.0, in_scale, (*shape, n_in))
        if flip > 0:
            flipped = g.random(shape) < flip
            other = (c + g.integers(1, k, shape)) % k
            c = np.where(flipped, other, c)
        if n_out == 1:
            y = np.where(c == 1, 1.0, -1.0)[..., None]
        else:
            y = -np.ones((*shape, n_out))
            np.put_along_axis(y, c[..., None], 1.0, axis=-1)
        return x, y

    return Task("gaussian_mixture", n_in, n_out, sampler, {"centres": centres})


def _sine(config: SystemConfig, rng: np.random.Generator) -> Task:
    p = config.task_params
    freq = p.get("frequency", 1.0)
    in_scale = p.get("input_scale", 1.0)
    params = {"frequency": np.array(freq)}
    noise = config.noise

    def sampler(g: np.random.Generator, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        x = g.uniform(-np.pi, np.pi, (*shape, 1)) * in_scale
        y = np.sin(params["frequency"] * x)
        if noise > 0:
            y = y + g.normal(0.0, noise, y.shape)
        return x, y

    return Task("sine", 1, 1, sampler, params)


def _parity(config: SystemConfig, rng: np.random.Generator) -> Task:
    n_in = config.n_input
    flip = config.noise

    def sampler(g: np.random.Generator, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        x = g.choice(np.array([-1.0, 1.0]), size=(*shape, n_in))
        y = np.prod(x, axis=-1, keepdims=True)
        if flip > 0:
            y = np.where(g.random(y.shape) < flip, -y, y)
        return x, y

    return Task("parity", n_in, 1, sampler, {})


_BUILDERS: dict[str, Callable[[SystemConfig, np.random.Generator], Task]] = {
    "teacher": _teacher,
    "linear": _linear,
    "gaussian_mixture": _gaussian_mixture,
    "sine": _sine,
    "parity": _parity,
}


class DataSource:
    """Mini-batches and the probe set of a run.

    Parameters
    ----------
    task : Task
    config : SystemConfig
    rng : numpy.random.Generator
        The run's data stream: it draws the finite dataset and the probe set once.

    Examples
    --------
    >>> cfg = SystemConfig(replicas=3, batch_size=4)
    >>> src = DataSource(make_task(cfg, np.random.default_rng(0)), cfg, np.random.default_rng(1))
    >>> src.batch(np.random.default_rng(2), 4)[0].shape
    (3, 4, 2)
    """

    def __init__(self, task: Task, config: SystemConfig, rng: np.random.Generator) -> None:
        self.task = task
        self.replicas = config.replicas
        self.dtype = np.dtype(config.dtype)
        self.finite = config.data == "finite"
        if self.finite:
            xs, ys = task.sample(rng, (config.n_data,))
            self.data_x = xs.astype(self.dtype)
            self.data_y = ys.astype(self.dtype)
            if config.n_data <= config.n_probe:
                self.probe_x, self.probe_y = self.data_x, self.data_y
            else:
                idx = rng.choice(config.n_data, config.n_probe, replace=False)
                self.probe_x, self.probe_y = self.data_x[idx], self.data_y[idx]
        else:
            px, py = task.sample(rng, (config.n_probe,))
            self.probe_x, self.probe_y = px.astype(self.dtype), py.astype(self.dtype)

    def batch(self, rng: np.random.Generator, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        """One mini-batch per replica: arrays of shape ``(R, M, n)``."""
        shape = (self.replicas, batch_size)
        if self.finite:
            idx = rng.integers(0, self.data_x.shape[0], shape)
            return self.data_x[idx], self.data_y[idx]
        x, y = self.task.sample(rng, shape)
        return x.astype(self.dtype, copy=False), y.astype(self.dtype, copy=False)
