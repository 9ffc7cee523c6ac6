# Windows: build everything and run every test (Catch2 through CTest, then pytest).
#
#   From an x64 developer shell for Visual Studio (MSVC, the default; README, "Windows, MSVC"):
#     scripts\test.ps1
#   With MinGW-w64 g++ and Ninja on PATH (MSYS2 or WinLibs):
#     $env:PRESET = "windows-mingw"; scripts\test.ps1
#   Your own server in stage NN's place (README, "Test your own server"): only the client tests
#   of stage NN's row, against PATH; nothing is built, no unit tests run:
#     scripts\test.ps1 --exe PATH --as NN
#
# Needs CMake 3.21+, Ninja (Visual Studio ships both) and Python 3 with pytest
# (python -m pip install pytest pytest-timeout). Catch2 v3 is fetched by CMake when not installed.
# Arguments go to pytest, e.g.  scripts\test.ps1 -k half_close
# One stage (as scripts/test.sh --stage NN): builds only its program and the unit tests, runs the
# unit tests of the code it uses (CTest label stageNN) and its client tests:
#     scripts\test.ps1 --stage 01
#
# The Python that runs pytest: $env:PYTHON when set (a path, or a command on PATH), else the
# launcher's newest Python 3 (py -3), else python. The launcher is missing with the Microsoft
# Store's Python, conda and some installs, and may pick a Python without pytest: set PYTHON.
#
# Failures of cmake, ctest and Python are told by $LASTEXITCODE, not by
# $ErrorActionPreference = "Stop": Windows PowerShell 5.1 turns the first stderr line of a native
# program into a terminating error when the caller redirects this script's output (PowerShell
# issues #3996 and #4002; 7.2 changed it).
$Preset = if ($env:PRESET) { $env:PRESET } else { "windows-msvc" }

# PowerShell passes an unquoted 01 as the number 1, and 01,03 as an array of two numbers
# (about_Parsing: `Write-Output 2` passes "2 (integer)", and "commas introduce lists passed as
# arrays"), https://learn.microsoft.com/en-us/powershell/module/microsoft.powershell.core/about/about_parsing
# So the stage numbers after --stage and --as are written out again as text with two digits,
# "01,03", before they reach pytest.
function Format-Stages($value) {
    $numbers = @($value) | ForEach-Object { "$_" -split ',' }
    ($numbers | ForEach-Object { if ($_ -match '^\d{1,2}$') { '{0:D2}' -f [int]$_ } else { $_ } }) -join ','
}

# A relative --exe PATH is relative to where you are: made absolute before Push-Location below.
function Resolve-Program($path) {
    $ExecutionContext.SessionState.Path.GetUnresolvedProviderPathFromPSPath("$path")
}

$pytestArgs = @()
$stages = @()
$ownProgram = $false
for ($i = 0; $i -lt $args.Count; $i++) {
    $arg = "$($args[$i])"
    if (($arg -in '--stage', '--as', '--exe') -and ($i + 1 -lt $args.Count)) {
        $i++
        $value = if ($arg -eq '--exe') { Resolve-Program $args[$i] } else { Format-Stages $args[$i] }
        $pytestArgs += $arg, $value
        if ($arg -eq '--stage') { $stages += $value -split ',' }
    } elseif ($arg -like '--exe=*') {
        $pytestArgs += '--exe=' + (Resolve-Program $arg.Substring(6))
    } else {
        $pytestArgs += $arg
    }
    if ($arg -like '--exe*') { $ownProgram = $true }
}

if ($env:PYTHON) {
    $python = @($env:PYTHON)
} elseif (Get-Command py -ErrorAction SilentlyContinue) {
    $python = @('py', '-3')
} else {
    $python = @('python')
}
$pythonArgs = @($python | Select-Object -Skip 1)

# -LiteralPath: a folder name with [ or ] is a name, not a wildcard. Pop-Location in finally:
# the caller's shell is back where it was, whatever happens here.
Push-Location -LiteralPath (Split-Path -Parent $PSScriptRoot) -ErrorAction Stop
try {
    $status = 0
    if ($ownProgram) {
        & $python[0] @pythonArgs -m pytest tests @pytestArgs
        $status = $LASTEXITCODE
    } elseif ($stages.Count -gt 0) {
        # One stage: its program and the unit tests, the unit tests of the code it uses, and
        # its client tests without the harness's own tests (the full run has them).
        $targets = @()
        foreach ($stage in $stages) {
            $folders = @()
            if ($stage -notmatch '/') {
                $folders = @(Get-ChildItem -Directory -LiteralPath "stages" |
                             Where-Object { $_.Name -like "${stage}_*" })
            }
            if ($folders.Count -eq 0) {
                [Console]::Error.WriteLine("no stage $stage in stages (the Linux twins are tested on Linux)")
                $status = 2
                break
            }
            $targets += "stage" + $folders[0].Name
            # The test-only builds that a stage's client tests start beside it (CMakeLists.txt).
            if ($stage -eq '08') { $targets += 'stage08_async_echo_sendcap' }
            if ($stage -eq '10') { $targets += @('stage10_fast_path_unfair', 'stage10_fast_path_sendcap') }
        }
        if ($status -eq 0) {
            cmake --preset $Preset
            if ($LASTEXITCODE) { $status = $LASTEXITCODE }
        }
        if ($status -eq 0) {
            cmake --build --preset $Preset --target @targets unit_tests
            if ($LASTEXITCODE) { $status = $LASTEXITCODE }
        }
        if ($status -eq 0) {
            $labels = '^stage(' + ($stages -join '|') + ')$'
            ctest --preset $Preset '--no-tests=error' -L $labels
            if ($LASTEXITCODE) { $status = 1 }
            $clientTests = @('tests/clients', '--ignore=tests/clients/test_harness.py',
                             '--ignore=tests/clients/test_own_server.py', '--build-dir', "build/$Preset")
            & $python[0] @pythonArgs -m pytest @clientTests @pytestArgs
            if ($LASTEXITCODE) { $status = 1 }
        }
    } else {
        cmake --preset $Preset
        if ($LASTEXITCODE) { $status = $LASTEXITCODE }
        if ($status -eq 0) {
            cmake --build --preset $Preset
            if ($LASTEXITCODE) { $status = $LASTEXITCODE }
        }
        if ($status -eq 0) {
            ctest --preset $Preset
            if ($LASTEXITCODE) { $status = 1 }
            & $python[0] @pythonArgs -m pytest tests --build-dir "build/$Preset" @pytestArgs
            if ($LASTEXITCODE) { $status = 1 }
        }
    }
} finally {
    Pop-Location
}
exit $status
