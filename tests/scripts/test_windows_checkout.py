"""A Windows checkout gives every file the bytes the repository holds: .gitattributes keeps
git's core.autocrlf=true (a common Windows setting) from turning LF into CRLF in stage 09's
www/ files, which the server sends byte for byte, and in everything else."""

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def git(*args, **kwargs):
    return subprocess.run(["git", *args], cwd=REPO, check=True, capture_output=True, **kwargs)


def test_a_checkout_with_autocrlf_gives_every_file_its_bytes(tmp_path):
    files = git("ls-files", "-z").stdout.decode().split("\0")[:-1]
    assert "stages/09_http_server/www/index.html" in files
    # What a clone on Windows writes, from the index, with the attributes of the work tree.
    git("-c", "core.autocrlf=true", "checkout-index", f"--prefix={tmp_path}/", "--", *files)
    changed = [name for name in files
               if (tmp_path / name).read_bytes() != git("cat-file", "blob", f":{name}").stdout]
    assert changed == [], f"a Windows checkout changes: {', '.join(changed)}"
