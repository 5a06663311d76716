#!/usr/bin/env bash
# Installs what Tollgate's local chains and interop tests need: the C toolchain the in-process
# Solana validator builds with (clang, libclang, protoc: Debian packages), and from npm anvil,
# solc-js and the Permit2 bytecode (into ./node_modules) and the official x402 SDK (into
# tests/interop). Safe to run again: it does nothing when everything is already in place.
set -euo pipefail
cd "$(dirname "$0")/.."

need() { command -v "$1" >/dev/null 2>&1 || { echo "setup: '$1' is required but not installed ($2)" >&2; exit 1; }; }
need cargo "install Rust 1.95 with rustup"
need node "install Node.js 20+ (apt-get install nodejs npm)"
need npm "install npm (apt-get install npm)"

# The Solana validator (RocksDB, protobuf) compiles C++ and generates code at build time.
missing=()
command -v clang >/dev/null 2>&1 || missing+=(clang)
command -v protoc >/dev/null 2>&1 || missing+=(protobuf-compiler)
# bindgen loads the unversioned libclang.so (or libclang-N.so), which only libclang-dev installs:
# a machine with clang alone has libclang-N.so.1 and fails the build.
libclang=""
for f in /usr/lib/llvm-*/lib/libclang.so /usr/lib/llvm-*/lib/libclang-*.so /usr/lib/*-linux-gnu/libclang.so; do
  [ -e "$f" ] && libclang="$f"
done
[ -n "$libclang" ] || missing+=(libclang-dev)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]} (needed to build the local Solana validator)..." >&2
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  command -v apt-get >/dev/null 2>&1 || { echo "setup: install ${missing[*]} with your package manager" >&2; exit 1; }
  $sudo apt-get install -y --no-install-recommends "${missing[@]}" >&2 \
    || { $sudo apt-get update >&2 && $sudo apt-get install -y --no-install-recommends "${missing[@]}" >&2; }
fi

anvil=node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil
if [ ! -x "$anvil" ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing local-chain tools from npm (anvil, solc, Permit2 bytecode)..." >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
fi
interop=tests/interop
if [ ! -d "$interop/node_modules/@x402/fetch" ] || [ "$interop/package-lock.json" -nt "$interop/node_modules/.package-lock.json" ]; then
  echo "setup: installing the official x402 SDK for interop tests..." >&2
  npm ci --prefix "$interop" --no-audit --no-fund --loglevel=error >&2
fi
"$anvil" --version >/dev/null || { echo "setup: anvil did not install at $anvil" >&2; exit 1; }
