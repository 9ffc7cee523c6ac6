// Checks PowerShell scripts for what would break them on Windows PowerShell 5.1, the shell every
// Windows machine has (scripts/check_windows.sh runs it; no PowerShell runs on this machine):
//   - the script parses: tree-sitter's PowerShell grammar finds no error and no missing token
//     (an unclosed brace, a stray quote);
//   - no operator that only PowerShell 7 knows: `&&` and `||` between commands, `??` and `??=`,
//     `?.` and `?[`, the ternary `a ? b : c` (5.1 stops at them with a parse error);
//   - plain ASCII: 5.1 reads a file without a byte-order mark in the ANSI code page, so an
//     en dash or an accented letter turns into other characters, inside strings too.
//
//   node check_powershell.mjs NODE_MODULES_DIR FILE.ps1...
// Prints one line per problem (file:line:column: what) and exits 1 when there is any.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import path from 'node:path';

const [modulesDir, ...files] = process.argv.slice(2);
if (!modulesDir || files.length === 0) {
  console.error('usage: node check_powershell.mjs NODE_MODULES_DIR FILE.ps1...');
  process.exit(2);
}
// The packages live in the build tree (npm ci there), not beside this file.
const require = createRequire(path.join(path.resolve(modulesDir), 'resolve-from-here.js'));
const { Parser, Language } = await import(require.resolve('web-tree-sitter'));
await Parser.init();
const powershell = await Language.load(
  require.resolve('tree-sitter-powershell/tree-sitter-powershell.wasm'));
const parser = new Parser();
parser.setLanguage(powershell);

// Nodes whose text is not code: what they hold may contain `??` or `&&` harmlessly.
const notCode = new Set(['comment', 'string_literal', 'expandable_string_literal',
  'verbatim_string_characters', 'expandable_here_string_literal',
  'verbatim_here_string_characters']);

// Operators PowerShell 7 added, looked for in the code with comments and strings blanked out.
// The grammar knows `&&` and `||` (as a pipeline chain) but not the others, which it reports as
// errors: the plain search names them, so the message says what to change.
const newerOperators = [
  [/\?\?=?/g, '`??` (null-coalescing) is PowerShell 7 only'],
  [/\?\.|\?\[/g, '`?.` / `?[` (null-conditional access) is PowerShell 7 only'],
  [/&&|\|\|/g, '`&&` / `||` between commands is PowerShell 7 only: test $LASTEXITCODE instead'],
  // `? {` after a pipe is Where-Object's alias, which 5.1 has: a ternary needs its ` : ` too.
  [/(?<!\|\s*)(?<=[\w$)\]'"]\s+)\?\s[^\n]*?\s:\s/g, 'the ternary `a ? b : c` is PowerShell 7 only: use if/else'],
];

let problems = 0;
function report(file, row, column, message) {
  console.log(`${file}:${row + 1}:${column + 1}: ${message}`);
  problems++;
}

for (const file of files) {
  const bytes = readFileSync(file);
  const text = bytes.toString('latin1');  // byte for byte: positions match the file's bytes

  let line = 0, column = 0;
  for (const byte of bytes) {
    if (byte > 0x7f) {
      report(file, line, column, `byte 0x${byte.toString(16)}: not ASCII (5.1 reads the file in the ANSI code page)`);
      break;  // one line per file is enough to say where to look
    }
    if (byte === 0x0a) { line++; column = 0; } else { column++; }
  }

  const tree = parser.parse(text);
  const masked = text.split('');
  const walk = (node) => {
    if (node.isMissing) {
      report(file, node.startPosition.row, node.startPosition.column, `parse error: missing \`${node.type}\``);
    } else if (node.isError) {
      const start = node.startPosition;
      report(file, start.row, start.column, `parse error near: ${node.text.split('\n')[0].slice(0, 60)}`);
      return;  // the errors nested in this one say the same again
    }
    if (notCode.has(node.type)) {
      for (let i = node.startIndex; i < node.endIndex; i++) {
        if (masked[i] !== '\n') masked[i] = ' ';
      }
      return;
    }
    for (const child of node.children) walk(child);
  };
  walk(tree.rootNode);

  const code = masked.join('');
  for (const [pattern, message] of newerOperators) {
    for (const match of code.matchAll(pattern)) {
      const before = code.slice(0, match.index);
      const row = before.split('\n').length - 1;
      report(file, row, match.index - before.lastIndexOf('\n') - 1, message);
    }
  }
}

if (problems > 0) {
  console.log(`${problems} problem(s) in the PowerShell scripts`);
  process.exit(1);
}
console.log(`${files.length} PowerShell script(s): parsed, nothing PowerShell 5.1 lacks, ASCII`);
