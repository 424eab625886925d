#!/usr/bin/env bash
# make ui-assets: fetch the web UI's third-party assets at the versions
# pinned below with npm, check each package against its pinned integrity
# (the registry's sha512 of the tarball), and copy the files the UI uses
# into web/static/vendor/, with their licences and a SHA256SUMS that
# TestVendoredAssets checks against what wfsh embeds. The copies are kept
# in git: building and running wfsh needs neither npm nor the network.
#
# To move a package to another version: change its line (version and
# integrity, from `npm view PACKAGE@VERSION dist.integrity`), run
# `make ui-assets`, and review the diff.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=web/static/vendor

# package version integrity files (in the package's tarball, under package/)
pins=(
	"htmx.org 2.0.11 sha512-Thx/WtpeOQqSrqBCw/A1cwGJGg4UrVa3+sW0GmrM3p4gJgO89ecH4qtbnyzDDWFvBTqjnIMCgELTNt636dtamA== dist/htmx.min.js LICENSE"
	"htmx-ext-sse 2.2.4 sha512-LJmxVhykyflBWgh5PvbRidcyuqMHlgfajmmzumvKctv9puvsufeH6OaejSMZTNTnEI8O2wXXn4ZZtBdpEMqmEQ== dist/sse.min.js LICENSE"
	"@hpcc-js/wasm-graphviz 1.29.2 sha512-AkArBAZERT5OxH52/+kvCHB07cZ6ZNd9GnOvjw+S880bR88D6i27XfK6xj4dBhUDxNA2QPPMdgEcky3x4TJ3KA== dist/index.js LICENSE"
	"uplot 1.6.32 sha512-KIMVnG68zvu5XXUbC4LQEPnhwOxBuLyW1AHtpm6IKTXImkbLgkMy+jabjLgSLMasNuGGzQm/ep3tOkyTxpiQIw== dist/uPlot.iife.min.js dist/uPlot.min.css LICENSE"
)

command -v npm >/dev/null || { echo "ui-assets: npm is needed (Debian: apt-get install npm)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
rm -rf "$out"
mkdir -p "$out"
for pin in "${pins[@]}"; do
	read -r pkg version integrity files <<<"$pin"
	name=${pkg#@}
	name=${name//\//-}
	dir=$out/$name
	mkdir -p "$tmp/$name" "$dir"
	tgz=$(cd "$tmp/$name" && npm pack --silent "$pkg@$version")
	got="sha512-$(openssl dgst -sha512 -binary "$tmp/$name/$tgz" | base64 -w0)"
	if [ "$got" != "$integrity" ]; then
		echo "ui-assets: $pkg@$version: integrity $got, want $integrity" >&2
		exit 1
	fi
	tar -xzf "$tmp/$name/$tgz" -C "$tmp/$name"
	for f in $files; do
		cp "$tmp/$name/package/$f" "$dir/$(basename "$f")"
	done
	echo "$pkg $version $integrity" >>"$out/VERSIONS"
done
(cd "$out" && find . -type f ! -name SHA256SUMS | sed 's|^\./||' | LC_ALL=C sort | xargs sha256sum >SHA256SUMS)
echo "ui-assets: $(wc -l <"$out/VERSIONS") packages in $out"
