"""The particles page without a browser: r, the two predictions, the live controls and the page."""

from __future__ import annotations

import math

import numpy as np
import pytest

solara = pytest.importorskip("solara", reason="the viz extra (solara) is not installed")
v = pytest.importorskip("ipyvuetify")

from analysis.imaginary_time import harmonic  # noqa: E402
from dualsim.app import page as app  # noqa: E402
from dualsim.app import particles as pp  # noqa: E402


def test_r_minibatch_and_langevin_forms_agree():
    for alpha, M, eta in [(0.05, 10, 0.01), (0.2, 3, 0.02), (0.01, 100, 0.005)]:
        D = pp.minibatch_diffusion(eta, M)
        assert D == pytest.approx(eta**2 * pp.SIGMA2 / (2 * M))
        r = pp.crossover(alpha, D, eta, 1.0)
        assert r == pytest.approx(alpha * pp.SIGMA2 / M)  # independent of eta
        assert r == pytest.approx(harmonic(1.0, D=D, eta=eta, alpha=alpha).r)
    assert pp.crossover(0.05, 1e-3, 0.0, 1.0) == math.inf
    assert pp.crossover(0.05, 1e-3, 0.01, 8.0) == pytest.approx(0.125)


def test_predictions_match_the_harmonic_closed_forms():
    D, eta = 1e-3, 0.01
    for alpha in (0.0, 0.05, 0.5):
        p = pp.predictions("harmonic", D=D, eta=eta, alpha=alpha)
        exact = harmonic(1.0, D=D, eta=eta, alpha=alpha) if alpha else None
        for rho in (p.fokker_planck, p.grand_canonical):
            assert np.trapezoid(rho, p.x) == pytest.approx(1.0, abs=1e-9)
        assert np.trapezoid(p.x**2 * p.fokker_planck, p.x) == pytest.approx(D / eta, rel=1e-3)
        var_gc = np.trapezoid(p.x**2 * p.grand_canonical, p.x)
        if exact is None:
            assert math.isnan(p.mu)
            np.testing.assert_array_equal(p.grand_canonical, p.fokker_planck)
        else:
            assert var_gc == pytest.approx(exact.variance, rel=1e-3)
            assert p.mu == pytest.approx(exact.mu, rel=1e-3)


def test_double_well_predictions_are_symmetric_with_two_peaks():
    p = pp.predictions("double well", D=1e-3, eta=0.01, alpha=0.5)
    for rho in (p.fokker_planck, p.grand_canonical):
        np.testing.assert_allclose(rho, rho[::-1], atol=1e-6 * rho.max())
        assert abs(p.x[np.argmax(rho)]) == pytest.approx(1.0, abs=0.02)
    assert p.x[0] <= -2.0 and p.x[-1] >= 2.0


def test_live_controls_move_r_and_the_model():
    model = pp.ParticlesModel(n=200, seed=3)
    assert model.crossover_r == pytest.approx(1.0)
    model.set_controls(alpha=0.1)
    assert model.controller.engine.alpha == 0.1 and model.crossover_r == pytest.approx(2.0)
    model.set_controls(batch_size=20)
    assert model.diffusion == pytest.approx(5e-4) and model.crossover_r == pytest.approx(1.0)
    model.set_controls(eta=0.02)  # mini-batch noise: r does not move with eta, T does
    assert model.step_size == 0.02 and model.crossover_r == pytest.approx(1.0)
    model.set_controls(noise="langevin")  # D fixed: now eta moves r
    assert model.diffusion == pp.D_LANGEVIN
    assert model.crossover_r == pytest.approx(2 * 0.1 * 1e-3 / 0.02**2)
    model.set_controls(policy="fixed N")
    assert model.controller.engine.alpha == 0.0 and model.expected == "Fokker-Planck"
    for _ in range(5):
        model.step()
    assert model.particles.counts()[0] == 200
    model.set_controls(policy="shuffled")
    assert model.controller.engine.variant == "shuffled"
    assert model.controller.engine.alpha == 0.1
    with pytest.raises(ValueError, match="policy"):
        model.set_controls(policy="metropolis")


def test_clone_policy_follows_the_grand_canonical_state():
    model = pp.ParticlesModel(n=1500, alpha=0.5, seed=2)  # r = 10
    for _ in range(400):
        model.step()
    pred = model.predictions()
    theta = model.positions()
    l1_gc = pp.histogram_l1(theta, pred.x, pred.grand_canonical)
    l1_fp = pp.histogram_l1(theta, pred.x, pred.fokker_planck)
    assert l1_gc < 0.2 < l1_fp, (l1_gc, l1_fp)
    mu = model.trace_frame()["mu_c"].iloc[-200:].mean()
    assert mu == pytest.approx(pred.mu, rel=0.15)


def _render(model):
    @solara.component
    def Wrapped():
        with solara.AppLayout():
            pp.make_particles_page(model)

    return solara.render(Wrapped(), handle_error=False)


def _readout(rc) -> str:
    return rc.find(class_="dualsim-particles-r").widget.children[0]


def test_page_alpha_slider_moves_r_and_step_runs():
    model = pp.ParticlesModel(n=200)
    _, rc = _render(model)
    assert _readout(rc).startswith("r = 1.000 ·")
    rc.find(v.Slider, label="birth rate α").widget.v_model = 0.1
    assert model.controller.engine.alpha == 0.1
    assert _readout(rc).startswith("r = 2.000 ·")
    rc.find(v.Slider, label="batch size M").widget.v_model = 40
    assert _readout(rc).startswith("r = 0.500 ·")
    rc.find(v.Btn, children=["Step"]).widget.click()
    assert model.steps == pp.RENDER_INTERVAL  # one redraw per RENDER_INTERVAL steps
    assert f"step {pp.RENDER_INTERVAL} ·" in _readout(rc)


def test_the_app_serves_both_pages():
    paths = [r.path for r in app.routes]
    assert paths == ["/", "particles"]
    assert app.routes[1].component is pp.ParticlesPage
