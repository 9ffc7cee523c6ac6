# Windows: build and run one stage in the foreground on port 8080 (Ctrl+C stops it).
#
#   scripts\run.ps1                 the final IOCP server, stage 07
#   scripts\run.ps1 01              stage 01
#   scripts\run.ps1 01 --port 0     stage 01 with its own arguments
#   $env:PRESET = "windows-mingw"   before any of these, to build with MinGW-w64
#
# The exit code is the stage's (0 after Ctrl+C), or 2 with a usage line when the script cannot
# start the stage asked for, as for a stage's own bad arguments.
$ErrorActionPreference = "Stop"
$Preset = if ($env:PRESET) { $env:PRESET } else { "windows-msvc" }
Set-Location (Split-Path -Parent $PSScriptRoot)

# Not Write-Error: under ErrorActionPreference Stop it would end the script with exit code 1.
function Stop-WithUsage($message) {
    [Console]::Error.WriteLine("run.ps1: $message")
    [Console]::Error.WriteLine("usage: scripts\run.ps1 [NN] [stage arguments...]  (NN: default 07)")
    exit 2
}

$stage = "07"
$stageArgs = @($args)
if ($stageArgs.Count -gt 0) {
    # PowerShell passes an unquoted 01 as the number 1 (about_Parsing: `Write-Output 2` passes
    # "2 (integer)"), which "stage$x" spells 1; so the first argument is taken as text and a
    # stage number is written out again with two digits.
    # https://learn.microsoft.com/en-us/powershell/module/microsoft.powershell.core/about/about_parsing
    $first = "$($stageArgs[0])"
    if ($first -match '^linux/') {
        Stop-WithUsage "$first names a Linux twin (stages/linux/): the Linux twins run on Linux only"
    }
    if ($first -match '^\d{1,2}$') {
        $stage = '{0:D2}' -f [int]$first
        $stageArgs = @($stageArgs | Select-Object -Skip 1)
    }
}

cmake --preset $Preset
if ($LASTEXITCODE) { exit $LASTEXITCODE }
cmake --build --preset $Preset
if ($LASTEXITCODE) { exit $LASTEXITCODE }

$exes = @(Get-ChildItem "build/$Preset/bin/stage${stage}_*.exe" -ErrorAction SilentlyContinue)
if ($exes.Count -eq 0) { Stop-WithUsage "no stage $stage in build/$Preset/bin" }
$exe = $exes[-1].FullName
Write-Host "==> running $exe $stageArgs (Ctrl+C to stop)"
& $exe @stageArgs
exit $LASTEXITCODE
