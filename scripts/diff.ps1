# Show what a stage changes: the diff between stage NN and the stage it builds on (its base,
# named in the header of its main.cpp: "Base: stage MM"). The Windows twin of scripts/diff.sh.
#
#   scripts\diff.ps1 07            stages\05_iocp_basics -> stages\07_iocp_server
#   scripts\diff.ps1 07 --stat     any further arguments go to git diff
#   scripts\diff.ps1 linux/08      a Linux twin against its Windows twin ("Twin of: stage MM")
#
# Exit code: 0 whatever the diff holds; 2 when the stage is unknown.
#
# git's failure is told by $LASTEXITCODE, not by $ErrorActionPreference = "Stop": Windows
# PowerShell 5.1 turns the first stderr line of a native program into a terminating error when
# the caller redirects this script's output (PowerShell issues #3996 and #4002; 7.2 changed it).

function Show-Usage {
    [Console]::Error.WriteLine("usage: scripts\diff.ps1 NN|linux/NN [git diff options]")
    exit 2
}

if ($args.Count -lt 1) { Show-Usage }
# As text: PowerShell passes an unquoted 07 as the number 7.
$stage = [string]$args[0]
$gitArgs = @($args | Select-Object -Skip 1)

if ($stage -match '^linux/(\d{1,2})$') {
    $number = '{0:D2}' -f [int]$Matches[1]
    $parent = "stages/linux"
    $pattern = 'Twin of: stage (\d\d)'
} elseif ($stage -match '^\d{1,2}$') {
    $number = '{0:D2}' -f [int]$stage
    $parent = "stages"
    $pattern = 'Base: stage (\d\d)'
} else {
    Show-Usage
}

# -LiteralPath: a folder name with [ or ] is a name, not a wildcard. Pop-Location in finally:
# the caller's shell is back where it was, whatever happens here.
Push-Location -LiteralPath (Split-Path -Parent $PSScriptRoot) -ErrorAction Stop
try {
    $code = 0
    $folder = @(Get-ChildItem -Directory $parent -Filter "${number}_*" -ErrorAction SilentlyContinue)
    if ($folder.Count -eq 0) {
        [Console]::Error.WriteLine("no stage $stage in stages/")
        $code = 2
    } else {
        $folder = $folder[0]
        $header = (Get-Content -LiteralPath (Join-Path $folder.FullName "main.cpp") -TotalCount 12) -join "`n"
        if ($header -notmatch $pattern) {
            Write-Host "$($folder.Name)\main.cpp names no base (it is the first stage)"
        } else {
            $base = @(Get-ChildItem -Directory "stages" -Filter "$($Matches[1])_*")[0]
            if ($stage -like 'linux/*') {
                $old = "stages/$($base.Name)/main.cpp"
                $new = "stages/linux/$($folder.Name)/main.cpp"
            } else {
                $old = "stages/$($base.Name)"
                $new = "stages/$($folder.Name)"
            }
            [Console]::Error.WriteLine("# $new against its base $old")
            git diff --no-index @gitArgs $old $new
            # git diff --no-index exits 1 when the files differ: that is the expected case here.
            if ($LASTEXITCODE -gt 1) { $code = 2 }
        }
    }
} finally {
    Pop-Location
}
exit $code
