#!/usr/bin/env bash
# Build the .NET-style tokengate test client with mono's C# compiler.
#   usage: .ci/clients/dotnet/build.sh OUT_DIR      -> OUT_DIR/TokenClient.exe
# Needs Debian's mono (install step, as root):
#   apt-get install -y --no-install-recommends mono-mcs mono-runtime \
#     libmono-system-runtime-serialization4.0-cil libmono-system-net-http4.0-cil \
#     libmono-system-xml4.0-cil
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:-}"
if [ -z "$out" ]; then
    echo "usage: $0 OUT_DIR" >&2
    exit 64
fi

if ! command -v mcs >/dev/null 2>&1; then
    echo "build.sh: ERROR: 'mcs' (mono C# compiler) not found on PATH." >&2
    echo "build.sh: install it with: apt-get install -y --no-install-recommends mono-mcs mono-runtime libmono-system-runtime-serialization4.0-cil libmono-system-net-http4.0-cil libmono-system-xml4.0-cil" >&2
    exit 2
fi
if ! command -v mono >/dev/null 2>&1; then
    echo "build.sh: WARNING: 'mono' runtime not found; TokenClient.exe will build but cannot run (apt-get install mono-runtime)." >&2
fi

mkdir -p "$out"
mcs -nologo -langversion:7 -target:exe -warnaserror+ \
    -r:System.Runtime.Serialization.dll -r:System.Net.Http.dll -r:System.Xml.dll \
    -out:"$out/TokenClient.exe" "$here/TokenClient.cs"
echo "build.sh: built $out/TokenClient.exe"
