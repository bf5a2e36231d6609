#!/usr/bin/env bash
# Regenerates build/*.hex from the Solidity sources with solc-js from the npm registry.
# Building parevm needs only the committed build/*.hex; this script needs Node.js and npm.
#   contracts/build.sh           # compile and write build/*.hex
#   contracts/build.sh --check   # compile and compare with the committed files
set -euo pipefail
cd "$(dirname "$0")"
SOLC_VERSION=0.8.28
if [ ! -d node_modules/solc ]; then
  npm install --no-save --no-audit --no-fund "solc@${SOLC_VERSION}" >/dev/null
fi
node compile.js "$@"
