import pytest

from core.config import ConfigError, load_settings


@pytest.mark.req("URS-FND-001")
def test_defaults_then_instance_file_then_environment(tmp_path):
    (tmp_path / "config.py").write_text("SITE_TIMEZONE = 'Europe/Berlin'\nSESSION_TIMEOUT_MINUTES = 20\n")
    settings = load_settings(environ={"GMP_INSTANCE_PATH": str(tmp_path), "GMP_SESSION_TIMEOUT_MINUTES": "7"})
    assert settings.site_timezone == "Europe/Berlin"
    assert settings.session_timeout_minutes == 7
    assert settings.database_url == f"sqlite:///{tmp_path / 'gmp.sqlite3'}"
    assert len(settings.secret_key) >= 32
    assert settings.secret_key == load_settings(environ={"GMP_INSTANCE_PATH": str(tmp_path)}).secret_key


@pytest.mark.req("URS-FND-001")
@pytest.mark.parametrize("name,value,message", [
    ("GMP_SITE_TIMEZONE", "Mars/Olympus", "GMP_SITE_TIMEZONE"),
    ("GMP_SESSION_TIMEOUT_MINUTES", "-3", "positive integer"),
    ("GMP_SESSION_COOKIE_SECURE", "maybe", "boolean"),
    ("GMP_DATABASE_URL", "mysql://x", "sqlite"),
    ("GMP_SECRET_KEY", "short", "at least 32"),
])
def test_bad_values_are_named(tmp_path, name, value, message):
    with pytest.raises(ConfigError, match=message) as info:
        load_settings(environ={"GMP_INSTANCE_PATH": str(tmp_path), name: value})
    assert name in str(info.value) and repr(value) in str(info.value)


@pytest.mark.req("URS-FND-001")
def test_instance_file_unknown_setting_is_refused(tmp_path):
    (tmp_path / "config.py").write_text("SITE_TIMEZON = 'UTC'\n")
    with pytest.raises(ConfigError, match="unknown setting SITE_TIMEZON"):
        load_settings(environ={"GMP_INSTANCE_PATH": str(tmp_path)})


def test_postgresql_url_gets_psycopg_driver(tmp_path):
    settings = load_settings(environ={"GMP_INSTANCE_PATH": str(tmp_path),
                                      "GMP_DATABASE_URL": "postgresql://u@h:5/d"})
    assert settings.database_url == "postgresql+psycopg://u@h:5/d"


@pytest.mark.parametrize(("zone", "utc_all_year"), [
    ("UTC", True), ("Etc/UTC", True), ("Africa/Abidjan", True), ("Europe/London", False),
    ("Asia/Shanghai", False), ("Atlantic/Reykjavik", True), ("Etc/GMT-1", False)])
def test_a_zone_is_utc_only_when_it_is_utc_all_year(zone, utc_all_year):
    """Pages and printouts print the site time under the UTC time unless it would only repeat it."""
    from zoneinfo import ZoneInfo

    from core import clock

    assert clock.is_utc(ZoneInfo(zone)) is utc_all_year
