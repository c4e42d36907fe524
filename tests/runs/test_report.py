import base64
import re

import pytest

from cae import cli
from cae.errors import CaeError
from cae.runs import outputs, report
from tests.support import fake_outputs as fake


@pytest.fixture
def run_id(tmp_path):
    config = {"model": "ca1", "note": "<script>alert(1)</script>"}
    with outputs.run(tmp_path, config) as run_id:
        for table, frame in fake.all_tables().items():
            outputs.write_table(tmp_path, run_id, table, frame)
    return run_id


def test_report_is_one_file_with_every_plot_inline(tmp_path, run_id):
    path = report.write_report(tmp_path, run_id)
    assert path == tmp_path / "outputs" / "reports" / f"{run_id}.html"
    text = path.read_text(encoding="utf-8")
    images = re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,([A-Za-z0-9+/=]+)">', text)
    assert [alt for alt, _ in images] == [
        "Cumulative factor returns",
        "R² by window",
        "Long-short portfolios",
        "Pricing errors",
        "Characteristic importance",
        "Beta distributions",
    ]
    assert all(base64.b64decode(data)[:8] == b"\x89PNG\r\n\x1a\n" for _, data in images)
    assert re.findall(r'(?:src|href)="(?!data:)', text) == []


def test_report_shows_the_run_its_data_and_a_window_by_model_r2_grid(tmp_path, run_id):
    text = report.render_report(tmp_path, run_id)
    assert f"<h1>cae run {run_id}</h1>" in text
    assert "<dt>status</dt><dd>succeeded</dd>" in text
    assert "<dt>test blocks</dt><dd>2 (2020-01-01 to 2020-01-12)</dd>" in text
    # fake.fitted(): 4 tickers on each of 12 test dates.
    assert "<dd>4 tickers in the test blocks, 4 per test date on average (4 to 4), 48 " in text
    # Window 0 of fake.metrics(): ca1 0.10, pca 0.20 total R2; pooled: 0.1 and 0.2.
    assert (
        "<tr><th>window</th><th>test_start</th><th>test_end</th><th>ca1</th><th>pca</th></tr>"
    ) in text
    assert (
        '<tr><td>0</td><td class="text">2020-01-01</td><td class="text">2020-01-06</td>'
        "<td>10.00</td><td>20.00</td></tr>"
    ) in text
    assert (
        '<tr class=pooled><td class="text">all</td><td></td><td></td>'
        "<td>10.00</td><td>20.00</td></tr>"
    ) in text
    assert (
        '<tr><td class="text">pca</td><td>3</td><td>20.00</td><td>2.00</td><td>48</td></tr>' in text
    )
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "<script>" not in text


def test_report_sections_are_a_list_a_new_one_joins_in_order(tmp_path, run_id):
    def extra(tables):
        return f"<h2>extra for {tables.run_id}</h2>"

    sections = (report.data_section, extra, report.config_section)
    text = report.render_report(tmp_path, run_id, sections)
    assert (
        text.index("<h1>cae run") < text.index(f"extra for {run_id}") < text.index("Configuration")
    )
    assert "<img" not in text


def test_unknown_run_is_a_cae_error(tmp_path):
    with pytest.raises(CaeError, match="no run nope in"):
        report.render_report(tmp_path, "nope")


def test_cli_report_prints_the_file_it_wrote(tmp_path, run_id, capsys):
    out = tmp_path / "r.html"
    assert cli.main(["report", run_id, "--home", str(tmp_path), "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_cli_report_without_a_run_reports_the_latest_succeeded_one(tmp_path, capsys):
    home = tmp_path / "home"
    finished = []
    for _ in range(2):
        with outputs.run(home, {}) as run_id:
            outputs.write_table(home, run_id, "metrics", fake.metrics())
        finished.append(run_id)
    with pytest.raises(RuntimeError), outputs.run(home, {}):
        raise RuntimeError("a later run that failed")
    assert cli.main(["report", "--home", str(home)]) == 0
    path = capsys.readouterr().out.strip()
    assert path == str(home / "outputs" / "reports" / f"{finished[-1]}.html")
    assert f"<h1>cae run {finished[-1]}</h1>" in open(path, encoding="utf-8").read()


def test_cli_report_with_no_run_yet_is_one_line(tmp_path, capsys):
    assert cli.main(["report", "--home", str(tmp_path / "fresh")]) == 1
    err = capsys.readouterr().err
    assert "no succeeded run in" in err
    assert "Traceback" not in err


def test_cli_report_of_unknown_run_is_one_line(tmp_path, capsys):
    assert cli.main(["report", "nope", "--home", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "no run nope" in err
    assert "Traceback" not in err


def test_report_of_a_failed_run_says_so_without_plots(tmp_path):
    with pytest.raises(RuntimeError), outputs.run(tmp_path, {}) as run_id:
        outputs.write_table(tmp_path, run_id, "metrics", fake.metrics())
        raise RuntimeError("training diverged")
    text = report.render_report(tmp_path, run_id)
    assert "<dt>status</dt><dd>failed (RuntimeError: training diverged)</dd>" in text
    assert "No test metrics stored." in text
    assert "<img" not in text


def test_report_lists_the_runs_warnings(tmp_path):
    import polars as pl

    metrics = fake.metrics().with_columns(r2_pred=-pl.col("r2_pred"))  # every model below zero
    with outputs.run(tmp_path, {"model": "ca1"}) as run_id:
        for table, frame in {**fake.all_tables(), "metrics": metrics}.items():
            outputs.write_table(tmp_path, run_id, table, frame)
    text = report.render_report(tmp_path, run_id)
    assert "<h2>Warnings</h2>" in text
    assert "<li>pooled predictive R2 is negative (worse than predicting zero) for: ca1" in text
