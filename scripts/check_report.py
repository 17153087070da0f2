#!/usr/bin/env python
"""Check that a Snakemake HTML report renders in headless Chromium and shows the expected items.

    snakemake --cores 1 --report results/default/report.html
    python scripts/check_report.py results/default/report.html --config configs/default.yaml \
        --expect-data "kinetic mixing" --screenshot results/default/report.png

The report is a single self-contained HTML page whose content is built by JavaScript (React), so
the raw file says little; this script loads it in headless Chromium (``--dump-dom`` after a virtual
time budget, i.e. after the scripts ran) and checks that every ``--expect`` string (default: the
analysis categories found in the configuration, or "na64e") occurs in the rendered DOM and that
the page is not a JavaScript error page. ``--screenshot`` also saves a PNG of the first screen.
Exit code 0 = renders and complete, 1 = missing items or render failure, 2 = Chromium unavailable.
Chromium: ``apt-get install -y chromium`` (Debian) or ``--chromium PATH``.
"""

from __future__ import annotations

import argparse
import html
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome", "chrome")
# flags for a sandbox-free, network-free, profile-free headless run
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio")
ERROR_MARKERS = ("Uncaught", "SyntaxError", "ReferenceError", "TypeError:")


def find_chromium(explicit: str | None = None) -> str | None:
    for candidate in ([explicit] if explicit else []) + list(CHROMIUM_CANDIDATES):
        path = shutil.which(candidate) if candidate else None
        if path:
            return path
    return None


def run_chromium(chromium: str, url: str, extra: list[str], timeout_s: float, budget_ms: int) -> subprocess.CompletedProcess:
    """Run headless Chromium with a fresh profile directory (removed afterwards)."""
    with tempfile.TemporaryDirectory(prefix="check-report-profile-") as profile:
        cmd = [chromium, *FLAGS, f"--user-data-dir={profile}", f"--virtual-time-budget={budget_ms}",
               *extra, url]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)


def rendered_dom(chromium: str, report: Path, timeout_s: float = 120.0, budget_ms: int = 15000) -> str:
    """The DOM of ``report`` after its scripts ran (``--dump-dom``)."""
    proc = run_chromium(chromium, report.resolve().as_uri(), ["--dump-dom"], timeout_s, budget_ms)
    if proc.returncode != 0 or not proc.stdout.strip():
        raise RuntimeError(f"chromium exited with {proc.returncode}: {proc.stderr.strip()[-2000:]}")
    return proc.stdout


def screenshot(chromium: str, report: Path, out: Path, timeout_s: float = 120.0, budget_ms: int = 15000,
               size: str = "1400,1000") -> Path:
    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    proc = run_chromium(chromium, report.resolve().as_uri(),
                        [f"--screenshot={out}", f"--window-size={size}"], timeout_s, budget_ms)
    if not out.exists() or out.stat().st_size == 0:
        raise RuntimeError(f"no screenshot written (chromium exit {proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return out


def visible_text(dom: str) -> str:
    """The DOM without <script>/<style> bodies and tags: the text a reader sees (roughly)."""
    dom = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", dom)
    return html.unescape(re.sub(r"(?s)<[^>]+>", " ", dom))


def check_dom(dom: str, expect: list[str], expect_data: list[str] = ()) -> list[str]:
    """Problems found in a rendered DOM: ``expect`` items missing from the visible text,
    ``expect_data`` items missing from the whole DOM (the report embeds every result's caption and
    file in its script data, shown when a category is opened), error pages."""
    text = visible_text(dom)
    problems = [f"expected item not rendered: {item!r}" for item in expect if item not in text]
    problems += [f"expected item not in the report data: {item!r}" for item in expect_data if item not in dom]
    for marker in ERROR_MARKERS:
        if marker in text:
            problems.append(f"page shows a JavaScript error ({marker!r})")
    if len(text.split()) < 5:
        problems.append("rendered page is (almost) empty: did the report's JavaScript run?")
    return problems


def default_expect(config: Path | None) -> list[str]:
    if config is None:
        return ["na64e"]
    import yaml

    cfg = yaml.safe_load(Path(config).read_text())
    return sorted(cfg.get("analyses", {}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("report", type=Path, help="report HTML written by `snakemake --report FILE.html`")
    parser.add_argument("--expect", action="append", default=None,
                        help="text that must appear in the rendered page (repeatable)")
    parser.add_argument("--expect-data", action="append", default=[],
                        help="text that must occur in the report's embedded data, e.g. a plot caption (repeatable)")
    parser.add_argument("--config", type=Path, default=None,
                        help="workflow configuration: expect its analysis names (when no --expect)")
    parser.add_argument("--screenshot", type=Path, default=None, help="also save a PNG screenshot here")
    parser.add_argument("--chromium", default=None, help="Chromium executable (default: search PATH)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per Chromium run")
    parser.add_argument("--budget-ms", type=int, default=15000, help="virtual time for the page scripts")
    args = parser.parse_args(argv)

    if not args.report.is_file():
        print(f"check_report: {args.report}: report not found (make it with `snakemake --report FILE.html`)",
              file=sys.stderr)
        return 1
    if args.report.suffix == ".zip":
        print(f"check_report: {args.report}: zip reports are not supported; use an .html report", file=sys.stderr)
        return 1
    chromium = find_chromium(args.chromium)
    if chromium is None:
        print("check_report: Chromium not found (apt-get install -y chromium, or --chromium PATH)", file=sys.stderr)
        return 2
    expect = args.expect or default_expect(args.config)
    try:
        dom = rendered_dom(chromium, args.report, args.timeout, args.budget_ms)
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        print(f"check_report: {args.report}: does not render: {exc}", file=sys.stderr)
        return 1
    problems = check_dom(dom, expect, args.expect_data)
    if args.screenshot:
        try:
            shot = screenshot(chromium, args.report, args.screenshot, args.timeout, args.budget_ms)
            print(f"screenshot: {shot}")
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            problems.append(f"screenshot failed: {exc}")
    if problems:
        print(f"check_report: {args.report}: FAILED", file=sys.stderr)
        for p in problems:
            print(f"  - {p}", file=sys.stderr)
        return 1
    print(f"check_report: {args.report}: renders; found {', '.join(expect + args.expect_data)} "
          f"({len(visible_text(dom).split())} words of visible text)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
