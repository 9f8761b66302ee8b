"""The Solara app without a browser: the page builds, Step and Reset run through it; the app model,
controller choices, fitted density and the ``dualsim app`` command's input checks."""

from __future__ import annotations

import socket

import numpy as np
import pytest

solara = pytest.importorskip("solara", reason="the viz extra (solara) is not installed")
v = pytest.importorskip("ipyvuetify")

from agents.registry import controller_types  # noqa: E402
from dualsim.app import figures  # noqa: E402
from dualsim.app import page as app  # noqa: E402
from dualsim.cli import main  # noqa: E402
from dualsim.commands import app as app_command  # noqa: E402
from models.config import SystemConfig  # noqa: E402
from runner.errors import UsageError  # noqa: E402


def _render(model):
    @solara.component
    def Wrapped():
        # the server wraps pages in an AppLayout; without it the sidebar (controls) is not built
        with solara.AppLayout():
            app.make_page(model)

    return solara.render(Wrapped(), handle_error=False)


def _texts(rc) -> list[str]:
    return [w.children[0] for w in rc.find(class_="dualsim-summary").widgets]


def test_page_builds_and_steps():
    model = app.AppModel(replicas=48, n_hidden=3, control_neuron_count="grand_canonical")
    _, rc = _render(model)
    labels = [b.children[0] for b in rc.find(v.Btn).widgets if b.children]
    assert {"Reset", "Step"} <= set(labels)
    assert _texts(rc)[0].startswith("step 0 ·")
    rc.find(v.Btn, children=["Step"]).widget.click()
    assert model.steps == 1
    assert _texts(rc)[0].startswith("step 1 ·")
    frame = model.live_frame()
    assert frame["step"].tolist() == [0, 1]
    assert np.isfinite(frame["loss"].iloc[1])


def test_reset_rebuilds_with_the_changed_parameter():
    model = app.AppModel(replicas=32, n_hidden=2)
    _, rc = _render(model)
    rc.find(v.Btn, children=["Step"]).widget.click()
    slider = rc.find(v.Slider, label="hidden neurons").widget
    slider.v_model = 5
    rc.find(v.Btn, children=["Reset"]).widget.click()
    text = _texts(rc)[0]
    # Reset builds a new model from the page's parameters (defaults + the changed slider)
    assert text.startswith("step 0 ·")
    assert "hidden 5/10" in text
    assert "R = 256" in text


def test_app_model_diagnostics_match_their_definitions():
    model = app.AppModel(replicas=64, n_hidden=3, window=8, fit_every=4, seed=3)
    ratios = []
    for _ in range(12):
        model.step()
        ratios.append(model.observables.sgd_diffusion / model.observables.step_size)
    frame = model.live_frame()
    last = frame.iloc[-1]
    # Nelson hbar = 2 m D with m = 1/(2 gamma): the window mean of D / gamma
    assert last["hbar_nelson"] == pytest.approx(np.mean(ratios[-8:]), rel=1e-12)
    assert last["hbar_mu"] == pytest.approx(0.01 / (2 * np.pi))
    assert last["gap"] == pytest.approx(np.log10(last["hbar_nelson"] / last["hbar_mu"]))
    fitted = frame.dropna(subset=["hbar_fit"])["step"].tolist()
    assert all(t % 4 == 0 and t >= 8 for t in fitted)
    # free energy every second step (probe_every = 2), NaN in between
    assert frame["free_energy"].isna().tolist()[:4] == [False, True, False, True]


def test_no_consistency_target_without_mu_c():
    model = app.AppModel(replicas=16, n_hidden=2, mu_c=0.0)
    model.step()
    row = model.live_frame().iloc[-1]
    assert np.isnan(row["hbar_mu"]) and np.isnan(row["gap"])


def test_controller_toggles_follow_the_registry():
    opts = app.controller_options()
    assert sorted(opts) == controller_types()
    params = app.model_params()
    for kind in controller_types():
        assert params[f"control_{kind}"]["values"] == opts[kind]
    cfg = SystemConfig(replicas=8, n_hidden=2, n_hidden_max=4)
    every = {kind: values[-1] for kind, values in opts.items()}
    specs, notes = app.controller_specs(every, 0.01, cfg)
    assert len(specs) + len(notes) == len(opts)
    assert specs[0]["type"] == "neuron_count" or "neuron_count" not in every


