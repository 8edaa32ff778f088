/**
 * Reads the database DSNs of a civicrm.settings.php without running PHP.
 *
 * CiviCRM 6.x's template (Standalone, WordPress, Drupal, Backdrop, Joomla alike) defines them
 * inside conditions:
 *
 *   if (!defined('CIVICRM_UF_DSN') && CIVICRM_UF !== 'UnitTests') {
 *     define('CIVICRM_UF_DSN', 'mysql://...');
 *   }
 *   if (!defined('CIVICRM_DSN')) {
 *     if (CIVICRM_UF === 'UnitTests') {
 *       if (isset($GLOBALS['_CV']['TEST_DB_DSN'])) define('CIVICRM_DSN', $GLOBALS['_CV']['TEST_DB_DSN']);
 *       ...
 *     } else {
 *       define('CIVICRM_DSN', 'mysql://...');
 *     }
 *   }
 *   if (!defined('CIVICRM_LOGGING_DSN')) define('CIVICRM_LOGGING_DSN', CIVICRM_DSN);
 *
 * So the file is walked statement by statement, as PHP would run it on a live site: if /
 * elseif / else chains are followed where their conditions can be decided without running
 * anything (`defined('X')`, `CIVICRM_UF === 'UnitTests'`, which is false on a site that is
 * not running CiviCRM's own test suite, and !, &&, ||, and, or of those), the first define()
 * of a constant wins (as in PHP), and a value counts when it is a quoted string, a
 * concatenation of them, or another constant read this way. A DSN that PHP computes at run
 * time (getenv(), a variable, a function call), or one defined only under a condition that
 * depends on the running site, is a CONFIG error saying how to pass the DSN instead.
 */
import { readFile } from 'node:fs/promises';
import { ENV } from '../../protocol/job.js';
import { BackupError } from '../core/errors.js';

// --- tokens ---

type TokenType = 'string' | 'interpolated' | 'name' | 'variable' | 'number' | 'punct' | 'end';

interface Token {
  type: TokenType;
  /** The unescaped value of a string; the text of anything else. */
  text: string;
  line: number;
}

const PUNCTUATION = ['===', '!==', '<=>', '**=', '...', '<<=', '>>=', '??=', '==', '!=', '<>', '<=', '>=', '&&', '||', '->', '=>', '::', '++', '--', '.=', '+=', '-=', '*=', '/=', '%=', '&=', '|=', '^=', '??', '<<', '>>'];

