#!/usr/bin/env bash
# Publishes akka-tcp-transfer as one self-contained file (no .NET needed where it runs).
#   tools/publish.sh [RID]        RID: linux-x64 (default), linux-arm64, osx-arm64, win-x64, ...
# The program lands in artifacts/<RID>/akka-tcp-transfer (akka-tcp-transfer.exe on Windows).
set -euo pipefail
cd "$(dirname "$0")/.."
rid="${1:-linux-x64}"
dotnet publish src/AkkaTcpTransfer.Cli/AkkaTcpTransfer.Cli.csproj -c Release -r "$rid" --self-contained \
  -p:PublishSingleFile=true -p:IncludeNativeLibrariesForSelfExtract=true -p:PackAsTool=false \
  -o "artifacts/$rid"
echo "published: artifacts/$rid/$(ls "artifacts/$rid" | grep -E '^akka-tcp-transfer(\.exe)?$')"
