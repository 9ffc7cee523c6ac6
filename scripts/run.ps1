# Windows: build and run one stage in the foreground on port 8080 (Ctrl+C stops it).
#
#   scripts\run.ps1                 the final IOCP server, stage 07
#   scripts\run.ps1 01              stage 01
#   scripts\run.ps1 01 --port 0     stage 01 with its own arguments
#   $env:PRESET = "windows-mingw"   before any of these, to build with MinGW-w64
#
# Ctrl+C reaches every program of the console: the stage stops cleanly (it says so, and ends
# with 0), and PowerShell stops this script as well, so the exit code you get is PowerShell's
# for an interrupted script, not the stage's. Run the .exe in build\<preset>\bin yourself for
# the stage's own exit code; do not capture this script's output (| Tee-Object, a pipe, a
# variable): PowerShell then ends the stage as it stops the pipeline, with no clean stop.
# Otherwise the exit code is the stage's (its --help, its bad arguments), the build's when the
# build fails, or 2 with a usage line when the script cannot start the stage asked for.
#
# Failures of cmake are told by $LASTEXITCODE, not by $ErrorActionPreference = "Stop": Windows
# PowerShell 5.1 turns the first stderr line of a native program into a terminating error when
# the caller redirects this script's output (PowerShell issues #3996 and #4002; 7.2 changed it).
$Preset = if ($env:PRESET) { $env:PRESET } else { "windows-msvc" }

function Write-Usage($message) {
    [Console]::Error.WriteLine("run.ps1: $message")
    [Console]::Error.WriteLine("usage: scripts\run.ps1 [NN] [stage arguments...]  (NN: default 07)")
}

function Stop-WithUsage($message) {
    Write-Usage $message
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

# -LiteralPath: a folder name with [ or ] is a name, not a wildcard. Pop-Location in finally:
# the caller's shell is back where it was, whatever happens here.
Push-Location -LiteralPath (Split-Path -Parent $PSScriptRoot) -ErrorAction Stop
try {
    $code = 0
    cmake --preset $Preset
    if ($LASTEXITCODE) { $code = $LASTEXITCODE }
    if ($code -eq 0) {
        cmake --build --preset $Preset
        if ($LASTEXITCODE) { $code = $LASTEXITCODE }
    }
    if ($code -eq 0) {
        $exes = @(Get-ChildItem -Path "build/$Preset/bin" -Filter "stage${stage}_*.exe" -ErrorAction SilentlyContinue)
        if ($exes.Count -eq 0) {
            Write-Usage "no stage $stage in build/$Preset/bin"
            $code = 2
        } else {
            $exe = $exes[-1].FullName
            Write-Host "==> running $exe $stageArgs (Ctrl+C to stop)"
            & $exe @stageArgs
            $code = $LASTEXITCODE
        }
    }
} finally {
    Pop-Location
}
exit $code
