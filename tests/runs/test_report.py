import base64
import re

import polars as pl
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
    images = re.findall(r'<img alt="(\w+)" src="data:image/png;base64,([A-Za-z0-9+/=]+)">', text)
    assert [name for name, _ in images] == list(report.plots.PLOTS)
    assert all(base64.b64decode(data)[:8] == b"\x89PNG\r\n\x1a\n" for _, data in images)
    assert re.findall(r'(?:src|href)="(?!data:)', text) == []


def test_report_shows_the_run_and_its_metrics(tmp_path, run_id):
    text = report.render_report(tmp_path, run_id)
    assert f"<h1>cae run {run_id}</h1>" in text
    assert '<td class="text">succeeded</td>' in text
    # Pooled test R2 of pca from fake.metrics(): 0.2 total, 0.02 predictive, 48 obs.
    assert (
        '<tr><td class="text">pca</td><td>3</td><td class="text">test</td>'
        "<td>0.2000</td><td>0.0200</td><td>48</td></tr>"
    ) in text
    assert '<td class="text">2020-01-07</td>' in text  # window 1 test_start
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "<script>" not in text


def test_summary_averages_window_r2_per_model():
    got = report.summarise_metrics(fake.metrics())
    ca1 = got.row(0, named=True)
    assert (ca1["model"], ca1["windows"], ca1["n_obs"]) == ("ca1", 2, 48)
    assert ca1["r2_total_mean"] == pytest.approx(0.105)
    assert (ca1["r2_total_min"], ca1["r2_total_max"]) == pytest.approx((0.1, 0.11))


def test_unknown_run_is_a_cae_error(tmp_path):
    with pytest.raises(CaeError, match="no run nope in"):
        report.render_report(tmp_path, "nope")


def test_cli_report_prints_the_file_it_wrote(tmp_path, run_id, capsys):
    out = tmp_path / "r.html"
    assert cli.main(["report", run_id, "--home", str(tmp_path), "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


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
    assert '<td class="text">failed</td>' in text
    assert "No pooled metrics stored." in text
    assert "<img" not in text


def test_summary_pools_squared_errors_when_windows_store_them():
    metrics = fake.metrics().with_columns(
        sse_total=pl.lit(1.0), sse_pred=pl.lit(3.0), ssy=pl.Series([4.0] * 8 + [None, None])
    )
    ca1 = report.summarise_metrics(metrics).row(0, named=True)
    assert ca1["r2_total_pooled"] == pytest.approx(1 - 2.0 / 8.0)
    assert ca1["r2_pred_pooled"] == pytest.approx(1 - 6.0 / 8.0)
    missing = metrics.with_columns(ssy=pl.when(pl.col("window_id") == 0).then(None).otherwise(4.0))
    assert report.summarise_metrics(missing)["r2_total_pooled"].to_list() == [None, None]
