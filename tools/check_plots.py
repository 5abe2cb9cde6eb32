"""Render `dvc plots show` in headless Chromium, offline, and fail on a JavaScript error or an
empty plot; save one screenshot per plot.

1. ``dvc plots show -o <out>/dvc_plots`` (the workspace's plots, as the user would see them).
2. The HTML loads vega, vega-lite and vega-embed from a CDN. The exact versions it names are
   fetched once from the npm registry (``npm pack``) into ``--cache`` (an ignored folder) and the
   page is rewritten to load those local copies.
3. Each plot gets a page of its own (the same scripts, one plot) with a probe script that records
   window errors, rejected promises and ``console.error``, waits for every ``vegaEmbed`` call,
   and writes a JSON verdict into the DOM: per plot the data rows, the drawn marks (paths of
   line, area and symbol marks), the legend labels and the size.
4. ``chromium --headless --dump-dom`` reads the verdict; ``--screenshot`` saves
   ``<out>/<plot>.png`` at the plot's size.

Exit status 0 when every plot rendered without an error and drew at least one mark per data
series; 1 otherwise (the reasons are printed). Needs ``dvc`` on PATH, ``npm`` (first run only)
and Debian's ``chromium`` (``apt-get install chromium``).
"""

from __future__ import annotations

import argparse
import html
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

CDN = re.compile(r'<script src="https://cdn\.jsdelivr\.net/npm/([a-z-]+)@([0-9.]+)"></script>')
# DVC's renderer: <div id = "..."> <script type = "text/javascript"> var spec = ...; </script></div>
PLOT = re.compile(
    r'<div id = "([^"]+)">\s*<script type = "text/javascript">(.*?)</script>\s*</div>', re.DOTALL
)
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--allow-file-access-from-files", "--virtual-time-budget=20000")

PROBE = """<script>
window.__check = {errors: [], warnings: [], embeds: []};
window.addEventListener("error", e => window.__check.errors.push(String(e.message || e)));
window.addEventListener("unhandledrejection", e => window.__check.errors.push(String(e.reason)));
const __error = console.error, __warn = console.warn;
console.error = (...a) => { window.__check.errors.push(a.map(String).join(" ")); __error(...a); };
console.warn = (...a) => { window.__check.warnings.push(a.map(String).join(" ")); __warn(...a); };
</script>"""

# After vega-embed: record every call, render as SVG so the marks can be counted.
WRAP = """<script>
(function () {
  const embed = window.vegaEmbed;
  if (typeof embed !== "function") { window.__check.errors.push("vegaEmbed did not load"); return; }
  window.vegaEmbed = function (el, spec, options) {
    const rows = (spec && spec.data && Array.isArray(spec.data.values)) ? spec.data.values.length : -1;
    const p = embed(el, spec, Object.assign({renderer: "svg", actions: false}, options || {}))
      .then(result => ({el: el, rows: rows}))
      .catch(e => { window.__check.errors.push("vegaEmbed " + el + ": " + e); return {el: el, rows: rows}; });
    window.__check.embeds.push(p);
    return p;
  };
})();
</script>"""

REPORT = """<script>
window.addEventListener("load", () => {
  Promise.all(window.__check.embeds).then(done => {
    const plots = done.map(d => {
      const node = document.querySelector(d.el);
      const count = sel => node ? node.querySelectorAll(sel).length : 0;
      const box = node ? node.getBoundingClientRect() : {width: 0, height: 0};
      return {
        id: d.el, rows: d.rows,
        lines: count("g.mark-line.role-mark path"), areas: count("g.mark-area.role-mark path"),
        points: count("g.mark-symbol.role-mark path"), rules: count("g.mark-rule.role-mark line"),
        legend: Array.from(node ? node.querySelectorAll(".role-legend-label text") : [])
          .map(t => t.textContent),
        width: Math.ceil(box.width), height: Math.ceil(box.height),
      };
    });
    const out = document.createElement("pre");
    out.id = "check-result";
    out.style.display = "none";
    out.textContent = JSON.stringify({errors: window.__check.errors,
                                      warnings: window.__check.warnings, plots: plots});
    document.body.appendChild(out);
  });
});
</script>"""


def find_browser() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    raise SystemExit("check_plots: no chromium found: `apt-get install -y chromium`")


def vendor(packages: list[tuple[str, str]], cache: Path) -> dict[str, Path]:
    """``{package: local build/<package>.min.js}``, fetched with `npm pack` when missing."""
    cache.mkdir(parents=True, exist_ok=True)
    local = {}
    for name, version in packages:
        target = cache / f"{name}@{version}.min.js"
        if not target.is_file():
            with tempfile.TemporaryDirectory() as scratch:
                subprocess.run(["npm", "pack", "--silent", f"{name}@{version}"], cwd=scratch,
                               check=True, stdout=subprocess.DEVNULL)
                (tarball,) = Path(scratch).glob("*.tgz")
                with tarfile.open(tarball) as archive:
                    member = archive.extractfile(f"package/build/{name}.min.js")
                    if member is None:
                        raise SystemExit(f"check_plots: {tarball.name} has no build/{name}.min.js")
                    target.write_bytes(member.read())
        local[name] = target
    return local


