"""The HTML reports in a real browser: Debian's Chromium driven by Playwright's Python package
(``make browser`` installs both; never ``playwright install``, which downloads a browser build).

For several specs (a small module, ResNet-50, MobileNetV2, Inception-ResNet-v2, and the
1,202-layer CIFAR ResNet written by write_html with depth=1202): no console errors; the graph has
one node per layer (expanding collapsed blocks where needed); clicking a node shows the MACs that
`costcalc summary` prints; sorting and filtering the table work; the dagre layout times stay
under a few seconds. Screenshots go to $COSTCALC_ARTIFACTS (default: the test's tmp folder), with
the layout timings as layout-timings.json; COSTCALC_UPDATE_SCREENSHOT=1 also rewrites
docs/screenshot-resnet50.png, the README's picture. Skips, with the reason, without Playwright or
Chromium, as the PyTorch oracle does without torch.
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sync_api = pytest.importorskip(
    "playwright.sync_api",
    reason="the browser test drives Chromium with Playwright's Python package; install both "
           "with `make browser` (apt-get install chromium; pip install playwright)")

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("COSTCALC_CHROMIUM") or shutil.which("chromium") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
if not CHROMIUM:
    pytest.skip("no Chromium found (looked for `chromium` on PATH and /usr/bin/chromium); "
                "install Debian's package with `make browser` (apt-get install chromium)",
                allow_module_level=True)

from costcalc import html  # noqa: E402

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]
LAYOUT_LIMIT_MS = 8000     # "a few seconds" on a loaded 2-core machine; measured ~0.1-1.1 s
MAX_NODES = 1200           # app.js: at most this many nodes are laid out at once

# page name -> (spec, --set values)
PAGES = {
    "inception-naive": ("inception-naive", {}),         # a small module (5 layers)
    "resnet50": ("resnet50", {}),
    "mobilenet-v2": ("mobilenet-v2", {}),
    "inception-resnet-v2": ("inception-resnet-v2", {}),  # 781 layers: starts collapsed
    "resnet-cifar": ("resnet-cifar", {"depth": 1202}),   # 4,208 layers
}


def costcalc_summary(spec, sets) -> dict:
    """`costcalc summary --format json`, the command line's own numbers."""
    cmd = [sys.executable, "-m", "costcalc", "summary", spec, "--format", "json"]
    for k, v in sets.items():
        cmd += ["--set", f"{k}={v}"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    html.write_html(out, [n for n, (_, sets) in PAGES.items() if not sets])
    big = out / "big"
    html.write_html(big, ["resnet-cifar"], {"depth": 1202})
    html.compare_html(["resnet50", "mobilenet-v2"], out / "compare.html")
    return {name: (big if sets else out) / html.page_name(name)
            for name, (_, sets) in PAGES.items()} | {"compare": out / "compare.html",
                                                      "index": out / "index.html"}


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    d = Path(os.environ.get("COSTCALC_ARTIFACTS") or tmp_path_factory.mktemp("artifacts"))
    d.mkdir(parents=True, exist_ok=True)
    return d


@pytest.fixture(scope="module")
def timings(artifacts):
    found: dict = {}
    yield found
    (artifacts / "layout-timings.json").write_text(json.dumps(found, indent=2) + "\n")


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


class Page:
    """One opened report with its console watched."""

    def __init__(self, browser, path):
        self.page = browser.new_page(viewport={"width": 1400, "height": 1000})
        self.errors = []
        self.page.on("console", lambda m: m.type in ("error", "warning") and
                     self.errors.append(f"console {m.type}: {m.text}"))
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        self.page.on("request", lambda r: not r.url.startswith(("file:", "data:", "about:")) and
                     self.errors.append(f"network request: {r.url}"))
        self.page.goto(path.as_uri())
        self.page.wait_for_function("() => window.costcalc && costcalc.timings.length > 0",
                                    timeout=60000)

    def view(self, spec):
        return self.page.locator(f'.specview[data-spec="{spec}"]')

    def status(self, spec):
        return self.view(spec).locator(".status").text_content()

    def wait_layouts(self, n):
        self.page.wait_for_function(f"() => costcalc.timings.length >= {n}", timeout=60000)

    def accounted(self, spec) -> int:
        """Layers shown: one per layer node plus each collapsed block's layers."""
        return self.page.evaluate("""(spec) => {
            const v = document.querySelector('.specview[data-spec="' + spec + '"]');
            let n = v.querySelectorAll('.node.layer').length;
            v.querySelectorAll('.node.block').forEach(b => n += +b.getAttribute('data-layers'));
            return n; }""", spec)


def numbers(cells) -> list:
    return [int(t.replace(",", "")) for t in cells]


@pytest.mark.parametrize("name", list(PAGES))
def test_page(name, site, browser, artifacts, timings):
    spec, sets = PAGES[name]
    want = costcalc_summary(spec, sets)
    layers = want["layers"]
    n = len(layers)
    p = Page(browser, site[name])
    page, view = p.page, p.view(spec)
    assert view.locator(".total-macs").text_content() == f"{want['totals']['macs']:,}"

    # the graph: one node per layer, after expanding the collapsed blocks
    assert p.accounted(spec) == n
    if n + 1 <= MAX_NODES:
        if view.locator(".node.block").count():
            before = page.evaluate("costcalc.timings.length")
            view.locator(".expand-all").click()
            p.wait_layouts(before + 1)
        assert view.locator(".node.block").count() == 0
        names = page.evaluate("(s) => Array.from(document.querySelectorAll("
                              "'.specview[data-spec=\"' + s + '\"] .node.layer'), "
                              "e => e.getAttribute('data-layer'))", spec)
        assert sorted(names) == sorted(r["name"] for r in layers)
    else:
        # too many to lay out at once: expand a block, then one of its blocks, and check that
        # every layer is still accounted for and the block's layers appear
        first = view.locator(".node.block").first
        inside = int(first.get_attribute("data-layers"))
        before = page.evaluate("costcalc.timings.length")
        first.click()
        p.wait_layouts(before + 1)
        assert p.accounted(spec) == n
        sub = view.locator(".node.block").first
        sub_layers = int(sub.get_attribute("data-layers"))
        assert sub_layers < inside
        shown = view.locator(".node.layer").count()
        sub.click()
        p.wait_layouts(before + 2)
        assert view.locator(".node.layer").count() == shown + sub_layers
        assert p.accounted(spec) == n
        # "expand all" goes as deep as MAX_NODES allows
        view.locator(".expand-all").click()
        p.wait_layouts(before + 3)
        assert p.accounted(spec) == n
        assert view.locator(".node").count() <= MAX_NODES

    # hover: the output shape and the counts
    costly = max(layers, key=lambda r: (r["macs"], r["name"]))
    node = view.locator(f'.node.layer[data-layer="{costly["name"]}"]')
    if not node.count():                  # inside a collapsed block: the table reveals it
        view.locator(f'.layer-table tbody tr:has(td.name:text-is("{costly["name"]}"))').click()
    node.scroll_into_view_if_needed()
    node.hover()
    tip = page.locator(".tip")
    assert tip.is_visible()
    assert "x".join(map(str, costly["output_shape"])) in tip.inner_text()
    assert f"{costly['macs']:,}" in tip.inner_text()

    # click: the same MACs as `costcalc summary`, the formula, the spec line
    node.click()
    details = view.locator(".details")
    assert details.locator(".layer-name").text_content() == costly["name"]
    assert details.locator('[data-field="macs"]').text_content() == f"{costly['macs']:,}"
    assert details.locator('[data-field="params"]').text_content().startswith(
        f"{costly['params']:,}")
    assert f"= {costly['macs']:,}" in details.locator("pre.formula").first.text_content()
    assert details.locator(".where").text_content().endswith(f":{costly['line']}")
    assert details.locator("pre.excerpt .hl").count() == 1
    # and a few more layers, each the summary's MACs
    for r in layers[:: max(1, n // 5)][:5]:
        view.locator(f'.layer-table tbody tr:has(td.name:text-is("{r["name"]}"))').click()
        assert details.locator(".layer-name").text_content() == r["name"]
        assert details.locator('[data-field="macs"]').text_content() == f"{r['macs']:,}"

    # the colour selector re-colours without a new layout
    before = page.evaluate("costcalc.timings.length")
    view.locator(".q-select").select_option("params")
    assert node.get_attribute("data-value") == str(costly["params"])
    assert page.evaluate("costcalc.timings.length") == before

    # sorting: MACs descending, then ascending; names
    table = view.locator(".layer-table")
    head = table.locator('th[data-key="macs"]')
    head.click()
    macs_sorted = sorted((r["macs"] for r in layers), reverse=True)
    top = numbers(table.locator('tbody tr td[data-v="macs"]').all_text_contents())
    assert top == macs_sorted
    head.click()
    assert numbers(table.locator('tbody tr td[data-v="macs"]').all_text_contents()) \
        == macs_sorted[::-1]
    table.locator('th[data-key="name"]').click()
    names = table.locator("tbody td.name").all_text_contents()
    assert names == sorted(r["name"] for r in layers)

    # filtering: by op (counted here from the summary), by text, and back
    opf = view.locator(".op-filter")
    conv = sum(r["op"] == "conv2d" for r in layers)
    opf.select_option("conv2d")
    assert table.locator("tbody tr").count() == conv
    assert set(table.locator("tbody tr td:nth-child(3)").all_text_contents()) == {"conv2d"}
    assert view.locator(".layers .count").text_content() == f"{conv:,} of {n:,} layers"
    opf.select_option("")
    word = costly["name"]
    view.locator(".filter").fill(word)
    rows = table.locator("tbody tr")
    expected = [r["name"] for r in layers if word.lower() in r["name"].lower()]
    assert rows.count() >= len(expected) >= 1
    for text in rows.all_inner_texts()[:50]:
        assert word.lower() in text.lower()
    view.locator(".filter").fill("")
    assert table.locator("tbody tr").count() == n

    # layout times
    t = page.evaluate("costcalc.timings")
    timings[name] = t
    assert all(x["ms"] < LAYOUT_LIMIT_MS for x in t), t
    assert max(x["nodes"] for x in t) <= MAX_NODES

    view.locator(".q-select").select_option("macs")
    page.evaluate("window.scrollTo(0, 0)")
    page.mouse.move(1, 1)
    shot = artifacts / f"{name}.png"
    page.screenshot(path=str(shot))
    if name == "resnet50" and os.environ.get("COSTCALC_UPDATE_SCREENSHOT") == "1":
        readme_shot(page, view)
    assert p.errors == []
    page.close()


def readme_shot(page, view):
    """docs/screenshot-resnet50.png: a 3x3 convolution of the first bottleneck selected, with
    its formula, in the graph coloured by MACs."""
    view.locator('.layer-table tbody tr:has(td.name:text-is("conv2_block1_2_conv"))').click()
    page.evaluate("window.scrollTo(0, 0)")
    page.mouse.move(1, 1)
    target = ROOT / "docs" / "screenshot-resnet50.png"
    target.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(target))


def test_compare_page(site, browser, artifacts):
    p = Page(browser, site["compare"])
    page = p.page
    a, b = (costcalc_summary(s, {}) for s in ("resnet50", "mobilenet-v2"))
    row = page.locator('.compare-table tr[data-q="macs"] td')
    assert [t.split("\n")[0] for t in row.all_inner_texts()] == \
        [f"{a['totals']['macs']:,}", f"{b['totals']['macs']:,}"]
    # the second network's view is built (and laid out) when its tab is first shown
    assert p.view("mobilenet-v2").count() == 0
    before = page.evaluate("costcalc.timings.length")
    page.locator('.tab[data-spec="mobilenet-v2"]').click()
    p.wait_layouts(before + 1)
    view = p.view("mobilenet-v2")
    assert view.locator(".node.layer").count() == len(b["layers"])
    assert p.view("resnet50").is_hidden()
    page.screenshot(path=str(artifacts / "compare.png"), full_page=False)
    assert p.errors == []
    page.close()


def test_index_page(site, browser):
    page = browser.new_page()
    errors = []
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.goto(site["index"].as_uri())
    links = page.locator("a").evaluate_all("els => els.map(e => e.getAttribute('href'))")
    assert links == [html.page_name(n) for n, (_, sets) in PAGES.items() if not sets]
    page.locator('a[href="resnet50.html"]').click()
    page.wait_for_function("() => window.costcalc && costcalc.timings.length > 0")
    assert page.locator(".specview h1").text_content().startswith("resnet50")
    assert errors == []
    page.close()
