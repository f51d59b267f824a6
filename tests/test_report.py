"""python -m gibo.report on tiny runs made here (synthetic GIBO and ARS, CartPole GIBO, LQR GIBO), its spread rule,
and the paper's data file against numbers copied by hand from the paper's published results."""

import base64
import copy
import math
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from gibo import report
from gibo.config import config_to_dict, load_experiment_config
from tests.helpers import load_script

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"


def _tiny_config(source, path, **changes):
    data = yaml.safe_load((CONFIGS / source).read_text())
    data.update(changes)
    path.write_text(yaml.safe_dump(data))
    return str(path)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Runs in tmp/results (synthetic gibo + rs on D = 4, 8 with 2 objectives and 50 calls; CartPole GIBO and LQR
    GIBO with 2 trials of 20 calls) and the report of that folder in tmp/report."""
    tmp = tmp_path_factory.mktemp("report")
    results = tmp / "results"
    data_config = tmp / "data.yaml"
    data_config.write_text(
        yaml.safe_dump({"out_dir": str(tmp / "data"), "dimensions": [4, 8], "num_objectives": 2, "num_samples": 150})
    )
    assert load_script("generate_data_synthetic_functions").main(["-c", str(data_config)]) == 0
    synthetic = load_script("run_synthetic_experiment")
    for method in ("gibo", "rs"):
        config = _tiny_config(
            f"synthetic_experiment/{method}_fixed_hypers.yaml",
            tmp / f"{method}.yaml",
            out_dir=str(results / "synthetic" / method),
            max_objective_calls=50,
        )
        assert synthetic.main(["-c", config, "-cd", str(data_config)]) == 0
    rl = load_script("run_rl_experiment")
    for name, source in (
        ("cartpole_gibo", "rl_experiment/cartpole/gibo.yaml"),
        ("lqr_gibo", "lqr_experiment/gibo_quick.yaml"),
    ):
        config = _tiny_config(
            source, tmp / f"{name}.yaml", out_dir=str(results / name), max_objective_calls=20, trials=2
        )
        assert rl.main(["-c", config]) == 0
    assert report.main([str(results), "--out", str(tmp / "report")]) == 0
    return tmp


def _markdown(tiny):
    return (tiny / "report" / "report.md").read_text(encoding="utf-8")


def _table_row(markdown, *first_cells):
    """The cells of the markdown table row that starts with `first_cells`."""
    prefix = "| " + " | ".join(first_cells) + " |"
    rows = [line for line in markdown.splitlines() if line.startswith(prefix)]
    assert len(rows) == 1, (prefix, rows)
    return [cell.strip() for cell in rows[0].strip("|").split(" | ")]


def _section(markdown, heading):
    start = markdown.index(heading)
    end = markdown.find("\n## ", start + len(heading))
    return markdown[start : end if end >= 0 else None]


def test_report_folder_has_markdown_html_and_every_figure(tiny):
    out = tiny / "report"
    assert (out / "report.md").stat().st_size > 0 and (out / "report.html").stat().st_size > 0
    figures = sorted(p.name for p in (out / "figures").glob("*.png"))
    assert len(figures) == 4  # synthetic error curves and box plots, CartPole rewards, LQR
    markdown = _markdown(tiny)
    for name in figures:
        assert f"](figures/{name})" in markdown
    for heading in (
        "## Synthetic functions",
        "## Reinforcement learning",
        "### CartPole-v1",
        "## Linear quadratic regulator",
        "## Benchmarks of the paper without a run",
        "## How a cell is judged",
    ):
        assert heading in markdown


def test_every_curve_figure_draws_the_published_curve_beside_ours(tiny, monkeypatch):
    from gibo.report import builder

    figures = {}
    render = builder.figure_png

    def keep(fig, *args, **kwargs):
        figures[len(figures)] = fig
        return render(fig, *args, **kwargs)

    monkeypatch.setattr(builder, "figure_png", keep)
    built = report.build_report([tiny / "results"])
    names = [block.path for block in built.blocks if isinstance(block, report.Image)]
    by_name = dict(zip(names, figures.values()))

    def lines(fig):
        return {str(line.get_label()): line for ax in fig.axes for line in ax.get_lines()}

    paper = report.load_paper_results()
    curves = next(fig for name, fig in by_name.items() if name.endswith("_error_curves.png"))
    drawn = lines(curves)
    for ours in ("GIBO", "ARS"):
        line = drawn[f"{ours} (paper)"]
        assert line.get_linestyle() == "--" and line.get_marker() == "o"
        assert line.get_color() == drawn[ours].get_color()
        assert list(line.get_xdata()) == paper["synthetic"]["read_after_calls"]
    legend = {text.get_text() for legend in curves.legends for text in legend.get_texts()}
    assert {"GIBO", "ARS", "GIBO (paper)", "ARS (paper)"} <= legend
    rl = lines(next(fig for name, fig in by_name.items() if name.endswith("rl_cartpole.png")))
    ours = next(label for label in rl if label.startswith("GIBO") and not label.endswith("(paper)"))
    paper_line = next(line for label, line in rl.items() if label.endswith(" (paper)"))
    assert paper_line.get_color() == rl[ours].get_color() and paper_line.get_linestyle() == "--"
    assert list(paper_line.get_ydata()) == next(
        r["mean"] for r in paper["rl"]["cartpole"]["rows"] if r["name"] == "gibo"
    )
    lqr = lines(next(fig for name, fig in by_name.items() if "/lqr_" in name))
    assert {"GIBO (paper)", "GIBO median (paper)"} <= set(lqr)
    assert lqr["GIBO (paper)"].get_color() == lqr["GIBO"].get_color()


def test_a_measured_reference_gets_its_table_and_dotted_curve(tiny, monkeypatch):
    """A reference in the references file (here a made-up one for CartPole's `gibo` row, 3 trials, one stopped
    early) gets a table beside the paper's: its mean ± std (trials) at the paper's columns, our mean and the spread
    verdict; and a dotted curve of its means in the figure. Not counted in the summary."""
    from gibo.report import builder, compose

    grid = [10, 25, 50, 99]
    trials = [
        {"seed": 0, "values": [20.0, 60.0, 200.0, 500.0]},
        {"seed": 1, "values": [30.0, 80.0, 300.0, 500.0]},
        {"seed": 2, "values": [25.0, 70.0, None, None]},
    ]
    reference = {
        "name": "made_up",
        "compares_with": "gibo",
        "label": "made-up reference",
        "description": "three trials",
        "grid": grid,
        "trials": trials,
    }
    monkeypatch.setattr(compose, "load_reference_results", lambda: {"rl": {"cartpole": [reference]}})
    figures = []
    render = builder.figure_png
    monkeypatch.setattr(builder, "figure_png", lambda fig, *a, **k: figures.append(fig) or render(fig, *a, **k))
    built = report.build_report([tiny / "results"])
    markdown = report.render_markdown(built.blocks)
    assert "Against a measured reference: made-up reference (three trials)" in markdown
    cells = _table_row(_section(markdown, "## Reinforcement learning"), "GIBO (cartpole_gibo)", "2")
    assert cells[2] == "25.0 ± 5.0 (3)" and cells[5] == "70.0 ± 10.0 (3)"
    assert cells[8] == "250.0 ± 70.7 (2)" and cells[6] == cells[9] == "not reached"  # the tiny runs stop at 20 calls
    assert 0 < float(cells[3]) <= 500 and cells[4] in ("yes", "**no ✗**")
    curve = next(
        line for fig in figures for ax in fig.axes for line in ax.get_lines() if line.get_label() == "made-up reference"
    )
    assert curve.get_linestyle() == ":" and list(curve.get_xdata()) == grid
    assert list(curve.get_ydata()) == [25.0, 70.0, 250.0, 500.0]
    monkeypatch.undo()
    assert len(report.build_report([tiny / "results"]).judged) == len(built.judged)


def test_shipped_references_name_a_row_and_hold_the_papers_columns():
    paper, references = report.load_paper_results(), report.load_reference_results()
    assert references["rl"]
    for key, entries in references["rl"].items():
        rows = {row["name"] for row in paper["rl"][key]["rows"]}
        for reference in entries:
            assert reference["compares_with"] in rows
            assert set(paper["rl"][key]["read_after_calls"]) <= set(reference["grid"])
            assert reference["description"] and reference["label"]
            for trial in reference["trials"]:
                values = trial["values"]
                assert len(values) == len(reference["grid"])
                reached = [v is not None for v in values]
                assert reached == sorted(reached, reverse=True)  # a trial stops, it does not resume
                assert all(0 < v < 5000 for v in values if v is not None)


def test_html_is_self_contained_with_embedded_pngs(tiny):
    page = (tiny / "report" / "report.html").read_text(encoding="utf-8")
    images = re.findall(r'<img src="([^"]*)"', page)
    assert len(images) == 4
    for source in images:
        assert source.startswith("data:image/png;base64,")
        assert base64.b64decode(source.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    for external in ("http://", "https://", "<link", "<script", "url(", "figures/"):
        assert external not in page
    assert re.findall(r'(?:src|href)="([^"]*)"', page) == images
    # the same content as the markdown: every table row of one appears in the other
    markdown = _markdown(tiny)
    assert markdown.count("\n| ") == page.count("<tr>")


def test_tables_hold_the_papers_values_from_the_data_file(tiny):
    paper = report.load_paper_results()
    markdown = _markdown(tiny)
    synthetic = {row["name"]: row for row in paper["synthetic"]["sets"]["fixed_hypers"]}
    for label, name in (("GIBO", "gibo"), ("ARS", "rs")):
        for D in (4, 8):
            cells = _table_row(
                _section(markdown, "## Synthetic functions"), label, report.row_label(synthetic[name]), str(D)
            )
            assert cells[3] == "2"  # objectives of ours
            # per calls: paper, ours, within; 50 calls is within the runs' budget, the rest is not
            assert cells[4::3] == [f"{v:.3f}" for v in synthetic[name]["mean"][D]]
            assert re.fullmatch(r"\d\.\d{3} ± \d\.\d{3}", cells[5])
            assert cells[6] in ("yes", "**no ✗**")
            assert cells[8::3] == ["not reached"] * 3
    cartpole = {row["name"]: row for row in paper["rl"]["cartpole"]["rows"]}["gibo"]
    cells = _table_row(_section(markdown, "## Reinforcement learning"), "GIBO (cartpole_gibo)")
    assert cells[1] == report.row_label(cartpole) and cells[2] == f"2 / {cartpole['runs']}"
    assert cells[3::3] == [f"{m:.1f} ± {s:.1f}" for m, s in zip(cartpole["mean"], cartpole["std"])]
    lqr = paper["lqr"]
    for j, calls in enumerate(lqr["calls"]):
        cells = _table_row(_section(markdown, "## Linear quadratic regulator"), str(calls))
        assert cells[1] == f"{100 * lqr['stable_fraction'][j]:.0f} %"
        assert cells[4] == ("–" if lqr["median"][j] is None else f"{lqr['median'][j]:.3f}")
        assert cells[7] == ("–" if lqr["p98"][j] is None else f"{lqr['p98'][j]:.3f}")
    lqr_section = _section(markdown, "## Linear quadratic regulator")
    assert _table_row(lqr_section, "20")[2] in ("0 %", "50 %", "100 %")  # 2 trials
    assert _table_row(lqr_section, "40")[2] == "not reached"


def test_data_file_matches_numbers_copied_from_the_published_results():
    paper = report.load_paper_results()
    fixed = {row["name"]: row for row in paper["synthetic"]["sets"]["fixed_hypers"]}
    learned = {row["name"]: row for row in paper["synthetic"]["sets"]["learned_hypers"]}
    assert paper["synthetic"]["calls"] == [50, 100, 200, 300] and paper["synthetic"]["objectives"] == 40
    assert fixed["gibo"]["mean"][32][3] == 0.034 and fixed["gibo"]["median"][32][3] == 0.028
    assert fixed["vbo"]["mean"][20] == [0.592, 0.499, 0.429, 0.357]
    assert learned["cmaes"]["mean"][16][1] == 0.806 and learned["cmaes"]["median"][16][1] == 0.818
    swimmer = {row["name"]: row for row in paper["rl"]["swimmer"]["rows"]}
    assert paper["rl"]["swimmer"]["calls"][2] == 500
    assert (swimmer["gibo_10runs"]["mean"][2], swimmer["gibo_10runs"]["std"][2], swimmer["gibo_10runs"]["runs"]) == (
        349.9,
        10.9,
        10,
    )
    hopper = {row["name"]: row for row in paper["rl"]["hopper"]["rows"]}
    assert (hopper["rs_10runs"]["mean"][-1], hopper["rs_10runs"]["std"][-1]) == (3002.0, 1018.5)
    lqr = paper["lqr"]
    at = {calls: j for j, calls in enumerate(lqr["calls"])}
    assert (lqr["stable_fraction"][at[20]], lqr["n_stable"][at[20]], lqr["median"][at[20]]) == (0.49, 49, 3.266)
    assert (lqr["median"][at[40]], lqr["p98"][at[40]], lqr["trials"]) == (0.156, 0.430, 100)
    assert lqr["read_after_calls"][at[130]] == 129 and lqr["median"][at[130]] == 0.101


def test_a_cell_far_from_the_paper_is_flagged(tiny, monkeypatch):
    paper = report.load_paper_results()
    gibo = next(row for row in paper["synthetic"]["sets"]["fixed_hypers"] if row["name"] == "gibo")
    gibo["mean"][4][0] = 10.0  # a normalised error this large is impossible here
    cartpole = next(row for row in paper["rl"]["cartpole"]["rows"] if row["name"] == "gibo")
    cartpole["mean"][0], cartpole["std"][0] = 5000.0, 0.0  # CartPole returns are at most 500
    monkeypatch.setattr(report.compose, "load_paper_results", lambda: copy.deepcopy(paper))
    out = tiny / "flagged"
    report.write_report([tiny / "results"], out)
    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert _table_row(_section(markdown, "## Synthetic functions"), "GIBO", "GIBO", "4")[4:7][::2] == [
        "10.000",
        "**no ✗**",
    ]
    assert _table_row(_section(markdown, "## Reinforcement learning"), "GIBO (cartpole_gibo)")[3:6][::2] == [
        "5000.0 ± 0.0",
        "**no ✗**",
    ]
    summary = _section(markdown, "## Summary")
    assert (
        "synthetic, fixed hyperparameters, GIBO, D = 4, 50 calls" in summary
        and "RL, CartPole, GIBO (cartpole_gibo), 10 calls" in summary
    )
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "<td><strong>no ✗</strong></td>" in page


def test_missing_benchmarks_are_listed_with_commands_naming_existing_configs(tiny):
    missing = _section(_markdown(tiny), "## Benchmarks of the paper without a run")
    bullets = [line[2:] for line in missing.splitlines() if line.startswith("- ")]
    assert bullets
    for bullet in bullets:
        for path in re.findall(r"-cd? (\S+\.yaml)", bullet):
            assert (ROOT / path).is_file(), path
    commands = {bullet.split(": ", 1)[0]: bullet.split(": ", 1)[1] for bullet in bullets if ": `python" in bullet}
    vbo = commands["synthetic, fixed hyperparameters, Vanilla BO, D = 4, 8, 12, 16, 20, 24, 28, 32, 36"]
    assert (
        "-c configs/synthetic_experiment/vbo_fixed_hypers.yaml -cd "
        "configs/synthetic_experiment/generate_data_default.yaml" in vbo
    )
    assert "synthetic, fixed hyperparameters, GIBO, D = 12, 16, 20, 24, 28, 32, 36" in commands  # 4 and 8 are covered
    assert "-c configs/rl_experiment/swimmer/gibo_10runs.yaml" in commands["Swimmer, GIBO, 10 runs"]
    # the shipped ablation config is the paper's run as it stands; a row that needs a setting changed says which
    assert commands["Hopper, GIBO, no state normalisation, 10 runs"] == (
        "`python run_rl_experiment.py -c configs/rl_experiment/hopper/gibo_no_state_normalization.yaml --workers 2`"
    )
    (epsilon,) = [c for name, c in commands.items() if name.startswith("synthetic, learned hyperparameters, GIBO, ε")]
    assert epsilon.endswith("with `optimizer_config.epsilon_diff_acq_value: 0.1` set in (a copy of) that config")
    assert not any(name.startswith(("CartPole, GIBO, ε early stop", "LQR")) for name in commands)  # covered, in part
    assert "- CartPole, GIBO, ε early stop, 3 runs: the runs stop before 100 calls" in missing
    assert "- LQR, GIBO: the runs stop before 130 calls" in missing


def test_spread_rule_by_hand():
    assert report.within_spread(1.0, 1.25, 0.1, 0.1) is True  # 2 * sqrt(0.02) = 0.283
    assert report.within_spread(1.0, 1.30, 0.1, 0.1) is False
    assert report.within_spread(500.0, 500.0, 0.0, 0.0) is True
    assert report.within_spread(0.0265, 0.026, 0.0, 0.0, rounding=0.0005) is True  # the paper's value is rounded
    assert report.within_spread(1.0, None, 0.1, 0.1) is None and report.within_spread(1.0, 1.0, None, 0.1) is None
    mean, se_ours, se_paper = report.mean_standard_errors(np.array([1.0, 2.0, 3.0]), n_paper=40)
    assert (mean, se_ours, se_paper) == pytest.approx((2.0, 1 / math.sqrt(3), 1 / math.sqrt(40)))  # our sd for both
    assert report.mean_standard_errors(np.array([7.0]), n_paper=16, std_paper=4.0) == pytest.approx((7.0, 4.0, 1.0))
    assert report.mean_standard_errors(np.array([7.0]), n_paper=40)[1:] == (None, None)
    assert report.proportion_standard_error(1.0, 100, 1.0, 100) == 0.0
    assert report.proportion_standard_error(0.5, 50, 0.5, 50) == pytest.approx(math.sqrt(0.25 * 2 / 50))
    # a uniform sample on [0, 100]: the median's standard error is 1 / (2 f(m) sqrt(n)) = 100 / (2 sqrt(n))
    rng = np.random.default_rng(0)
    ses = [report.quantile_standard_error(rng.uniform(0, 100, 400), 0.5) for _ in range(50)]
    assert np.mean(ses) == pytest.approx(100 / (2 * math.sqrt(400)), rel=0.1)
    assert report.quantile_standard_error(np.array([1.0]), 0.5) is None


@pytest.mark.parametrize("set_name", ["fixed_hypers", "learned_hypers"])
def test_shipped_synthetic_configs_map_to_their_rows(set_name):
    rows = report.load_paper_results()["synthetic"]["sets"][set_name]
    for row in rows:
        experiment = config_to_dict(load_experiment_config(ROOT / row["config"]))
        for key, value in (row.get("overrides") or {}).items():
            experiment["optimizer_config"][key.split(".", 1)[1]] = value
        assert report.hyperparameter_set(experiment) == set_name, row["config"]
        assert report.matching_row(rows, experiment["method"], report.run_features(experiment)) is row, row["config"]


@pytest.mark.parametrize("environment", ["cartpole", "swimmer", "hopper"])
def test_shipped_rl_configs_map_to_their_rows(environment):
    rows = report.load_paper_results()["rl"][environment]["rows"]
    for row in rows:
        config = load_experiment_config(ROOT / row["config"])
        experiment = config_to_dict(config)
        trials = int(row.get("extra_args", ["--trials", config.trials])[1])
        assert report.matching_row(rows, experiment["method"], report.run_features(experiment), trials) is row, row[
            "config"
        ]


def test_markdown_and_html_rendering():
    blocks = [
        report.Heading(2, "T"),
        report.Paragraph("a `b<c>` **d**"),
        report.Table(["x", "y"], [["1|2", "**no ✗**"]]),
    ]
    markdown = report.render_markdown(blocks)
    assert "## T" in markdown and "| 1\\|2 | **no ✗** |" in markdown
    page = report.render_html(blocks, "title")
    assert "<p>a <code>b&lt;c&gt;</code> <strong>d</strong></p>" in page and "<td><strong>no ✗</strong></td>" in page


def test_cli_errors_are_one_line_and_every_argument_has_help(tiny, tmp_path):
    def message(argv):
        with pytest.raises(SystemExit) as info:
            report.main(argv)
        text = str(info.value.code)
        assert text.startswith("error: ") and "\n" not in text
        return text

    assert "not empty" in message([str(tiny / "results" / "lqr_gibo"), "--out", str(tiny / "report")])
    assert "no such directory" in message([str(tmp_path / "absent"), "--out", str(tmp_path / "r")])
    (tmp_path / "empty").mkdir()
    assert "no run directories" in message([str(tmp_path / "empty"), "--out", str(tmp_path / "r")])
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "config.yaml").write_text("method: gibo\n")
    assert "not a config saved by" in message([str(tmp_path / "bad"), "--out", str(tmp_path / "r")])
    for action in report.build_parser()._actions:
        assert action.help, action.dest
    # --force writes into a non-empty folder (an LQR run alone: quick)
    forced = tmp_path / "forced"
    forced.mkdir()
    (forced / "notes.txt").write_text("kept")
    assert report.main([str(tiny / "results" / "lqr_gibo"), "--out", str(forced), "--force"]) == 0
    assert (forced / "notes.txt").read_text() == "kept"
    assert len(list((forced / "figures").glob("*.png"))) == 1
    assert "## Synthetic functions" not in (forced / "report.md").read_text(encoding="utf-8")


def test_make_figures_writes_the_reports_figures_with_an_index_naming_runs_and_command(tiny, tmp_path):
    """scripts/make_figures.py: the report's figures as files, each with its runs, command, machine and date; a
    later call with other runs keeps the figures it does not draw again."""
    make_figures = load_script("scripts/make_figures")
    out = tmp_path / "figures"
    assert make_figures.main([str(tiny / "results"), "--out", str(out), "-q"]) == 0
    names = sorted(p.name for p in out.glob("*.png"))
    assert names == [
        "lqr_lqr_gibo.png",
        "rl_cartpole.png",
        "synthetic_fixed_hypers_error_curves.png",
        "synthetic_fixed_hypers_final_error_boxes.png",
    ]
    assert all((out / name).stat().st_size <= 200_000 for name in names)
    entries = yaml.safe_load((out / "figures.yaml").read_text(encoding="utf-8"))
    assert sorted(entries) == names
    command = f"python scripts/make_figures.py {tiny / 'results'} --out {out}"  # without -q
    for entry in entries.values():
        assert entry["command"] == command and entry["machine"] and entry["drawn"] and entry["runs_dated"] != "–"
        runs = ("cartpole_gibo", "lqr_gibo", "synthetic/gibo", "synthetic/rs")
        assert sorted(entry["runs"]) == sorted(str(tiny / "results" / run) for run in runs)
    index = (out / "README.md").read_text(encoding="utf-8")
    for name in names:
        assert f"]({name})" in index
    assert index.count(command) == len(names)
    # the LQR run alone, marked as made elsewhere: its figure and entry are replaced, the others kept
    assert make_figures.main([str(tiny / "results" / "lqr_gibo"), "--out", str(out), "--machine", "elsewhere"]) == 0
    entries = yaml.safe_load((out / "figures.yaml").read_text(encoding="utf-8"))
    assert sorted(entries) == names
    assert entries["lqr_lqr_gibo.png"]["machine"] == "elsewhere"
    assert entries["rl_cartpole.png"]["command"] == command
    # a figure over the size limit is refused in one line
    from gibo.report.figures import make_figures as draw

    with pytest.raises(report.ReportError, match="over 1000 bytes"):
        draw([tiny / "results" / "lqr_gibo"], tmp_path / "small", "cmd", max_bytes=1000)
