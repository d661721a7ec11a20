#!/usr/bin/env bash
# Render every Mermaid block of the given markdown files with mermaid.js in headless Chromium and
# fail if any block does not render. mermaid.render() throws on a syntax error (where a browser
# page would show the "Syntax error" graphic), so a block that renders is one GitHub can draw.
#
# Usage: tools/render_mermaid.sh [-o shot.png] FILE.md...    (e.g. reports/*.md)
#   -o shot.png   also save a screenshot of the rendered page, to look at the pictures.
# Needs chromium (Debian: apt-get install chromium) and npm. mermaid comes from npm into
# $MERMAID_DIR (default ~/.cache/costcalc-mermaid), outside the repository.
# A dev check, not part of `make test`: CI machines have no browser.
set -euo pipefail

MERMAID_VERSION=${MERMAID_VERSION:-11.17.2}
MERMAID_DIR=${MERMAID_DIR:-$HOME/.cache/costcalc-mermaid}
shot=""
if [[ "${1:-}" == "-o" ]]; then shot=$(realpath -m "$2"); shift 2; fi
[[ $# -gt 0 ]] || { echo "usage: $0 [-o shot.png] FILE.md..." >&2; exit 2; }

js="$MERMAID_DIR/node_modules/mermaid/dist/mermaid.min.js"
if [[ ! -f "$js" ]]; then
    npm install --silent --no-save --prefix "$MERMAID_DIR" "mermaid@$MERMAID_VERSION" >&2
fi
version=$(node -p "require('$MERMAID_DIR/node_modules/mermaid/package.json').version")

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The page: every ```mermaid block of the files, rendered one by one; the verdicts go into
# <pre id="results"> for --dump-dom to report.
python3 - "$js" "$work/page.html" "$@" <<'EOF'
import json, re, sys
js, page, files = sys.argv[1], sys.argv[2], sys.argv[3:]
blocks = []
for path in files:
    text = open(path, encoding="utf-8").read()
    for m in re.finditer(r"```mermaid\n(.*?)```", text, re.S):
        line = text.count("\n", 0, m.start()) + 1
        blocks.append({"where": f"{path}:{line}", "code": m.group(1)})
script = """
mermaid.initialize({startOnLoad: false});
(async () => {
  const out = [];
  for (const [k, b] of BLOCKS.entries()) {
    try {
      const {svg} = await mermaid.render('m' + k, b.code);
      const div = document.createElement('div');
      div.innerHTML = svg;
      document.body.appendChild(div);
      out.push((/Syntax error/.test(svg) ? 'FAIL ' : 'ok ') + b.where);
    } catch (e) {
      out.push('FAIL ' + b.where + ': ' + String((e && e.message) || e).split('\\n')[0]);
    }
  }
  const pre = document.createElement('pre');
  pre.id = 'results';
  pre.textContent = out.join('\\n');
  document.body.prepend(pre);
})();
""".replace("BLOCKS", json.dumps(blocks))
with open(page, "w", encoding="utf-8") as f:
    f.write(f'<!doctype html><meta charset="utf-8"><body><script src="file://{js}"></script>'
            f"<script>{script}</script></body>")
print(f"{len(blocks)} blocks", file=sys.stderr)
EOF

browser() {
    chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
        --disable-component-update --disable-sync --no-first-run \
        --user-data-dir="$(mktemp -d -p "$work")" --virtual-time-budget=120000 "$@" \
        "file://$work/page.html" 2>/dev/null
}
browser --dump-dom > "$work/dom.html"
results=$(python3 -c '
import html, re, sys
m = re.search(r"<pre id=\"results\">(.*?)</pre>", open(sys.argv[1]).read(), re.S)
print(html.unescape(m.group(1)) if m else "FAIL: the page did not finish rendering")
' "$work/dom.html")
echo "$results"
if [[ -n "$shot" ]]; then browser --screenshot="$shot" --window-size=1200,4000 >/dev/null; fi
ok=$(grep -c '^ok ' <<< "$results" || true)
bad=$(grep -c '^FAIL' <<< "$results" || true)
echo "mermaid $version in $(chromium --version 2>/dev/null): $ok rendered, $bad failed"
[[ "$bad" -eq 0 && "$ok" -gt 0 ]]
