"""The chunked (fused) relaxation of layered networks equals the step-by-step form bit for bit,
and reused State arrays never overwrite a State someone still holds."""

from __future__ import annotations

import numpy as np
import pytest

from models import LearningSystem, SystemConfig, ensemble

CASES = {
    "rank-one, inactive slots": dict(n_input=1, n_hidden=5, n_hidden_max=12, replicas=8),
    "two outputs": dict(n_input=3, n_hidden=40, n_output=2, replicas=20, batch_size=16),
    "sigmoid, no bias": dict(
        n_hidden=7, activation="sigmoid", output_activation="tanh", bias=False
    ),
    "wide pieces": dict(
        n_input=1,
        n_hidden=1100,
        n_output=1,
        replicas=2,
        batch_size=64,
        task="linear",
        step_size=1e-4,
    ),
    "momentum": dict(n_input=2, n_hidden=30, n_hidden_max=40, replicas=16, momentum=0.5),
}


def _run(kw: dict, fuse: bool, drive: bool = False) -> LearningSystem:
    model = LearningSystem(SystemConfig(seed=4, **kw))
    model.ensemble._fuse = fuse
    for k in range(3):
        if drive and k == 1:
            ens = model.ensemble
            ens.drive[:, ens.slices["hidden"]] = 0.3
            ens.drive_on = True
        model.step()
    return model


@pytest.mark.parametrize("chunk", [ensemble.FUSE_CHUNK_ELEMS, 1000])
@pytest.mark.parametrize("name", list(CASES))
def test_fused_relaxation_is_the_step_by_step_one(name, chunk, monkeypatch):
    monkeypatch.setattr(ensemble, "FUSE_CHUNK_ELEMS", chunk)  # 1000: many row chunks
    kw = dict(CASES[name])
    drive = name == "rank-one, inactive slots"
    fused, plain = _run(kw, True, drive), _run(kw, False, drive)
    a, b = fused.last_state, plain.last_state
    for part in ("X", "E", "D", "FY", "DFY"):
        for g, arr in getattr(a, part).items():
            assert arr.tobytes() == getattr(b, part)[g].tobytes(), (part, g)
    assert (
        fused.ensemble.parameter_vector().tobytes() == plain.ensemble.parameter_vector().tobytes()
    )


def test_a_held_state_is_never_reused():
    model = LearningSystem(SystemConfig(replicas=4, n_hidden=3, seed=1))
    model.step()
    held = model.last_state
    before = {g: a.copy() for g, a in held.X.items()}
    view = held.E["hidden"][:, :1]
    model.step()
    model.step()
    assert all(np.array_equal(held.X[g], before[g]) for g in before)
    assert model.last_state.X["hidden"] is not held.X["hidden"]
    assert model.last_state.E["hidden"].base is not view.base


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_rank_one_product_is_the_blas_product_bit_for_bit(dtype):
    rng = np.random.default_rng(0)
    a = rng.normal(size=(3, 5, 1)).astype(dtype)
    b = rng.normal(size=(3, 1, 7)).astype(dtype)
    a[0, 1, 0], a[1, 2, 0], b[2, 0, 3], b[0, 0, 0] = 0.0, -0.0, -0.0, 0.0  # signed zero products
    out = np.empty((3, 5, 7), dtype=dtype)
    ensemble._product(a, b, out)
    expected = np.matmul(a, b)
    assert out.tobytes() == expected.tobytes()
    assert not np.signbit(out[out == 0]).any()  # +0 + a b: no -0


@pytest.mark.parametrize("bias", ["on", "a -0 bias", "off"])
def test_fused_relaxation_keeps_signed_zeros(bias):
    """Zero weights (+0 and -0) make zero rank-one products; the fused steps skip the +0 of
    those products only where it cannot change a result, so they still equal the step-by-step
    form bit for bit."""
    results = []
    for fuse in (True, False):
        cfg = SystemConfig(
            seed=3, n_input=1, n_hidden=6, replicas=3, batch_size=8, bias=bias != "off"
        )
        model = LearningSystem(cfg)
        ens = model.ensemble
        ens._fuse = fuse
        # slots: input 0, hidden 1..6, output 7
        ens.set_edges([1, 2, 7, 7], [0, 0, 1, 2], [0.0, -0.0, -0.0, 0.0])
        if bias == "a -0 bias":
            ens.b[:, 2] = -0.0
        steps = []
        for _ in range(3):
            model.step()
            st = model.last_state
            parts = [getattr(st, p)[g].tobytes() for p in ("X", "E", "D") for g in getattr(st, p)]
            steps.append(b"".join(parts) + ens.parameter_vector().tobytes())
        results.append(steps)
    assert results[0] == results[1]