def run_browser(browser: str, page: Path, *extra: str) -> str:
    result = subprocess.run([browser, *FLAGS, *extra, page.as_uri()], capture_output=True,
                            text=True, timeout=180, check=False)
    if result.returncode != 0:
        raise SystemExit(f"check_plots: {browser} failed on {page}:\n{result.stderr[-2000:]}")
    return result.stdout


def problems_of(verdict: dict) -> list[str]:
    problems = [f"JavaScript error: {error}" for error in verdict["errors"]]
    if not verdict["plots"]:
        problems.append("no plot was embedded")
    for plot in verdict["plots"]:
        drawn = plot["lines"] + plot["areas"] + plot["points"]
        if plot["rows"] <= 0:
            problems.append(f"{plot['id']}: no data rows")
        if drawn == 0:
            problems.append(f"{plot['id']}: nothing drawn ({plot['rows']} data rows)")
        if plot["width"] < 100 or plot["height"] < 100:
            problems.append(f"{plot['id']}: {plot['width']}x{plot['height']} px")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("plots-check"),
                        help="output folder: the HTML pages and <plot>.png screenshots")
    parser.add_argument("--cache", type=Path, default=Path(".cache/plots-js"),
                        help="folder of the vega scripts from the npm registry")
    parser.add_argument("--repo", type=Path, default=Path("."), help="the DVC repository")
    args = parser.parse_args(argv)
    out = args.out.resolve()
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    shown = subprocess.run(["dvc", "plots", "show", "-o", str(out / "dvc_plots")],
                           cwd=args.repo, capture_output=True, text=True, check=False)
    print(shown.stdout.strip(), shown.stderr.strip(), sep="\n")
    if shown.returncode != 0 or "WARNING" in shown.stderr or "ERROR" in shown.stderr:
        print("check_plots: FAILED: `dvc plots show` did not run cleanly", file=sys.stderr)
        return 1
    page = (out / "dvc_plots" / "index.html").read_text()
    packages = CDN.findall(page)
    if {name for name, _ in packages} != {"vega", "vega-lite", "vega-embed"}:
        print(f"check_plots: FAILED: unexpected scripts in the HTML: {packages}", file=sys.stderr)
        return 1
    local = vendor(packages, args.cache.resolve())
    for name, path in local.items():
        shutil.copyfile(path, out / f"{name}.min.js")
    head = PROBE + "".join(f'<script src="{name}.min.js"></script>' for name, _ in packages) + WRAP
    body = CDN.sub("", page)
    plots = PLOT.findall(body)
    if not plots:
        print("check_plots: FAILED: no vega plot in the HTML", file=sys.stderr)
        return 1
    browser = find_browser()
    failures = []
    for plot_id, script in plots:
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", plot_id)
        single = (f"<!DOCTYPE html><html><head><meta charset='utf-8'>{head}</head>"
                  f"<body style='margin:8px;background:white'>"
                  f"<div id = \"{plot_id}\"><script type = \"text/javascript\">{script}"
                  f"</script></div>{REPORT}</body></html>")
        target = out / f"{name}.html"
        target.write_text(single)
        dom = run_browser(browser, target, "--dump-dom")
        match = re.search(r'<pre id="check-result"[^>]*>(.*?)</pre>', dom, re.DOTALL)
        if not match:
            failures.append(f"{plot_id}: the page never finished rendering")
            continue
        verdict = json.loads(html.unescape(match.group(1)))
        problems = problems_of(verdict)
        plot = (verdict["plots"] or [{}])[0]
        width, height = plot.get("width", 800) + 40, plot.get("height", 600) + 40
        run_browser(browser, target, f"--screenshot={out / (name + '.png')}",
                    f"--window-size={max(width, 400)},{max(height, 300)}")
        summary = (f"{plot_id}: {plot.get('rows')} rows, {plot.get('lines')} lines, "
                   f"{plot.get('areas')} bands, {plot.get('points')} points; legend "
                   f"{plot.get('legend')}; {width}x{height} px -> {out / (name + '.png')}")
        print(summary)
        for warning in verdict["warnings"]:
            print(f"  warning: {warning}")
        failures += [f"{plot_id}: {problem}" for problem in problems]
    if failures:
        print("check_plots: FAILED:\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    print(f"check_plots: OK, {len(plots)} plots rendered; screenshots in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
