# Windows: build everything and run every test (Catch2 through CTest, then pytest).
#
#   From a Developer PowerShell for Visual Studio (MSVC, the default):
#     scripts\test.ps1
#   With MinGW-w64 g++ and Ninja on PATH (MSYS2 or WinLibs):
#     $env:PRESET = "windows-mingw"; scripts\test.ps1
#
# Needs CMake 3.21+, Ninja (Visual Studio ships both) and Python 3 with pytest
# (py -m pip install pytest pytest-timeout). Catch2 v3 is fetched by CMake when not installed.
# Arguments go to pytest, e.g.  scripts\test.ps1 --stage 01
$ErrorActionPreference = "Stop"
$Preset = if ($env:PRESET) { $env:PRESET } else { "windows-msvc" }
Set-Location (Split-Path -Parent $PSScriptRoot)

cmake --preset $Preset
if ($LASTEXITCODE) { exit $LASTEXITCODE }
cmake --build --preset $Preset
if ($LASTEXITCODE) { exit $LASTEXITCODE }

$status = 0
ctest --preset $Preset
if ($LASTEXITCODE) { $status = 1 }
py -m pytest tests --build-dir "build/$Preset" @args
if ($LASTEXITCODE) { $status = 1 }
exit $status