/** PHP source to tokens, dropping comments and inline HTML (outside <?php ... ?>). */
export function tokenizePhp(php: string): Token[] {
  const tokens: Token[] = [];
  let line = 1;
  let i = 0;
  const advanceTo = (j: number): void => {
    for (let k = i; k < j; k++) if (php.charCodeAt(k) === 10) line++;
    i = j;
  };
  const skipHtml = (): void => {
    const open = php.indexOf('<?php', i);
    advanceTo(open < 0 ? php.length : open + 5);
  };
  skipHtml();
  while (i < php.length) {
    const c = php[i];
    const start = line;
    if (/\s/.test(c)) {
      advanceTo(i + 1);
    } else if (c === '?' && php[i + 1] === '>') {
      tokens.push({ type: 'punct', text: ';', line: start });
      advanceTo(i + 2);
      skipHtml();
    } else if (c === '/' && php[i + 1] === '*') {
      const end = php.indexOf('*/', i + 2);
      advanceTo(end < 0 ? php.length : end + 2);
    } else if ((c === '/' && php[i + 1] === '/') || (c === '#' && php[i + 1] !== '[')) {
      // A line comment ends at the newline or at ?>.
      let j = i;
      while (j < php.length && php[j] !== '\n' && !(php[j] === '?' && php[j + 1] === '>')) j++;
      advanceTo(j);
    } else if (c === "'") {
      let j = i + 1;
      let value = '';
      while (j < php.length && php[j] !== "'") {
        if (php[j] === '\\' && (php[j + 1] === "'" || php[j + 1] === '\\')) {
          value += php[j + 1];
          j += 2;
        } else {
          value += php[j];
          j += 1;
        }
      }
      tokens.push({ type: 'string', text: value, line: start });
      advanceTo(j + 1);
    } else if (c === '"') {
      let j = i + 1;
      let interpolated = false;
      while (j < php.length && php[j] !== '"') {
        if (php[j] === '\\') j += 2;
        else {
          if (php[j] === '$' && /[A-Za-z_{]/.test(php[j + 1] ?? '')) interpolated = true;
          if (php[j] === '{' && php[j + 1] === '$') interpolated = true;
          j += 1;
        }
      }
      const raw = php.slice(i + 1, j);
      tokens.push(interpolated ? { type: 'interpolated', text: raw, line: start } : { type: 'string', text: unescapeDoubleQuoted(raw), line: start });
      advanceTo(j + 1);
    } else if (c === '<' && php.startsWith('<<<', i)) {
      // Heredoc / nowdoc: its text is never a value this reader accepts; skip to its end marker.
      const header = /^<<<[ \t]*(['"]?)([A-Za-z_]\w*)\1\r?\n/.exec(php.slice(i));
      if (!header) {
        tokens.push({ type: 'punct', text: '<<', line: start });
        advanceTo(i + 2);
        continue;
      }
      const end = new RegExp(`\\n[ \\t]*${header[2]}\\b`, 'g');
      end.lastIndex = i + header[0].length - 1;
      const m = end.exec(php);
      tokens.push({ type: 'interpolated', text: '<<<heredoc', line: start });
      advanceTo(m ? m.index + m[0].length : php.length);
    } else if (c === '$' && /[A-Za-z_]/.test(php[i + 1] ?? '')) {
      const m = /^\$[A-Za-z_]\w*/.exec(php.slice(i, i + 256));
      tokens.push({ type: 'variable', text: m![0], line: start });
      advanceTo(i + m![0].length);
    } else if (/[A-Za-z_\\]/.test(c)) {
      const m = /^\\?[A-Za-z_][\w]*(?:\\[A-Za-z_]\w*)*/.exec(php.slice(i, i + 512));
      if (!m) {
        tokens.push({ type: 'punct', text: c, line: start });
        advanceTo(i + 1);
        continue;
      }
      tokens.push({ type: 'name', text: m[0], line: start });
      advanceTo(i + m[0].length);
    } else if (/[0-9]/.test(c)) {
      const m = /^[0-9][\w.]*/.exec(php.slice(i, i + 128));
      tokens.push({ type: 'number', text: m![0], line: start });
      advanceTo(i + m![0].length);
    } else {
      const op = PUNCTUATION.find((p) => php.startsWith(p, i)) ?? c;
      tokens.push({ type: 'punct', text: op, line: start });
      advanceTo(i + op.length);
    }
  }
  tokens.push({ type: 'end', text: '', line });
  return tokens;
}

function unescapeDoubleQuoted(s: string): string {
  const simple: Record<string, string> = { n: '\n', t: '\t', r: '\r', v: '\v', f: '\f', e: '\x1b', '\\': '\\', $: '$', '"': '"' };
  return s.replace(/\\([ntrvfe\\$"])/g, (_m, c: string) => simple[c]);
}

// --- what a constant holds, and whether the walk knows it ---

/** Three-valued: does this run on a live site? */
type Truth = true | false | 'unknown';

const not3 = (a: Truth): Truth => (a === 'unknown' ? a : !a);
const and3 = (a: Truth, b: Truth): Truth => (a === false || b === false ? false : a === true && b === true ? true : 'unknown');
const or3 = (a: Truth, b: Truth): Truth => (a === true || b === true ? true : a === false && b === false ? false : 'unknown');

/** A value PHP would give a constant: a string known now, or why it is not. */
type Value = { known: true; text: string } | { known: false; why: string };

interface Definition {
  /** 'yes': defined whenever the file runs; 'maybe': only under a condition the reader cannot decide. */
  defined: 'yes' | 'maybe';
  value: Value;
  line: number;
  /** The constant the value was given as, when it was one (define('CIVICRM_LOGGING_DSN', CIVICRM_DSN)). */
  alias?: string;
  /** For 'maybe': the condition's text and line, for the message. */
  condition?: string;
}

class SettingsWalker {
  private pos = 0;
  readonly constants = new Map<string, Definition>();

  constructor(private readonly tokens: Token[]) {}

  walk(): void {
    while (this.peek().type !== 'end') this.statement(true, undefined);
  }

  private peek(offset = 0): Token {
    return this.tokens[Math.min(this.pos + offset, this.tokens.length - 1)];
  }

  private next(): Token {
    const t = this.peek();
    if (t.type !== 'end') this.pos += 1;
    return t;
  }

  private isPunct(text: string, offset = 0): boolean {
    const t = this.peek(offset);
    return t.type === 'punct' && t.text === text;
  }

  private isName(word: string, offset = 0): boolean {
    const t = this.peek(offset);
    return t.type === 'name' && t.text.toLowerCase() === word;
  }

  /** The tokens between a '(' at the cursor and its matching ')', both consumed. */
  private parenthesised(): Token[] {
    if (!this.isPunct('(')) return [];
    return this.balanced('(', ')');
  }

  private balanced(open: string, close: string): Token[] {
    this.next();
    const inner: Token[] = [];
    let depth = 1;
    while (this.peek().type !== 'end') {
      const t = this.next();
      if (t.type === 'punct' && t.text === open) depth++;
      else if (t.type === 'punct' && t.text === close && --depth === 0) return inner;
      inner.push(t);
    }
    return inner;
  }

  /**
   * One statement. `runs`: whether it runs on a live site; `condition`: the text of the
   * undecidable condition when runs is 'unknown'.
   */
  private statement(runs: Truth, condition: string | undefined): void {
    const t = this.peek();
    if (t.type === 'end') return;
    if (t.type === 'punct' && t.text === '{') {
      this.next();
      while (!this.isPunct('}') && this.peek().type !== 'end') this.statement(runs, condition);
      this.next();
      return;
    }
    if (t.type === 'punct' && t.text === ';') {
      this.next();
      return;
    }
    if (this.isName('if')) return this.ifChain(runs, condition);
    if (t.type === 'name' && /^(function|class|interface|trait|enum|abstract|final|readonly)$/i.test(t.text) && !this.isPunct('(', 1)) {
      // A declaration: its body runs only when called, which the reader cannot know.
      const header: Token[] = [];
      while (!this.isPunct('{') && !this.isPunct(';') && this.peek().type !== 'end') header.push(this.next());
      if (this.isPunct('{')) this.statement(and3(runs, 'unknown'), condition ?? `the code of ${render(header)}, which runs only when called`);
      else this.next();
      return;
    }
    if (t.type === 'name' && /^(foreach|for|while|switch|declare)$/i.test(t.text)) {
      const word = this.next().text.toLowerCase();
      const header = this.parenthesised();
      const why = `${word} (${render(header)})`;
      if (this.isPunct(':')) {
        this.next();
        const endWord = `end${word}`;
        while (!this.isName(endWord) && this.peek().type !== 'end') this.statement(and3(runs, 'unknown'), condition ?? why);
        this.next();
        if (this.isPunct(';')) this.next();
      } else {
        this.statement(and3(runs, 'unknown'), condition ?? why);
      }
      return;
    }
    if (this.isName('do')) {
      this.next();
      this.statement(runs, condition);
      if (this.isName('while')) {
        this.next();
        this.parenthesised();
      }
      if (this.isPunct(';')) this.next();
      return;
    }
    if (this.isName('try')) {
      this.next();
      this.statement(runs, condition);
      while (this.isName('catch')) {
        this.next();
        const header = this.parenthesised();
        this.statement(and3(runs, 'unknown'), condition ?? `catch (${render(header)})`);
      }
      if (this.isName('finally')) {
        this.next();
        this.statement(runs, condition);
      }
      return;
    }
    this.simpleStatement(runs, condition);
  }

  private ifChain(runs: Truth, condition: string | undefined): void {
    // noneTaken: no earlier branch of this chain was taken.
    let noneTaken: Truth = true;
    let first = true;
    for (;;) {
      let branch: Truth;
      let text: string;
      if (first || this.isName('elseif') || (this.isName('else') && this.isName('if', 1))) {
        if (!first && this.isName('else')) this.next();
        this.next();
        const cond = this.parenthesised();
        const value = this.condition(cond);
        text = `if (${render(cond)})`;
        branch = and3(noneTaken, value);
        noneTaken = and3(noneTaken, not3(value));
      } else if (this.isName('else')) {
        this.next();
        branch = noneTaken;
        text = 'else';
        noneTaken = false;
      } else {
        return;
      }
      first = false;
      const bodyRuns = and3(runs, branch);
      const bodyCondition = condition ?? (bodyRuns === 'unknown' ? text : undefined);
      if (this.isPunct(':')) {
        // Alternative syntax: if (...): ... elseif (...): ... else: ... endif;
        this.next();
        while (!this.isName('elseif') && !this.isName('else') && !this.isName('endif') && this.peek().type !== 'end') this.statement(bodyRuns, bodyCondition);
        if (this.isName('endif')) {
          this.next();
          if (this.isPunct(';')) this.next();
          return;
        }
      } else {
        this.statement(bodyRuns, bodyCondition);
      }
    }
  }

  /** Tokens up to ';' at depth 0; acts on define() when the statement is one. */
  private simpleStatement(runs: Truth, condition: string | undefined): void {
    const tokens: Token[] = [];
    let depth = 0;
    while (this.peek().type !== 'end') {
      const t = this.peek();
      if (t.type === 'punct' && depth === 0 && (t.text === ';' || t.text === '}')) break;
      this.next();
      if (t.type === 'punct' && (t.text === '(' || t.text === '[' || t.text === '{')) depth++;
      if (t.type === 'punct' && (t.text === ')' || t.text === ']' || t.text === '}')) depth--;
      tokens.push(t);
    }
    if (this.isPunct(';') || (tokens.length === 0 && this.peek().type !== 'end')) this.next();
    this.defineStatement(tokens, runs, condition);
  }

  /** define('X', v);  or  defined('X') || define('X', v);  (also "or"); other uses of define() run when PHP decides. */
  private defineStatement(tokens: Token[], runs: Truth, condition: string | undefined): void {
    let start = 0;
    let guard: Truth = true;
    let guardText: string | undefined;
    const orAt = tokens.findIndex((t, i) => i > 0 && ((t.type === 'punct' && t.text === '||') || (t.type === 'name' && t.text.toLowerCase() === 'or')));
    if (orAt > 0 && isDefineCall(tokens, orAt + 1)) {
      const left = tokens.slice(0, orAt);
      guard = not3(this.condition(left));
      guardText = `${render(left)} || ...`;
      start = orAt + 1;
    }
    for (let i = 0; i < tokens.length; i++) {
      if (!isDefineCall(tokens, i)) continue;
      const whole = i === start && closingParen(tokens, i + 1) === tokens.length - 1;
      const args = splitArguments(tokens.slice(i + 2, closingParen(tokens, i + 1)));
      const nameTokens = args[0] ?? [];
      if (nameTokens.length !== 1 || nameTokens[0].type !== 'string') continue;
      const name = nameTokens[0].text;
      const how: Truth = whole ? and3(runs, guard) : and3(runs, 'unknown');
      const why = condition ?? guardText ?? (whole ? undefined : render(tokens));
      this.define(name, args[1] ?? [], how, why, tokens[i].line);
      if (whole) return;
    }
  }

  private define(name: string, valueTokens: Token[], runs: Truth, condition: string | undefined, line: number): void {
    if (runs === false) return;
    const before = this.constants.get(name);
    // PHP keeps the first definition; a later define() of the same constant only warns.
    if (before?.defined === 'yes') return;
    const value = this.value(valueTokens);
    const alias = valueTokens.length === 1 && valueTokens[0].type === 'name' ? valueTokens[0].text.replace(/^\\/, '') : undefined;
    if (runs === true && !before) {
      this.constants.set(name, { defined: 'yes', value, line, ...(alias ? { alias } : {}) });
      return;
    }
    // Defined only under an undecidable condition, or defined twice where the first may not have run.
    this.constants.set(name, {
      defined: runs === true ? 'yes' : 'maybe',
      value: before ? { known: false, why: `it is defined in two places (lines ${before.line} and ${line}) and which one counts depends on ${before.condition ?? 'the running site'}` } : value,
      line,
      condition: before?.condition ?? condition ?? 'a condition decided at run time',
    });
  }

  /** A define()'s value: quoted strings, their concatenation, or a constant read earlier. */
  private value(tokens: Token[]): Value {
    if (tokens.length === 0) return { known: false, why: 'its define() has no value' };
    let text = '';
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i];
      if (i % 2 === 1) {
        if (t.type === 'punct' && t.text === '.') continue;
        return { known: false, why: `it is computed by PHP (${render(tokens, true)})` };
      }
      if (t.type === 'string') text += t.text;
      else if (t.type === 'name' && /^[A-Z_][A-Z0-9_]*$/i.test(t.text) && !this.isCall(tokens, i)) {
        const other = this.constants.get(t.text.replace(/^\\/, ''));
        if (!other) return { known: false, why: `it is the constant ${t.text}, which the settings file does not define before` };
        if (other.defined !== 'yes') return { known: false, why: `it is the constant ${t.text}, which is defined only under ${other.condition}` };
        if (!other.value.known) return { known: false, why: `it is the constant ${t.text}, and ${other.value.why}` };
        text += other.value.text;
      } else return { known: false, why: `it is computed by PHP (${render(tokens, true)})` };
    }
    if (tokens.length % 2 === 0) return { known: false, why: `it is computed by PHP (${render(tokens, true)})` };
    return { known: true, text };
  }

  private isCall(tokens: Token[], i: number): boolean {
    const t = tokens[i + 1];
    return t?.type === 'punct' && (t.text === '(' || t.text === '::' || t.text === '[');
  }

  /** Decides a condition where a live site's answer is known without running PHP. */
  private condition(tokens: Token[]): Truth {
    return new ConditionParser(tokens, (name) => {
      const d = this.constants.get(name);
      return d ? (d.defined === 'yes' ? true : 'unknown') : false;
    }).parse();
  }
}

function isDefineCall(tokens: Token[], i: number): boolean {
  const t = tokens[i];
  const open = tokens[i + 1];
  return t?.type === 'name' && /^\\?define$/i.test(t.text) && open?.type === 'punct' && open.text === '(' && (i === 0 || !isMemberAccess(tokens[i - 1]));
}

function isMemberAccess(t: Token): boolean {
  return t.type === 'punct' && (t.text === '->' || t.text === '::');
}

/** Index of the ')' matching the '(' at `open`. */
function closingParen(tokens: Token[], open: number): number {
  let depth = 0;
  for (let i = open; i < tokens.length; i++) {
    const t = tokens[i];
    if (t.type !== 'punct') continue;
    if (t.text === '(' || t.text === '[' || t.text === '{') depth++;
    if ((t.text === ')' || t.text === ']' || t.text === '}') && --depth === 0) return i;
  }
  return tokens.length;
}

function splitArguments(tokens: Token[]): Token[][] {
  const args: Token[][] = [[]];
  let depth = 0;
  for (const t of tokens) {
    if (t.type === 'punct' && (t.text === '(' || t.text === '[' || t.text === '{')) depth++;
    if (t.type === 'punct' && (t.text === ')' || t.text === ']' || t.text === '}')) depth--;
    if (t.type === 'punct' && t.text === ',' && depth === 0) args.push([]);
    else args[args.length - 1].push(t);
  }
  return args;
}

/**
 * Code for a message. A DSN may hold a password, so a value's strings are shown as '...'
 * (hideStrings), and elsewhere a string that looks like a DSN is.
 */
function render(tokens: Token[], hideStrings = false): string {
  const text = tokens
    .map((t) => (t.type === 'string' ? (hideStrings ? "'...'" : `'${t.text.replace(/[\\']/g, '\\$&')}'`) : t.type === 'interpolated' ? '"..."' : t.text))
    .join(' ')
    .replace(/ ?([()[\],]) ?/g, '$1')
    .replace(/,/g, ', ');
  // Never a DSN (it may hold a password) in a message: a string that looks like one is elided.
  const safe = text.replace(/'(?:mysqli?|mariadb):\/\/[^']*'/gi, "'mysql://...'");
  return safe.length > 120 ? `${safe.slice(0, 117)}...` : safe;
}

/**
 * Conditions a live site answers the same way every time: defined('X'), CIVICRM_UF compared
 * with 'UnitTests' (CiviCRM's own test runner; never a live site), !, &&, ||, and, or, and
 * parentheses. Anything else is 'unknown'.
 */
class ConditionParser {
  private pos = 0;
  constructor(
    private readonly tokens: Token[],
    private readonly isDefined: (name: string) => Truth,
  ) {}

  parse(): Truth {
    if (this.tokens.length === 0) return 'unknown';
    const value = this.or();
    return this.pos === this.tokens.length ? value : 'unknown';
  }

  private peekIs(...texts: string[]): boolean {
    const t = this.tokens[this.pos];
    return t !== undefined && (t.type === 'punct' || t.type === 'name') && texts.includes(t.text.toLowerCase());
  }

  private or(): Truth {
    let value = this.and();
    while (this.peekIs('||', 'or', 'xor')) {
      const xor = this.tokens[this.pos].text.toLowerCase() === 'xor';
      this.pos++;
      const right = this.and();
      value = xor ? 'unknown' : or3(value, right);
    }
    return value;
  }

  private and(): Truth {
    let value = this.unary();
    while (this.peekIs('&&', 'and')) {
      this.pos++;
      value = and3(value, this.unary());
    }
    return value;
  }

  private unary(): Truth {
    if (this.peekIs('!')) {
      this.pos++;
      return not3(this.unary());
    }
    return this.comparison();
  }

  /** An operand, or `CIVICRM_UF ==/===/!=/!== 'UnitTests'` either way round. */
  private comparison(): Truth {
    const start = this.pos;
    const left = this.operand();
    if (this.peekIs('===', '==', '!==', '!=', '<>')) {
      const op = this.tokens[this.pos++].text;
      const rightStart = this.pos;
      this.operand();
      const pair = [this.tokens.slice(start, rightStart - 1), this.tokens.slice(rightStart, this.pos)];
      const isUf = (ts: Token[]) => ts.length === 1 && ts[0].type === 'name' && ts[0].text.replace(/^\\/, '') === 'CIVICRM_UF';
      const isUnitTests = (ts: Token[]) => ts.length === 1 && ts[0].type === 'string' && ts[0].text === 'UnitTests';
      // A live site is never CiviCRM's test runner: CIVICRM_UF === 'UnitTests' is false there.
      if ((isUf(pair[0]) && isUnitTests(pair[1])) || (isUnitTests(pair[0]) && isUf(pair[1]))) return !op.startsWith('=');
      return 'unknown';
    }
    return left;
  }

  /** One operand; its truth value when it is defined('X') or a parenthesised condition. */
  private operand(): Truth {
    const t = this.tokens[this.pos];
    if (!t) return 'unknown';
    if (t.type === 'punct' && t.text === '(') {
      const close = closingParen(this.tokens, this.pos);
      const inner = new ConditionParser(this.tokens.slice(this.pos + 1, close), this.isDefined).parse();
      this.pos = close + 1;
      return inner;
    }
    if (t.type === 'name' && this.tokens[this.pos + 1]?.type === 'punct' && this.tokens[this.pos + 1].text === '(') {
      const close = closingParen(this.tokens, this.pos + 1);
      const args = this.tokens.slice(this.pos + 2, close);
      this.pos = close + 1;
      if (/^\\?defined$/i.test(t.text) && args.length === 1 && args[0].type === 'string') return this.isDefined(args[0].text);
      return 'unknown';
    }
    // Any other operand (a constant, a variable with its subscripts, a literal): skip it whole.
    this.pos++;
    while (this.pos < this.tokens.length) {
      const n = this.tokens[this.pos];
      if (n.type === 'punct' && n.text === '[') this.pos = closingParen(this.tokens, this.pos) + 1;
      else if (n.type === 'punct' && (n.text === '->' || n.text === '::')) this.pos += 2;
      else break;
    }
    return 'unknown';
  }
}

// --- the settings file's DSNs ---

/** The DSN constants of a settings file, as a live site (not CiviCRM's test runner) defines them. */
export interface SettingsDsns {
  /** CIVICRM_DSN: CiviCRM's database. */
  dsn?: string;
  /** CIVICRM_LOGGING_DSN (CiviCRM's template defines it as CIVICRM_DSN). */
  loggingDsn?: string;
  /** CIVICRM_UF_DSN: the CMS's database. Never used as CiviCRM's. */
  ufDsn?: string;
}

export type DsnConstant = 'CIVICRM_DSN' | 'CIVICRM_LOGGING_DSN' | 'CIVICRM_UF_DSN';

/**
 * The constants of a settings file's text that the walk could settle. A constant whose value
 * cannot be known without running PHP is returned as an error, thrown only when asked for.
 */
export interface ConstantReading {
  value?: string;
  /** Why the value cannot be known without running PHP. */
  error?: string;
  line: number;
  /** The constant it was defined as, if any (CIVICRM_LOGGING_DSN defined as CIVICRM_DSN). */
  alias?: string;
}

export function readDsnConstants(php: string): Map<string, ConstantReading> {
  const walker = new SettingsWalker(tokenizePhp(php));
  walker.walk();
  const result = new Map<string, ConstantReading>();
  for (const [name, d] of walker.constants) {
    const alias = d.defined === 'yes' && d.alias ? { alias: d.alias } : {};
    if (d.defined === 'maybe') result.set(name, { error: `it is defined only under ${d.condition}, which depends on the running site`, line: d.line });
    else if (!d.value.known) result.set(name, { error: d.value.why, line: d.line, ...alias });
    else result.set(name, { value: d.value.text, line: d.line, ...alias });
  }
  return result;
}

/**
 * The value of one constant, or undefined when the file does not define it. Throws CONFIG
 * naming the constant, the line and what to do when PHP would compute it at run time.
 */
export function extractDefine(php: string, name: string, fileLabel = 'the settings file'): string | undefined {
  const found = readDsnConstants(php).get(name);
  if (!found) return undefined;
  if (found.error !== undefined) throw computedError(name, found.error, found.line, fileLabel);
  return found.value;
}

function computedError(name: string, problem: string, line: number, fileLabel: string): BackupError {
  const env = name === 'CIVICRM_LOGGING_DSN' ? ENV.LOGGING_DSN : ENV.DSN;
  return new BackupError(
    'CONFIG',
    `${name} in ${fileLabel} (line ${line}) cannot be read without running PHP: ${problem}. Pass the DSN in the environment variable ${env} instead (the extension does this itself), or define ${name} as a quoted string.`,
  );
}

export interface SettingsFileDsns extends SettingsDsns {
  file: string;
  /** CIVICRM_LOGGING_DSN is defined as CIVICRM_DSN (CiviCRM's default): no separate logging database. */
  loggingIsMain: boolean;
  /** The constants that are defined but cannot be read without running PHP: thrown when one is needed. */
  errors: Partial<Record<DsnConstant, BackupError>>;
}

export async function readSettingsDsns(settingsFile: string): Promise<SettingsFileDsns> {
  let php: string;
  try {
    php = await readFile(settingsFile, 'utf8');
  } catch (error) {
    throw new BackupError('CONFIG', `Cannot read the settings file ${settingsFile}: ${(error as Error).message}`, { cause: error });
  }
  const constants = readDsnConstants(php);
  const out: SettingsFileDsns = { file: settingsFile, loggingIsMain: constants.get('CIVICRM_LOGGING_DSN')?.alias === 'CIVICRM_DSN', errors: {} };
  const keys: [DsnConstant, keyof SettingsDsns][] = [
    ['CIVICRM_DSN', 'dsn'],
    ['CIVICRM_LOGGING_DSN', 'loggingDsn'],
    ['CIVICRM_UF_DSN', 'ufDsn'],
  ];
  for (const [name, key] of keys) {
    const found = constants.get(name);
    if (!found) continue;
    if (found.error !== undefined) out.errors[name] = computedError(name, found.error, found.line, settingsFile);
    else out[key] = found.value;
  }
  return out;
}
