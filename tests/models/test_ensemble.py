"""The ensemble: exact local gradients, relaxation, and the SGD noise model."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from models import LearningSystem, SystemConfig
from models.architecture import build_architecture
from models.ensemble import Ensemble

DTYPES = ("float64", "float32")


def _ensemble(**kw):
    cfg = SystemConfig(**kw)
    arch = build_architecture(cfg, np.random.default_rng(0))
    ens = Ensemble(cfg, arch, np.random.default_rng(1))
    ens.b[:] = np.random.default_rng(5).normal(0, 0.3, ens.b.shape) * ens.bias_mask
    return cfg, ens


def _total_energy(ens, st):
    ens._evaluate(st)
    return st.energy().sum()


@pytest.mark.parametrize(
    "kw",
    [
        dict(replicas=2, n_input=3, n_hidden=4, n_output=2, activation="tanh"),
        dict(
            replicas=2,
            n_input=2,
            n_hidden=5,
            n_output=1,
            topology="recurrent",
            connectivity=0.6,
            activation="sigmoid",
            output_activation="tanh",
        ),
        dict(
            replicas=2,
            n_input=2,
            n_hidden=6,
            n_output=2,
            topology="small_world",
            small_world_k=2,
            activation="tanh",
        ),
    ],
)
@pytest.mark.parametrize("dtype", DTYPES)
def test_weight_gradient_matches_finite_differences(kw, dtype):
    """Central differences of the batch H in every parameter, step h = eps^(1/3) (error
    O(h^2) + O(eps / h)): relative error below 100 eps^(2/3) (3.7e-9 in float64, 2.4e-3 in
    float32; measured 1.5e-10 and 1e-4)."""
    cfg, ens = _ensemble(batch_size=5, dtype=dtype, **kw)
    eps = float(np.finfo(dtype).eps)
    rng = np.random.default_rng(2)
    st = ens.relax(rng.normal(size=(2, 5, cfg.n_input)), rng.normal(size=(2, 5, cfg.n_output)))
    gw, gb = ens.gradients(st)
    grad = ens.edge_vector(gw, gb) * st.x.shape[1]  # batch means; compare with the batch sum
    theta = ens.parameter_vector()
    h = eps ** (1 / 3)
    num = np.zeros_like(grad, dtype=float)
    for r in range(2):
        for p in range(theta.shape[1]):
            for sign in (1.0, -1.0):
                moved = theta.copy()
                moved[r, p] += sign * h
                ens.set_parameter_vector(moved)
                num[r, p] += sign * _total_energy(ens, st) / (2 * h)
    ens.set_parameter_vector(theta)
    err = np.linalg.norm(grad - num) / np.linalg.norm(num)
    assert err < 100 * eps ** (2 / 3), err
    # off-adjacency gradient is exactly zero
    dense, _ = ens.dense_gradient(st)
    assert np.all(dense[:, ~ens.arch.adjacency_matrix()] == 0)


def test_relaxation_descends_h_and_state_gradient_is_exact():
    _cfg, ens = _ensemble(
        replicas=3,
        n_input=2,
        n_hidden=6,
        n_output=1,
        topology="recurrent",
        connectivity=0.5,
        relax_steps=0,
    )
    rng = np.random.default_rng(3)
    inputs, targets = rng.normal(size=(3, 4, 2)), rng.normal(size=(3, 4, 1))
    energies = [ens.relax(inputs, targets, steps=s, rate=0.1).energy().sum() for s in (0, 5, 40)]
    assert energies[0] > energies[1] > energies[2]
    # one relaxation step equals x - rate * dH/dx computed by finite differences
    st0 = ens.relax(inputs, targets, steps=0)
    st1 = ens.relax(inputs, targets, steps=1, rate=0.1)
    hid = ens.slices["hidden"]
    eps = 1e-6
    num = np.zeros_like(st0.x[:, :, hid])
    for k in range(hid.start, hid.stop):
        x = st0.x.copy()
        x[:, :, k] += eps
        stp = ens.relax(inputs, targets, steps=0)
        stp.set_x(x)
        ens._evaluate(stp)
        hp = stp.energy()  # per (replica, sample): samples are independent
        x[:, :, k] -= 2 * eps
        stp.set_x(x)
        ens._evaluate(stp)
        hm = stp.energy()
        num[:, :, k - hid.start] = (hp - hm) / (2 * eps)
    expected = st0.x[:, :, hid] - 0.1 * num
    assert np.allclose(st1.x[:, :, hid], expected, atol=1e-7)


def test_plain_forward_iteration_leaves_hidden_errors_zero():
    """The control for why relaxation is needed: without it hidden weights get no gradient."""
    _cfg, ens = _ensemble(replicas=2, n_input=2, n_hidden=4, n_output=1)
    rng = np.random.default_rng(4)
    inputs, targets = rng.normal(size=(2, 8, 2)), rng.normal(size=(2, 8, 1))
    gw0, _ = ens.dense_gradient(ens.relax(inputs, targets, steps=0))
    gw1, _ = ens.dense_gradient(ens.relax(inputs, targets, steps=10))
    hid, inp = ens.slices["hidden"], ens.slices["input"]
    assert np.all(gw0[:, hid, inp] == 0.0)
    assert np.abs(gw1[:, hid, inp]).max() > 1e-4


@pytest.mark.parametrize("dtype", DTYPES)
def test_gradient_noise_matches_per_sample_gradients(dtype):
    """Known answer: the trace of the covariance of explicit per-sample gradients (computed in
    float64 from the same states), to 256 eps relative."""
    _cfg, ens = _ensemble(
        replicas=3,
        n_input=2,
        n_hidden=5,
        n_output=2,
        topology="recurrent",
        connectivity=0.5,
        batch_size=6,
        dtype=dtype,
    )
    rng = np.random.default_rng(6)
    st = ens.relax(rng.normal(size=(3, 6, 2)), rng.normal(size=(3, 6, 2)))
    gw, gb = ens.gradients(st)
    fast = ens.gradient_noise(st, gw, gb)
    adj = ens.arch.adjacency_matrix()
    delta, x = st.delta.astype(float), st.x.astype(float)
    per = -np.einsum("rmi,rmj->rmij", delta, x) * adj
    per_b = -delta * ens.bias_mask
    flat = np.concatenate([per.reshape(3, 6, -1), per_b], axis=2)
    slow = np.array([np.trace(np.cov(flat[r].T)) for r in range(3)])
    assert fast.dtype == np.dtype(dtype)
    assert np.allclose(fast, slow, rtol=256 * np.finfo(dtype).eps, atol=0)


def test_activate_and_deactivate_keep_structure():
    _cfg, ens = _ensemble(replicas=4, n_hidden=2, n_hidden_max=5)
    hid = ens.slices["hidden"]
    assert ens.n_active().tolist() == [5, 5, 5, 5]
    ens.activate(
        np.array([0, 2]), np.array([hid.start + 3, hid.start + 4]), np.random.default_rng(0)
    )
    assert ens.n_active().tolist() == [6, 5, 6, 5]
    assert np.any(ens.w[0, hid.start + 3] != 0)
    assert np.all(ens.w[1, hid.start + 3] == 0)
    ens.deactivate(np.array([0]), np.array([hid.start + 3]))
    assert np.all(ens.w[0, hid.start + 3] == 0) and np.all(ens.w[0, :, hid.start + 3] == 0)
    with pytest.raises(ValueError, match="slots"):
        ens.deactivate(np.array([0]), np.array([0]))


def _lyapunov(gamma, m, c, s2, d):
    """Stationary covariance of linear SGD with Gaussian inputs (cov c I) and label noise s2.

    V = E[(I - g C_hat) V (I - g C_hat)] + g^2 s2 C / M, with
    E[C_hat V C_hat] = C V C + (C V C + tr(C V) C) / M for Gaussian x. Solved as a linear
    system in vec(V).
    """
    eye = np.eye(d)
    C = c * eye
    n = d * d
    A = np.zeros((n, n))
    for k in range(n):
        V = np.zeros(n)
        V[k] = 1.0
        V = V.reshape(d, d)
        out = V - gamma * (C @ V + V @ C)
        out += gamma**2 * (C @ V @ C + (C @ V @ C + np.trace(C @ V) * C) / m)
        A[:, k] = out.ravel()
    rhs = (gamma**2 * s2 * C / m).ravel()
    return np.linalg.solve(np.eye(n) - A, rhs).reshape(d, d)


def _stationary_covariance(gamma, m, seed=0):
    cfg = SystemConfig(
        replicas=4000,
        n_input=2,
        n_hidden=0,
        n_output=1,
        task="linear",
        noise=0.5,
        bias=False,
        output_activation="linear",
        step_size=gamma,
        batch_size=m,
        observed=2,
        record_every=10_000,
        probe_every=10_000,
        task_params={"input_scale": 1.0},
        seed=seed,
    )
    model = LearningSystem(cfg)
    w_star = model.task.params["w"][0]
    model.run(150, progress=False)
    covs = []
    for _ in range(300):
        model.step()
        q = model.coordinates() - w_star
        covs.append(np.cov(q.T))
    return np.mean(covs, axis=0)


def test_noise_model_matches_exact_discrete_lyapunov_answer():
    gamma, m = 0.3, 4
    measured = _stationary_covariance(gamma, m)
    exact = _lyapunov(gamma, m, 1.0, 0.25, 2)
    sde = gamma * 0.25 / (2 * m) * np.eye(2)  # continuous-time answer T_eff / k
    rel = np.linalg.norm(measured - exact) / np.linalg.norm(exact)
    assert rel < 0.10, (measured, exact)
    # the discrete answer is distinguishable from the SDE one at this gamma
    assert np.linalg.norm(sde - exact) / np.linalg.norm(exact) > 0.2
    # scaling with step_size / batch_size
    measured2 = _stationary_covariance(0.15, 8, seed=1)
    exact2 = _lyapunov(0.15, 8, 1.0, 0.25, 2)
    ratio_measured = np.trace(measured) / np.trace(measured2)
    ratio_exact = np.trace(exact) / np.trace(exact2)
    assert abs(ratio_measured / ratio_exact - 1) < 0.10, (ratio_measured, ratio_exact)
    assert ratio_exact > 3.0  # the two settings differ clearly (gamma/M ratio 4)


@pytest.mark.parametrize("dtype", DTYPES)
def test_projected_gradient_covariance_matches_per_sample_gradients(dtype):
    """Known answer: U^T Sigma U from explicit per-sample gradients (float64 from the same
    states), to 256 eps of its largest entry."""
    _cfg, ens = _ensemble(
        replicas=3,
        n_input=2,
        n_hidden=4,
        n_output=2,
        topology="recurrent",
        connectivity=0.6,
        batch_size=7,
        dtype=dtype,
    )
    rng = np.random.default_rng(8)
    st = ens.relax(rng.normal(size=(3, 7, 2)), rng.normal(size=(3, 7, 2)))
    P = ens.parameter_vector().shape[1]
    U = np.linalg.qr(rng.normal(size=(P, 3)))[0].astype(dtype)
    fast = ens.projected_gradient_covariance(st, U)
    delta, x = st.delta.astype(float), st.x.astype(float)
    per = -np.einsum("rmi,rmj->rmij", delta, x)
    per_w = per[:, :, ens.param_rows, ens.param_cols]
    per_b = -delta[:, :, ens.bias_index]
    g = np.concatenate([per_w, per_b], axis=2) @ U.astype(float)
    slow = np.array([np.cov(g[r].T) for r in range(3)])
    assert fast.dtype == np.dtype(dtype)
    assert np.max(np.abs(fast - slow)) <= 256 * np.finfo(dtype).eps * np.max(np.abs(slow))


# ---------------------------------------------------------------------- minimisation
@pytest.mark.parametrize(
    "kw, most",
    [
        # linear outputs: H is quadratic in the hidden states, one Gauss-Newton step is exact
        (dict(replicas=3, n_input=3, n_hidden=6, n_output=1, bias=True), 1),
        (dict(replicas=3, n_input=2, n_hidden=5, n_output=3, bias=True), 1),
        # nonlinear outputs or hidden -> hidden edges: the descent fallback at the same tol
        (dict(replicas=3, n_input=2, n_hidden=5, n_output=2, output_activation="tanh"), 500),
        (dict(replicas=3, n_input=2, n_hidden=5, topology="recurrent", connectivity=0.5), 500),
    ],
)
def test_minimize_reaches_the_minimum_of_long_descent_within_tol(kw, most):
    """Known answer: the H of 5000 plain descent steps; control: 3 descent steps miss it."""
    cfg, ens = _ensemble(**kw)
    rng = np.random.default_rng(3)
    xin = rng.normal(size=(cfg.replicas, 7, cfg.n_input))
    y = rng.normal(size=(cfg.replicas, 7, cfg.n_output))
    slow = ens.relax(xin, y, steps=5000, temperature=0.0).energy().mean(axis=1)
    tol = 1e-8
    fast = ens.minimize(xin, y, tol=tol, steps=500)
    assert np.max(np.abs(fast.energy().mean(axis=1) - slow)) < 10 * tol
    assert fast.steps_done <= most
    short = ens.relax(xin, y, steps=3, temperature=0.0).energy().mean(axis=1)
    assert np.max(np.abs(short - slow)) > 100 * tol


def test_minimize_from_a_converged_state_takes_no_step_and_never_modifies_it():
    _, ens = _ensemble(replicas=2, n_input=2, n_hidden=4, n_output=1)
    rng = np.random.default_rng(4)
    xin, y = rng.normal(size=(2, 6, 2)), rng.normal(size=(2, 6, 1))
    done = ens.minimize(xin, y, tol=1e-12)
    assert ens.minimize(xin, y, tol=1e-10, state=done) is done
    raw = ens.relax(xin, y, steps=1, temperature=0.0)
    kept = raw.X["hidden"].copy()
    out = ens.minimize(xin, y, tol=1e-12, state=raw)
    assert out is not raw and np.array_equal(raw.X["hidden"], kept)
    assert np.allclose(out.energy(), done.energy(), atol=1e-12)


def test_warm_start_fills_new_neurons_forward_and_stops_when_converged():
    _, ens = _ensemble(replicas=2, n_input=2, n_hidden=4, n_output=1)
    rng = np.random.default_rng(5)
    xin, y = rng.normal(size=(2, 6, 2)), rng.normal(size=(2, 6, 1))
    cold = ens.relax(xin, y, steps=400, temperature=0.0)
    warm = ens.relax(xin, y, temperature=0.0, start={"hidden": cold.X["hidden"]}, tol=1e-10)
    assert warm.steps_done == 1
    start = cold.X["hidden"].copy()
    start[:, 1, :] = np.nan  # neuron 1 "new": starts from f(w x + b) at the other states
    filled = ens.relax(xin, y, steps=0, temperature=0.0, start={"hidden": start})
    h = ens.slices["hidden"]
    y1 = np.einsum("rj,rjm->rm", ens.w[:, h.start + 1, :2], filled.X["input"])
    assert np.allclose(filled.X["hidden"][:, 1, :], np.tanh(y1 + ens.b[:, h.start + 1, None]))
    assert np.array_equal(filled.X["hidden"][:, 0, :], cold.X["hidden"][:, 0, :])
    with pytest.raises(ValueError, match=r"start\['hidden'\]: shape \(2, 4, 5\); expected"):
        ens.relax(xin, y, start={"hidden": np.zeros((2, 4, 5))})


# ---------------------------------------------------------------------- storage by blocks
def _user_graph():
    """A sparse user graph with every kind of block: input -> hidden/output, hidden -> hidden,
    output -> hidden."""
    rng = np.random.default_rng(11)
    g = nx.DiGraph()
    names = {"input": ["in0", "in1"], "hidden": [f"h{i:02d}" for i in range(12)]}
    names["output"] = ["out0", "out1"]
    for kind, nodes in names.items():
        g.add_nodes_from(nodes, kind=kind)
    for h in names["hidden"]:
        g.add_edge(names["input"][rng.integers(2)], h)
        for o in rng.choice(names["hidden"], 2, replace=False):
            if o != h:
                g.add_edge(o, h)
    for o in names["output"]:
        for h in rng.choice(names["hidden"], 5, replace=False):
            g.add_edge(h, o)
    g.add_edge("in0", "out1")
    g.add_edge("out0", "h03")
    return g


TOPOLOGIES = {
    "layered": dict(n_input=3, n_hidden=5, n_hidden_max=7, n_output=2),
    "recurrent": dict(
        n_input=2,
        n_hidden=6,
        n_hidden_max=8,
        n_output=2,
        topology="recurrent",
        connectivity=0.4,
        forward_sweeps=3,
    ),
    "small_world": dict(
        n_input=2,
        n_hidden=9,
        n_hidden_max=10,
        n_output=1,
        topology="small_world",
        small_world_k=4,
        small_world_p=0.3,
    ),
    "small_world_wide": dict(
        n_input=2,
        n_hidden=130,
        n_output=1,
        topology="small_world",
        small_world_k=4,
        small_world_p=0.2,
    ),
    "user_graph": dict(topology=_user_graph(), output_activation="tanh"),
}


def _dense_reference(ens, xin, y, steps, rate):
    """One relaxation and the gradients written densely over (R, n, n) weights."""
    from models.activations import activation

    cfg, arch = ens.config, ens.arch
    W, b, act, adj = ens.w.copy(), ens.b.copy(), ens.act, arch.adjacency_matrix()
    inp, hid, out = (ens.slices[g] for g in ("input", "hidden", "output"))
    fh, dfh = activation(cfg.activation)
    fo, dfo = activation(cfg.output_activation)
    R, M = xin.shape[:2]
    x = np.zeros((R, M, ens.n))
    x[..., inp], x[..., out] = xin, y

    def pre(x):
        return np.einsum("rij,rmj->rmi", W, x) + b[:, None, :]

    for _ in range(cfg.forward_sweeps if arch.recurrent else 1):
        x[..., hid] = fh(pre(x)[..., hid]) * act[:, None, hid]

    def evaluate(x):
        yv = pre(x)
        fy, dfy = np.zeros_like(yv), np.zeros_like(yv)
        fy[..., hid], fy[..., out] = fh(yv[..., hid]), fo(yv[..., out])
        dfy[..., hid], dfy[..., out] = (
            dfh(yv[..., hid], fy[..., hid]),
            dfo(yv[..., out], fy[..., out]),
        )
        e = (x - fy) * act[:, None, :]
        e[..., inp] = 0.0
        return e, e * dfy

    e, d = evaluate(x)
    for _ in range(steps):
        grad = e[..., hid] - np.einsum("rmi,rij->rmj", d, W)[..., hid]
        x[..., hid] = (x[..., hid] - rate * grad) * act[:, None, hid]
        e, d = evaluate(x)
    per_w = -np.einsum("rmi,rmj->rmij", d, x) * adj
    per_b = -d * ens.bias_mask
    flat = np.concatenate(
        [per_w[:, :, ens.param_rows, ens.param_cols], per_b[:, :, ens.bias_index]], axis=2
    )
    trace = np.array([np.trace(np.atleast_2d(np.cov(f.T))) for f in flat])
    return x, per_w.mean(axis=1), per_b.mean(axis=1), flat, trace


def _close(a, b, rel=1e-12):
    scale = max(float(np.max(np.abs(b))), 1e-300)
    return float(np.max(np.abs(np.asarray(a) - b))) <= rel * scale


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(TOPOLOGIES))
def test_block_kernels_agree_with_dense_on_one_step_of_every_topology(name, dtype):
    """Known answer: the same step computed in float64 over dense (R, n, n) weights, for the
    dense/masked layout, the ELL layout and the automatic choice, to 256 eps relative (5.7e-14
    in float64, within the 1e-12 asked for; 3.1e-5 in float32; measured <= 11 eps); neuron
    moves and momentum give identical weights in every layout."""
    tol = 256 * float(np.finfo(dtype).eps)
    kw = dict(
        dtype=dtype,
        replicas=3,
        batch_size=5,
        relax_steps=4,
        relax_rate=0.2,
        momentum=0.5,
        observed=3,
        seed=2,
        **TOPOLOGIES[name],
    )
    cfg = SystemConfig(**kw)
    rng = np.random.default_rng(3)
    xin = rng.normal(size=(3, 5, cfg.n_input)).astype(dtype).astype(float)
    y = rng.normal(size=(3, 5, cfg.n_output)).astype(dtype).astype(float)
    layouts, states = {}, {}
    for sparse in (False, True, None):
        arch = build_architecture(cfg, np.random.default_rng(0), sparse=sparse)
        ens = Ensemble(cfg, arch, np.random.default_rng(1))
        ens.b[:] = np.random.default_rng(5).normal(0, 0.3, ens.b.shape) * ens.bias_mask
        layouts[sparse] = ens
        x_ref, gw_ref, gb_ref, flat, trace_ref = _dense_reference(ens, xin, y, 4, 0.2)
        st = ens.relax(xin, y)
        assert st.X["hidden"].dtype == np.dtype(dtype)
        assert _close(st.x, x_ref, tol)
        gw, gb = ens.gradients(st)
        assert _close(ens._dense(gw), gw_ref, tol) and _close(gb, gb_ref, tol)
        assert _close(ens.gradient_noise(st, gw, gb), trace_ref, tol)
        U = np.linalg.qr(np.random.default_rng(7).normal(size=(flat.shape[2], 3)))[0]
        U = U.astype(dtype)
        g = flat @ U.astype(float)
        sigma_ref = np.array([np.cov(g[r].T) for r in range(3)])
        assert _close(ens.projected_gradient_covariance(st, U), sigma_ref, tol)
        w_ref = ens.w.copy()
        for _ in range(2):  # heavy ball: the velocity enters the second update
            ens.apply(gw, gb, 0.1)
        states[sparse] = (st, ens.parameter_vector(), ens.velocity_vector())
        if ens.newton_applicable:
            states[sparse] += (ens.minimize(xin, y, tol=1e-12).X["hidden"],)
        assert not np.array_equal(ens.w, w_ref)
    kinds = {b.layout for b in layouts[True].arch.blocks}
    assert kinds <= {"dense", "ell"} and ("ell" in kinds) == (name != "layered")
    auto = {b.layout for b in layouts[None].arch.blocks}
    assert ("ell" in auto) == (name == "small_world_wide")
    for sparse in (True, None):
        for a, b in zip(states[sparse][1:], states[False][1:], strict=True):
            assert _close(a, b, tol)
    # neuron moves: the same fresh draws land on the same edges in every layout
    hid = layouts[False].slices["hidden"]
    slots = np.array([hid.start, hid.stop - 1, hid.start + 2])
    reps = np.array([0, 2, 1])
    ref = None
    theta = layouts[False].parameter_vector()
    for ens in layouts.values():
        ens.set_parameter_vector(theta)
        ens.reset_momentum()
        saved = ens.slot_parameters(reps, slots)
        ens.deactivate(reps, slots)
        dropped = ens.parameter_vector()
        ens.restore(reps, slots, saved)
        back = ens.parameter_vector()
        ens.deactivate(reps, slots)
        ens.activate(reps, slots, np.random.default_rng(9))
        moved = (dropped, back, ens.parameter_vector(), ens.velocity_vector(), ens.w)
        if ref is None:
            ref = moved
        else:
            for a, b in zip(moved, ref, strict=True):
                assert np.array_equal(a, b)
    assert not np.array_equal(ref[0], ref[1])


def test_setters_write_only_edges_and_w_is_a_copy():
    cfg = SystemConfig(replicas=2, seed=0, **TOPOLOGIES["small_world"])
    ens = Ensemble(
        cfg,
        build_architecture(cfg, np.random.default_rng(0), sparse=True),
        np.random.default_rng(1),
    )
    theta = np.random.default_rng(2).normal(size=ens.parameter_vector().shape)
    ens.set_parameter_vector(theta)
    assert np.array_equal(ens.parameter_vector(), theta)
    full = ens.w.copy()
    assert np.all(full[:, ~ens.arch.adjacency_matrix()] == 0)
    noisy = full + 1.0  # off-edge entries of the sparse block are dropped
    ens.set_w(noisy)
    back = ens.w
    hh = ens.slices["hidden"]
    off = ~ens.arch.adjacency_matrix()[hh, hh]
    assert np.all(back[:, hh, hh][:, off] == 0)
    i, j = ens.param_rows[:3], ens.param_cols[:3]
    ens.set_edges(i, j, np.array([1.0, 2.0, 3.0]))
    assert ens.w[:, i, j].tolist() == [[1.0, 2.0, 3.0]] * 2
    with pytest.raises(ValueError, match="not edges"):
        ens.set_edges([0], [0], [1.0])
    for view in ens.weight_blocks:
        assert not view.flags.writeable
