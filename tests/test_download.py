"""nasbench-download against a local HTTP server on 127.0.0.1 serving a generated file."""

from __future__ import annotations

import hashlib
import http.server
import os
import socket
import threading
import urllib.error

import pytest

from nasbench_arrow import download as dl
from nasbench_arrow.constants import PUBLISHED_FILES

SIZE = 3 * (1 << 20) + 12_345  # several read chunks, not a multiple of one
NAME = "nasbench_only108.tfrecord"


class _Server:
    """A tiny file server: Range support, and switches to misbehave."""

    def __init__(self, payload: bytes):
        self.payload = payload
        self.requests: list[dict] = []
        self.drop_after: list[int] = []  # per request, in order: close after this many body bytes
        self.ignore_range = False
        self.status: int | None = None  # answer every request with this error status
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                server.requests.append({"path": self.path, "range": self.headers.get("Range")})
                if server.status is not None:
                    self.send_error(server.status)
                    return
                data, start = server.payload, 0
                rng = self.headers.get("Range")
                if rng and not server.ignore_range:
                    start = int(rng.removeprefix("bytes=").split("-")[0])
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                if server.drop_after:
                    cut = server.drop_after.pop(0)
                    self.wfile.write(body[:cut])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/files/{NAME}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def payload() -> bytes:
    return os.urandom(SIZE)


@pytest.fixture
def server(payload):
    s = _Server(payload)
    yield s
    s.close()


def _run(server, out, payload, *extra: str) -> int:
    sha = hashlib.sha256(payload).hexdigest()
    return dl.main(
        ["only108", str(out), "--url", server.url, "--expect-sha256", sha, "--quiet", *extra]
    )


def test_official_urls_and_checksums_are_the_published_ones():
    """The two files, their URLs and the checksums the converter recognises."""
    assert {k: f.name for k, f in dl.FILES.items()} == {
        "full": "nasbench_full.tfrecord",
        "only108": "nasbench_only108.tfrecord",
    }
    for f in dl.FILES.values():
        assert PUBLISHED_FILES[f.sha256].name == f.name
        assert f.url(dl.BASE_URL) == f"https://storage.googleapis.com/nasbench/{f.name}"


def test_base_url_env_overrides_the_source(monkeypatch):
    monkeypatch.setenv(dl.BASE_URL_ENV, "http://mirror.example/nb/")
    assert dl.FILES["full"].url() == "http://mirror.example/nb/nasbench_full.tfrecord"


def test_download_streams_verifies_and_renames(server, payload, tmp_path):
    """A fresh download: the final file equals the served bytes; no .part is left."""
    calls = []
    path = dl.download(
        "only108",
        tmp_path / "data",
        url=server.url,
        sha256=hashlib.sha256(payload).hexdigest(),
        progress=lambda done, total, final: calls.append((done, total, final)),
    )
    assert path == tmp_path / "data" / NAME
    assert path.read_bytes() == payload
    assert not (tmp_path / "data" / (NAME + ".part")).exists()
    assert [r["range"] for r in server.requests] == [None]
    assert calls[-1] == (SIZE, SIZE, True)
    assert len(calls) > 2  # streamed in chunks, not one read


def test_resumes_a_partial_file_with_a_range_request(server, payload, tmp_path, capsys):
    """An existing .part is continued from its end: only the rest is sent."""
    have = 1_000_003
    (tmp_path / (NAME + ".part")).write_bytes(payload[:have])
    assert _run(server, tmp_path, payload) == 0
    assert (tmp_path / NAME).read_bytes() == payload
    assert [r["range"] for r in server.requests] == [f"bytes={have}-"]


def test_a_dropped_connection_is_retried_from_where_it_stopped(server, payload, tmp_path):
    """The connection closes mid-way: the retry asks for the rest and the file is whole."""
    server.drop_after = [1_500_000]
    assert _run(server, tmp_path, payload, "--retries", "1") == 0
    assert (tmp_path / NAME).read_bytes() == payload
    assert [r["range"] for r in server.requests] == [None, "bytes=1500000-"]


def test_dropped_without_retries_keeps_the_part_and_a_rerun_finishes(
    server, payload, tmp_path, capsys
):
    """No retries left: exit 1 with one line, bytes kept under .part, never the final name."""
    server.drop_after = [700_000]
    assert _run(server, tmp_path, payload, "--retries", "0") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("nasbench-download: error: ")
    assert "rerun to resume" in err[0]
    assert not (tmp_path / NAME).exists()
    assert (tmp_path / (NAME + ".part")).read_bytes() == payload[:700_000]
    assert _run(server, tmp_path, payload) == 0
    assert (tmp_path / NAME).read_bytes() == payload
    assert server.requests[-1]["range"] == "bytes=700000-"