def test_every_policy_builds_a_running_model():
    for kind, values in app.controller_options().items():
        for policy in values[1:]:
            model = app.AppModel(replicas=8, n_hidden=2, **{f"control_{kind}": policy})
            assert not model.notes, (kind, policy, model.notes)
            model.step()
            assert [c.policy for c in model.controllers] == [policy]


def test_bad_inputs_are_one_line_value_errors():
    with pytest.raises(ValueError, match=r"^seed: 'x1'; expected an integer >= 0$"):
        app.AppModel(replicas=4, n_hidden=1, seed="x1")
    with pytest.raises(ValueError, match=r"^step_size: 'sometimes'; expected one of off"):
        app.AppModel(replicas=4, n_hidden=1, control_step_size="sometimes")
    with pytest.raises(ValueError, match=r"^colour: 'red'; expected a parameter of AppModel"):
        app.AppModel(replicas=4, n_hidden=1, colour="red")
    model = app.AppModel(replicas=4, n_hidden=1)
    with pytest.raises(ValueError, match=r"^coordinate: 2; expected an integer in \[0, 1\]$"):
        figures.histogram_figure(model, 2)
    with pytest.raises(ValueError, match=r"^replica: 4; expected None or an integer"):
        figures.neuron_summary(model, 4)
    assert app.AppModel(replicas=4, n_hidden=1, seed=" 17 ").config.seed == 17


def test_network_follows_neurons_added_and_removed():
    model = app.AppModel(replicas=16, n_hidden=2, control_neuron_count="grand_canonical")
    before = set(figures.neuron_summary(model)["neuron"])
    model.activate_neurons(np.array([0]), np.array([5]))
    after = figures.neuron_summary(model)
    assert set(after["neuron"]) == before | {5}
    assert after.set_index("neuron").loc[5, "active_fraction"] == pytest.approx(1 / 16)
    pos = figures.node_positions(model)
    assert {n for n in model.graph} <= set(pos)
    model.deactivate_neurons(np.array([0]), np.array([5]))
    assert set(figures.neuron_summary(model)["neuron"]) == before
    assert len(figures.network_figure(model).axes) == 2


def test_fitted_density_known_answer_and_control():
    rng = np.random.default_rng(5)

    def tv(p, q, grid):  # total-variation distance on the grid
        return 0.5 * np.trapezoid(np.abs(p - q), grid)

    # known answer: Gaussian samples; the sm4 density is the true pdf within TV 0.04 (got 0.015)
    x = rng.normal(0.0, 1.0, size=4000)
    grid, p = figures.fitted_density(x, "sm4")
    assert tv(p, np.exp(-0.5 * grid**2) / np.sqrt(2 * np.pi), grid) < 0.04
    assert np.trapezoid(p, grid) == pytest.approx(1.0)
    # bimodal samples: sm4 follows the two modes (TV 0.13), the Gaussian control cannot (0.51)
    y = np.concatenate([rng.normal(-2.0, 0.5, 3000), rng.normal(2.0, 0.5, 3000)])
    grid, p4 = figures.fitted_density(y, "sm4")
    _, p2 = figures.fitted_density(y, "sm2")
    bumps = np.exp(-0.5 * ((grid + 2) / 0.5) ** 2) + np.exp(-0.5 * ((grid - 2) / 0.5) ** 2)
    pdf = 0.5 * bumps / (0.5 * np.sqrt(2 * np.pi))
    assert tv(p4, pdf, grid) < 0.2
    assert tv(p2, pdf, grid) > 0.35


def test_app_command_checks_its_address(capsys):
    assert main(["app", "--port", "70000"]) == 2
    assert "--port: 70000; expected an integer in [0, 65535]" in capsys.readouterr().err
    assert main(["app", "--host", "not a host"]) == 2
    assert "--host: 'not a host'" in capsys.readouterr().err
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(UsageError, match=rf"^--port: {port}; expected a free port"):
            app_command.check_address("127.0.0.1", port)
    cmd = app_command.server_command("127.0.0.1", 1234)
    assert cmd[cmd.index("--host") + 1] == "127.0.0.1" and app_command.APP_MODULE in cmd
