# Windows: build and run one stage in the foreground on port 8080 (Ctrl+C stops it).
#
#   scripts\run.ps1                 the final IOCP server, stage 07
#   scripts\run.ps1 01              stage 01
#   scripts\run.ps1 01 --port 0     stage 01 with its own arguments
#   $env:PRESET = "windows-mingw"   before any of these, to build with MinGW-w64
$ErrorActionPreference = "Stop"
$Preset = if ($env:PRESET) { $env:PRESET } else { "windows-msvc" }
Set-Location (Split-Path -Parent $PSScriptRoot)

$stage = "07"
$stageArgs = @($args)
if ($stageArgs.Count -gt 0 -and $stageArgs[0] -match '^\d\d$') {
    $stage = $stageArgs[0]
    $stageArgs = @($stageArgs | Select-Object -Skip 1)
}

cmake --preset $Preset
if ($LASTEXITCODE) { exit $LASTEXITCODE }
cmake --build --preset $Preset
if ($LASTEXITCODE) { exit $LASTEXITCODE }

$exes = @(Get-ChildItem "build/$Preset/bin/stage${stage}_*.exe")
if ($exes.Count -eq 0) { Write-Error "no stage $stage built in build/$Preset/bin"; exit 2 }
$exe = $exes[-1].FullName
Write-Host "==> running $exe $stageArgs (Ctrl+C to stop)"
& $exe @stageArgs
exit $LASTEXITCODE
