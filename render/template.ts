import { TemplateSyntaxError, UnknownTemplateVariableError } from './errors.js';
import { shellQuote } from './shell-quote.js';

/**
 * Command templates, as Brenda's and Render Manager's: `blender -b $SCENE -s $START ...`.
 * `$NAME` and `${NAME}` expand to the variable's value as ONE single-quoted shell word, so a
 * scene path with spaces, quotes or `$(...)` stays data. `$$` is a literal `$`; a `$` not
 * followed by a name (`$1`, `$(`) is kept as written, since the template is the user's own
 * shell text. An unknown name is an error that lists the known ones.
 */

/**
 * A value known only on the worker (the task's slot count): a fixed, trusted shell expression
 * built by qfarm itself, never from user input. Written into the command unquoted.
 */
export class RuntimeShellValue {
  constructor(readonly shell: string) {}
  toString(): string {
    return this.shell;
  }
}

export type TemplateValue = string | RuntimeShellValue;
export type TemplateVariables = Readonly<Record<string, TemplateValue>>;

type Piece = { kind: 'text'; text: string } | { kind: 'var'; name: string; offset: number };

const NAME_START = /[A-Za-z_]/;
const NAME_CHAR = /[A-Za-z0-9_]/;

function parse(template: string): Piece[] {
  const pieces: Piece[] = [];
  let text = '';
  let i = 0;
  while (i < template.length) {
    const c = template[i]!;
    if (c !== '$') {
      text += c;
      i++;
      continue;
    }
    const next = template[i + 1];
    if (next === '$') {
      text += '$';
      i += 2;
      continue;
    }
    if (next === '{') {
      const close = template.indexOf('}', i + 2);
      if (close < 0) throw new TemplateSyntaxError(template, i, 'unclosed ${');
      const name = template.slice(i + 2, close);
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
        throw new TemplateSyntaxError(template, i, `\${${name}} is not a variable name`);
      }
      if (text) pieces.push({ kind: 'text', text });
      text = '';
      pieces.push({ kind: 'var', name, offset: i });
      i = close + 1;
      continue;
    }
    if (next !== undefined && NAME_START.test(next)) {
      let end = i + 2;
      while (end < template.length && NAME_CHAR.test(template[end]!)) end++;
      if (text) pieces.push({ kind: 'text', text });
      text = '';
      pieces.push({ kind: 'var', name: template.slice(i + 1, end), offset: i });
      i = end;
      continue;
    }
    text += c;
    i++;
  }
  if (text) pieces.push({ kind: 'text', text });
  return pieces;
}

/** Names the template refers to, in order of first use. Throws on malformed templates. */
export function templateVariableNames(template: string): string[] {
  const names: string[] = [];
  for (const piece of parse(template)) {
    if (piece.kind === 'var' && !names.includes(piece.name)) names.push(piece.name);
  }
  return names;
}

/** Throws UnknownTemplateVariableError for the first name not in `known`. */
export function checkTemplateVariables(template: string, known: readonly string[]): void {
  for (const name of templateVariableNames(template)) {
    if (!known.includes(name)) throw new UnknownTemplateVariableError(name, [...known].sort(), template);
  }
}

/** Expands the template; every value becomes one quoted word (runtime values excepted). */
export function expandTemplate(template: string, variables: TemplateVariables): string {
  let out = '';
  for (const piece of parse(template)) {
    if (piece.kind === 'text') {
      out += piece.text;
      continue;
    }
    const value = Object.prototype.hasOwnProperty.call(variables, piece.name) ? variables[piece.name] : undefined;
    if (value === undefined) {
      throw new UnknownTemplateVariableError(piece.name, Object.keys(variables).sort(), template);
    }
    out += value instanceof RuntimeShellValue ? value.shell : shellQuote(value);
  }
  return out;
}
