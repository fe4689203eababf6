#!/bin/sh
# Installs the pinned @walletconnect/utils used by tests/wc_compat.rs (from package-lock.json).
set -eu
cd "$(dirname "$0")"
npm ci --no-audit --no-fund --loglevel=error
