# Show what a stage changes: the diff between stage NN and the stage it builds on (its base,
# named in the header of its main.cpp: "Base: stage MM"). The Windows twin of scripts/diff.sh.
#
#   scripts\diff.ps1 07            stages\05_iocp_basics -> stages\07_iocp_server
#   scripts\diff.ps1 07 --stat     any further arguments go to git diff
#   scripts\diff.ps1 linux/08      a Linux twin against its Windows twin ("Twin of: stage MM")
#
# Exit code: 0 whatever the diff holds; 2 when the stage is unknown.
$ErrorActionPreference = "Stop"
Set-Location (Split-Path -Parent $PSScriptRoot)

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
    $folder = @(Get-ChildItem -Directory "stages/linux" -Filter "${number}_*" -ErrorAction SilentlyContinue)
    $pattern = 'Twin of: stage (\d\d)'
} elseif ($stage -match '^\d{1,2}$') {
    $number = '{0:D2}' -f [int]$stage
    $folder = @(Get-ChildItem -Directory "stages" -Filter "${number}_*")
    $pattern = 'Base: stage (\d\d)'
} else {
    Show-Usage
}
if ($folder.Count -eq 0) {
    [Console]::Error.WriteLine("no stage $stage in stages/")
    exit 2
}
$folder = $folder[0]

$header = (Get-Content (Join-Path $folder.FullName "main.cpp") -TotalCount 12) -join "`n"
if ($header -notmatch $pattern) {
    Write-Host "$($folder.Name)\main.cpp names no base (it is the first stage)"
    exit 0
}
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
if ($LASTEXITCODE -gt 1) { exit 2 }
exit 0
