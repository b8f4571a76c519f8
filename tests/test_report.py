"""``gentool report``: the pages, the pictures beside them, the metrics (reused from the runs'
logs or computed and logged once), the output folder's overwrite rules, and the page in a
real headless browser where one is installed."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from PIL import Image

from gentool.cli.main import cli
from gentool.report import MARK, cached_metrics, load_runs

TINY = ["--batch-size", "8", "--image-size", "16", "--device", "cpu", "--seed", "1"]
GAN = ["--model-opt", "g_width=4", "--model-opt", "d_width=4", "--model-opt", "latent_dim=8"]
STEPS = ["--steps", "4", "--log-every", "1", "--sample-every", "2"]


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("runs")
    made = {
        "ls": ["dcgan", "--loss", "ls", *GAN],
        "bce": ["dcgan", "--loss", "bce", *GAN],
        "vae": ["vae-mlp", "--model-opt", "hidden=16", "--model-opt", "latent_dim=2"],
    }
    for name, args in made.items():
        result = run("train", *args, *TINY, *STEPS, "--out", str(root / name))
        assert result.exit_code == 0, result.output
    return {name: root / name for name in made}


def images_of(page: str) -> list[str]:
    return re.findall(r'<img src="([^"]+)"', page)


def test_a_report_of_runs_of_two_families(runs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "report"
    result = run("report", str(runs["ls"]), str(runs["bce"]), str(runs["vae"]), "-o", str(out),
                 "--no-metrics")  # fmt: skip
    assert result.exit_code == 0, result.output
    page = (out / "report.html").read_text()
    markdown = (out / "report.md").read_text()
    assert page.startswith(MARK) and markdown.startswith(MARK)
    shown = images_of(page)
    assert shown and all((out / src).is_file() for src in shown)
    assert sorted(f"img/{p.name}" for p in (out / "img").iterdir()) == sorted(set(shown))
    for src in shown:  # every picture is a real image
        with Image.open(out / src) as img:
            assert img.width > 100 and img.height > 100
    # one grid and one timeline per run, one figure per group of curves
    assert len([s for s in shown if "/grid-" in s]) == 3
    assert len([s for s in shown if "/timeline-" in s]) == 3
    assert len([s for s in shown if "/curves-" in s]) >= 2
    # the settings that differ are marked: the loss (bce vs ls) and the model
    differing = re.findall(r"<tr class=differs><th>([^<]+)</th>", page)
    assert "loss" in differing and "model" in differing
    assert "train.batch_size" not in differing
    assert "**loss**" in markdown
    assert "Metrics" not in page  # --no-metrics: nothing computed, no table
    assert "report: learning curves" in result.output and " s, " in result.output


def test_metrics_are_reused_from_the_log_and_computed_once(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    ls = tmp_path / "ls"
    shutil.copytree(runs["ls"], ls)
    log = ls / "log.jsonl"
    # what 'gentool evaluate' logged at the checkpoint's step: reused as it is
    record = {"event": "evaluate", "step": 4, "time": 0.0, "swd_avg": 123.5, "num_generated": 8}
    with open(log, "a") as handle:
        handle.write(json.dumps(record) + "\n")
    before = log.read_bytes()
    result = run("report", str(ls), "-o", str(tmp_path / "a"))
    assert result.exit_code == 0, result.output
    assert "123.5" in (tmp_path / "a" / "report.md").read_text()
    assert log.read_bytes() == before  # nothing computed, nothing logged
    # a metric the log lacks is computed, logged, and reused the next time
    result = run("report", str(ls), "-o", str(tmp_path / "b"), "--metrics", "diversity")
    assert result.exit_code == 0, result.output
    after = log.read_bytes()
    assert len(after.splitlines()) == len(before.splitlines()) + 1
    assert "diversity" in cached_metrics(load_runs([ls])[0])
    result = run("report", str(ls), "-o", str(tmp_path / "c"), "--metrics", "diversity")
    assert result.exit_code == 0, result.output
    assert log.read_bytes() == after


def test_metrics_options_are_checked(runs: dict[str, Path], tmp_path: Path) -> None:
    result = run("report", str(runs["ls"]), "-o", str(tmp_path / "r"), "--metrics", "nope")
    assert result.exit_code != 0 and "nope" in result.output
    result = run("report", str(runs["ls"]), "-o", str(tmp_path / "r"), "--metrics", "swd",
                 "--no-metrics")  # fmt: skip
    assert result.exit_code != 0 and "--no-metrics" in result.output
    result = run("report", str(runs["ls"]), "-o", str(tmp_path / "r"), "-n", "5", "--no-metrics")
    assert result.exit_code != 0 and "-n, --inception-weights" in result.output
    assert not (tmp_path / "r" / "report.html").exists()


def test_an_earlier_report_is_replaced_only_when_asked(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "report"
    assert run("report", str(runs["ls"]), str(runs["bce"]), "-o", str(out),
               "--no-metrics").exit_code == 0  # fmt: skip
    first = (out / "report.html").read_bytes()
    result = run("report", str(runs["ls"]), "-o", str(out), "--no-metrics")
    assert result.exit_code != 0 and "--overwrite" in result.output
    assert (out / "report.html").read_bytes() == first
    result = run("report", str(runs["ls"]), "-o", str(out), "--no-metrics", "--overwrite")
    assert result.exit_code == 0, result.output
    # the pictures of the run no longer in the report are gone; a user's other file stays
    assert not any("bce" in p.name for p in (out / "img").iterdir())
    assert all(f"img/{p.name}" in images_of((out / "report.html").read_text())
               for p in (out / "img").iterdir())  # fmt: skip


def test_a_users_file_at_a_report_name_is_never_replaced(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "report"
    (out / "img").mkdir(parents=True)
    mine = out / "img" / "grid-1-ls.png"
    Image.new("RGB", (8, 8)).save(mine)
    notes = out / "notes.txt"
    notes.write_text("mine")
    result = run("report", str(runs["ls"]), "-o", str(out), "--no-metrics", "--overwrite")
    assert result.exit_code != 0 and "not a file gentool's report wrote" in result.output
    assert not (out / "report.html").exists()
    (out / "report.md").write_text("my own report\n")
    mine.unlink()
    for extra in ([], ["--overwrite"]):
        result = run("report", str(runs["ls"]), "-o", str(out), "--no-metrics", *extra)
        assert result.exit_code != 0 and "not a file gentool's report wrote" in result.output
    assert (out / "report.md").read_text() == "my own report\n"
    assert notes.read_text() == "mine"


def test_overwrite_keeps_a_users_own_gentool_picture(runs: dict[str, Path], tmp_path: Path) -> None:
    """A picture gentool drew for the user (sample -o) beside the report is not the report's:
    --overwrite leaves it, as it leaves any file the earlier page did not show."""
    out = tmp_path / "report"
    assert run("report", str(runs["ls"]), "-o", str(out), "--no-metrics").exit_code == 0
    favourite = out / "img" / "favorite.png"
    result = run("sample", str(runs["ls"]), "-n", "4", "-o", str(favourite))
    assert result.exit_code == 0, result.output
    (out / "img" / "plot.png").write_bytes(b"a user's own picture")
    result = run("report", str(runs["bce"]), "-o", str(out), "--no-metrics", "--overwrite")
    assert result.exit_code == 0, result.output
    assert favourite.is_file() and (out / "img" / "plot.png").is_file()
    assert not any("-ls" in p.name for p in (out / "img").iterdir())


def test_runs_with_alike_names_keep_their_own_pictures(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    a, b = tmp_path / "x" / "a b", tmp_path / "y" / "a_b"
    shutil.copytree(runs["ls"], a)
    shutil.copytree(runs["vae"], b)
    out = tmp_path / "report"
    result = run("report", str(a), str(b), "-o", str(out), "--no-metrics")
    assert result.exit_code == 0, result.output
    grids = [s for s in images_of((out / "report.html").read_text()) if "/grid-" in s]
    assert len(set(grids)) == 2
    sizes = {Image.open(out / g).size for g in grids}
    assert len(sizes) == 2  # a DCGAN's grid and a VAE's (samples beside reconstructions)


def test_markdown_is_escaped(runs: dict[str, Path], tmp_path: Path) -> None:
    odd = tmp_path / "my run|a*b_[x](y)<b>"
    shutil.copytree(runs["vae"], odd)
    out = tmp_path / "report"
    result = run("report", str(odd), "-o", str(out), "--no-metrics", "--title", "A <i>t</i> #1")
    assert result.exit_code == 0, result.output
    text = (out / "report.md").read_text()
    assert "# A \\<i\\>t\\</i\\> \\#1" in text
    assert "my run\\|a\\*b\\_\\[x\\]\\(y\\)\\<b\\>" in text
    assert "\\<not used\\>" in text
    result = run("report", str(odd), "-o", str(tmp_path / "r2"), "--title", "two\nlines",
                 "--no-metrics")  # fmt: skip
    assert result.exit_code != 0 and "one line" in result.output


def test_links_are_not_followed(runs: dict[str, Path], tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "report"
    out.mkdir()
    (out / "img").symlink_to(elsewhere)
    result = run("report", str(runs["ls"]), "-o", str(out), "--no-metrics")
    assert result.exit_code != 0 and "symbolic link" in result.output
    assert list(elsewhere.iterdir()) == []
    linked = tmp_path / "linked"
    linked.symlink_to(elsewhere)
    result = run("report", str(runs["ls"]), "-o", str(linked), "--no-metrics")
    assert result.exit_code != 0 and "symbolic link" in result.output
    assert list(elsewhere.iterdir()) == []


def test_a_run_named_twice_or_not_a_run_is_refused(runs: dict[str, Path], tmp_path: Path) -> None:
    result = run("report", str(runs["ls"]), str(runs["ls"] / "ckpt.safetensors"),
                 "-o", str(tmp_path / "r"), "--no-metrics")  # fmt: skip
    assert result.exit_code != 0 and "name each run once" in result.output
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run("report", str(empty), "-o", str(tmp_path / "r"), "--no-metrics")
    assert result.exit_code != 0
    assert not (tmp_path / "r").exists()


def _browser() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "headless_shell"):
        found = shutil.which(name)
        if found:
            return found
    return None


#: Injected into a copy of the page: every image loaded, and nothing wider than the window.
_CHECK = """<script>
window.addEventListener('load', () => {
  const broken = [...document.images].filter(i => !i.complete || i.naturalWidth === 0)
    .map(i => i.getAttribute('src'));
  const wide = [...document.querySelectorAll('body *')].filter(e => {
    const r = e.getBoundingClientRect(); return r.right > window.innerWidth + 1;
  }).map(e => e.tagName);
  document.title = 'CHECK ' + JSON.stringify({images: document.images.length, broken,
    wide, scroll: document.documentElement.scrollWidth, width: window.innerWidth});
});
</script></body>"""


@pytest.mark.skipif(_browser() is None, reason="no Chromium installed (apt install chromium)")
def test_the_page_in_a_headless_browser(runs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "report"
    result = run("report", str(runs["ls"]), str(runs["bce"]), str(runs["vae"]), "-o", str(out),
                 "--no-metrics", "--title", "A <b>title</b> & more")  # fmt: skip
    assert result.exit_code == 0, result.output
    page = (out / "report.html").read_text()
    assert "A &lt;b&gt;title&lt;/b&gt; &amp; more" in page
    probe = out / "probe.html"
    probe.write_text(page.replace("</body>", _CHECK))
    browser = _browser()
    assert browser is not None
    done = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1280,900",
         "--allow-file-access-from-files", "--virtual-time-budget=5000", "--dump-dom",
         probe.as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    found = re.search(r"<title>CHECK (.*?)</title>", done.stdout)
    assert found, done.stderr[-2000:]
    check = json.loads(found.group(1).replace("&quot;", '"'))
    assert check["images"] == len(images_of(page)) > 0
    assert check["broken"] == []
    assert check["wide"] == [] and check["scroll"] <= check["width"]


def test_a_translation_run_beside_a_vae(runs: dict[str, Path], tmp_path: Path) -> None:
    from gentool.testing import _tiny_options, kit_data
    from gentool.training.runner import train

    data, extra = kit_data("cyclegan", tmp_path, 16)
    cyclegan = tmp_path / "cyclegan"
    train("cyclegan", model_options=_tiny_options("cyclegan"), data=data, extra=extra, steps=2,
          batch_size=2, device="cpu", out=str(cyclegan), sample_every=1)  # fmt: skip
    out = tmp_path / "report"
    result = run("report", str(runs["vae"]), str(cyclegan), "-o", str(out), "--no-metrics")
    assert result.exit_code == 0, result.output
    page = (out / "report.html").read_text()
    assert "fixed inputs, rows of A" in page  # the family says what its grid shows
    assert "reconstructions" in page  # the VAE's reconstruction grid beside its samples
    assert all((out / src).is_file() for src in images_of(page))


def test_hostile_run_folders(runs: dict[str, Path], tmp_path: Path) -> None:
    """A FIFO for config.json does not block; garbage log lines are skipped with a warning;
    an unreadable grid is one line naming it."""
    import os

    odd = tmp_path / 'odd <b>&"name'
    shutil.copytree(runs["ls"], odd)
    (odd / "config.json").unlink()
    os.mkfifo(odd / "config.json")
    with open(odd / "log.jsonl", "ab") as handle:
        handle.write(b"garbage\n\xff\xfe\n")
    out = tmp_path / "r"
    result = run("report", str(odd), "-o", str(out), "--no-metrics")
    assert result.exit_code == 0, result.output
    assert "skipped 2 unusable line(s)" in result.output
    assert "odd &lt;b&gt;&amp;&quot;name" in (out / "report.html").read_text()
    (odd / "samples" / "step_000004.png").write_bytes(b"not a picture")
    result = run("report", str(odd), "-o", str(tmp_path / "r2"), "--no-metrics")
    assert result.exit_code != 0 and "cannot read the sample grid" in result.output
    assert "Traceback" not in result.output


def test_results_are_never_logged_through_a_link(runs: dict[str, Path], tmp_path: Path) -> None:
    linked = tmp_path / "linked"
    shutil.copytree(runs["ls"], linked)
    outside = tmp_path / "outside.jsonl"
    (linked / "log.jsonl").rename(outside)
    (linked / "log.jsonl").symlink_to(outside)
    before = outside.read_bytes()
    result = run("report", str(linked), "-o", str(tmp_path / "r"), "--metrics", "diversity")
    assert result.exit_code == 0, result.output
    assert "not logged" in (tmp_path / "r" / "report.md").read_text()
    result = run("evaluate", str(linked), "--metrics", "diversity")
    assert result.exit_code != 0 and "symbolic link" in result.output
    assert outside.read_bytes() == before