def test_wrong_checksum_fails_and_leaves_no_file(server, payload, tmp_path, capsys):
    """A SHA-256 mismatch: exit 1, neither the final file nor the .part remains."""
    code = dl.main(
        ["only108", str(tmp_path), "--url", server.url, "--expect-sha256", "0" * 64, "--quiet"]
    )
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "SHA-256" in err[0] and hashlib.sha256(payload).hexdigest() in err[0]
    assert list(tmp_path.iterdir()) == []


def test_published_checksum_is_the_default(server, payload, tmp_path, capsys):
    """Without --expect-sha256 the published checksum is required (a generated file fails)."""
    assert dl.main(["only108", str(tmp_path), "--url", server.url, "--quiet"]) == 1
    assert dl.FILES["only108"].sha256 in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_server_ignoring_range_starts_over(server, payload, tmp_path):
    """A 200 answer to a range request restarts the file (the stale .part is not kept)."""
    server.ignore_range = True
    (tmp_path / (NAME + ".part")).write_bytes(b"x" * 5000)  # not even the right bytes
    assert _run(server, tmp_path, payload) == 0
    assert (tmp_path / NAME).read_bytes() == payload


def test_complete_part_gets_416_and_is_verified(server, payload, tmp_path):
    """A .part already holding the whole file (killed before the rename) is checked and renamed."""
    (tmp_path / (NAME + ".part")).write_bytes(payload)
    assert _run(server, tmp_path, payload) == 0
    assert (tmp_path / NAME).read_bytes() == payload


def test_existing_verified_file_is_kept_and_nothing_is_fetched(server, payload, tmp_path):
    (tmp_path / NAME).write_bytes(payload)
    assert _run(server, tmp_path, payload) == 0
    assert server.requests == []


def test_existing_wrong_file_is_not_replaced(server, payload, tmp_path, capsys):
    (tmp_path / NAME).write_bytes(b"something else")
    assert _run(server, tmp_path, payload) == 1
    assert "move it aside" in capsys.readouterr().err
    assert (tmp_path / NAME).read_bytes() == b"something else"


def test_http_error_is_one_line_and_not_retried(server, payload, tmp_path, capsys):
    server.status = 404
    assert _run(server, tmp_path, payload, "--retries", "3") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "HTTP 404" in err[0]
    assert len(server.requests) == 1
    assert list(tmp_path.iterdir()) == []


def test_connection_refused_is_one_line(tmp_path, capsys):
    """Nothing listening: one line naming the host, exit 1, no traceback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again before the download: nothing listens there
    code = dl.main(
        [
            "only108",
            str(tmp_path),
            "--url",
            f"http://127.0.0.1:{port}/{NAME}",
            "--retries",
            "0",
            "--quiet",
        ]
    )
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"127.0.0.1:{port}" in err[0] and "refused" in err[0]


def test_offline_dns_failure_is_one_line(tmp_path, capsys, monkeypatch):
    """No DNS (offline): says so in one line, with the URL to fetch by other means."""

    def offline(*_args, **_kwargs):
        raise urllib.error.URLError(socket.gaierror(socket.EAI_NONAME, "Name or service not known"))

    monkeypatch.setattr(dl.urllib.request, "urlopen", offline)
    assert dl.main(["full", str(tmp_path), "--retries", "0"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "cannot resolve storage.googleapis.com" in err[0] and "offline" in err[0]
    assert "https://storage.googleapis.com/nasbench/nasbench_full.tfrecord" in err[0]


@pytest.mark.parametrize(
    "argv", [["bogus"], ["full", "--expect-sha256", "abc"], ["full", "--retries", "-1"]]
)
def test_bad_arguments_exit_2(argv, capsys):
    with pytest.raises(SystemExit) if argv == ["bogus"] else _no_raise() as info:
        code = dl.main(argv)
    if info is None:
        assert code == 2
    else:
        assert info.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


class _no_raise:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def test_progress_line_on_a_terminal():
    """The progress display redraws one line (carriage return) with percent and sizes."""
    import io

    stream = io.StringIO()
    bar = dl._Progress("nasbench_only108.tfrecord", stream, enabled=True)
    bar(0, 2_000_000, False)
    bar(2_000_000, 2_000_000, True)
    text = stream.getvalue()
    assert text.startswith("\r") and text.endswith("\n") and "\n" not in text[:-1]
    assert "100.0%" in text and "2.0/2.0 MB" in text
    quiet = io.StringIO()
    dl._Progress("x", quiet, enabled=False)(5, 10, True)
    assert quiet.getvalue() == ""
