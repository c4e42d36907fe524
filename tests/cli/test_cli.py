from cae import cli
from cae.errors import DataError


def test_version_prints_and_exits_zero(capsys):
    assert cli.main(["version"]) == 0
    assert capsys.readouterr().out.strip() == "0.1.0"


def test_unknown_command_is_a_usage_error():
    assert cli.main(["no-such-command"]) == 2


def test_cae_error_is_one_line_without_traceback(capsys, monkeypatch):
    @cli.app.command("explode")
    def explode() -> None:
        raise DataError("prices.csv row 3: close must be > 0")

    assert cli.main(["explode"]) == 1
    err = capsys.readouterr().err
    assert "prices.csv row 3: close must be > 0" in err
    assert "Traceback" not in err
