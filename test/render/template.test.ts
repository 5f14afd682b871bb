import { execFileSync } from 'node:child_process';
import t from 'tap';
import { TemplateSyntaxError, UnknownTemplateVariableError } from '../../render/errors.js';
import { shellQuote } from '../../render/shell-quote.js';
import { RuntimeShellValue, checkTemplateVariables, expandTemplate, templateVariableNames } from '../../render/template.js';

/** Runs a command line in a real sh and returns the words it received, one per line. */
function wordsSeenByShell(commandLine: string): string[] {
  const out = execFileSync('/bin/sh', ['-c', `printf '%s\\n' ${commandLine}`], { encoding: 'utf8' });
  return out.split('\n').slice(0, -1);
}

const HOSTILE = [
  "/scenes/my shot's v2.blend",
  'a b\tc',
  '$(touch /tmp/qfarm-pwned)',
  '`id`',
  '"; rm -rf / #',
  "it's",
  "''",
  '\\',
  'line1\nline2',
  '',
  '*',
  '$HOME',
  'ünïcødé ✓',
];

t.test('shellQuote makes every value one literal word for sh', async (t) => {
  for (const value of HOSTILE) {
    t.same(wordsSeenByShell(shellQuote(value)), value.split('\n').length > 1 ? value.split('\n') : [value], JSON.stringify(value));
  }
  // Newline values come back as two printf lines but one argv word: check via $#.
  const count = execFileSync('/bin/sh', ['-c', `set -- ${shellQuote('line1\nline2')}; echo $#`], { encoding: 'utf8' }).trim();
  t.equal(count, '1');
});

t.test('$NAME and ${NAME} expand to quoted values; text stays as written', async (t) => {
  const vars = { SCENE: "/s/my shot's.blend", START: '1', OUTDIR: '/out dir' };
  t.equal(expandTemplate('render $SCENE -s $START -o ${OUTDIR}/f_#####', vars), `render '/s/my shot'\\''s.blend' -s '1' -o '/out dir'/f_#####`);
  t.same(wordsSeenByShell(expandTemplate('$SCENE ${OUTDIR}/frame_## x$START', vars)), ["/s/my shot's.blend", '/out dir/frame_##', 'x1']);
});

t.test('hostile values never run: the shell sees exactly the value', async (t) => {
  for (const value of HOSTILE.filter((v) => !v.includes('\n'))) {
    t.same(wordsSeenByShell(expandTemplate('$V', { V: value })), [value], JSON.stringify(value));
  }
});

t.test('$$ is a literal dollar; a $ before a non-name is kept', async (t) => {
  t.equal(expandTemplate('cost $$5 and $1 and $(date) ${A}x', { A: 'a' }), "cost $5 and $1 and $(date) 'a'x");
});

t.test('runtime values are written unquoted (they are qfarm-built shell expressions)', async (t) => {
  t.equal(expandTemplate('-t $CPU', { CPU: new RuntimeShellValue('"${NSLOTS:-0}"') }), '-t "${NSLOTS:-0}"');
});

t.test('unknown variables name the variable and list the known ones', async (t) => {
  const err = t.throws(() => expandTemplate('blender -s $START -e $ENDD', { START: '1', END: '2' })) as UnknownTemplateVariableError;
  t.type(err, UnknownTemplateVariableError);
  t.equal(err.variable, 'ENDD');
  t.match(err.message, /unknown variable \$ENDD/);
  t.match(err.message, /known variables: \$END \$START/);
  t.match(err.hint, /-P ENDD=VALUE/);
  t.throws(() => checkTemplateVariables('x $A_B', ['A']), UnknownTemplateVariableError);
  // A name runs as far as name characters go: $OUTDIR_x is OUTDIR_x, ${OUTDIR}_x is not.
  t.throws(() => expandTemplate('$OUTDIR_x', { OUTDIR: '/o' }), { variable: 'OUTDIR_x' });
  t.equal(expandTemplate('${OUTDIR}_x', { OUTDIR: '/o' }), "'/o'_x");
});

t.test('malformed ${...} is a syntax error with its position', async (t) => {
  t.throws(() => expandTemplate('a ${B', {}), TemplateSyntaxError);
  t.throws(() => expandTemplate('a ${}', {}), /is not a variable name at character 3/);
  t.throws(() => expandTemplate('a ${B C}', {}), TemplateSyntaxError);
});

t.test('templateVariableNames lists names once, in order', async (t) => {
  t.same(templateVariableNames('$B ${A} $B $$C'), ['B', 'A']);
});

t.test('own properties only: prototype names are unknown variables', async (t) => {
  t.throws(() => expandTemplate('$constructor', {}), UnknownTemplateVariableError);
});
