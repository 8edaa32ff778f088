/**
 * Deferred secondary indexes, as myloader's optimised mode does: an InnoDB table is created
 * with its PRIMARY KEY only, loaded, and then gets its other indexes in one ALTER TABLE
 * (one sort per index instead of a B-tree insert per row). Foreign keys follow in a
 * second ALTER once every table has its indexes, because a foreign key needs an index on
 * both sides.
 *
 * The input is `SHOW CREATE TABLE` text as the dump writes it. Anything this parser is not
 * sure about (no PRIMARY KEY, partitions, non-InnoDB, long-hash UNIQUE, unparseable body)
 * is left exactly as it was: correctness before speed. The server sorts keys the same way
 * for CREATE and ALTER (PRIMARY, UNIQUE, plain, original order within each), so
 * SHOW CREATE TABLE of the result is identical; the restore tests check that.
 */

export interface DeferredTable {
  /** The table name as it appears quoted in the statement, e.g. "`civicrm_contact`". */
  quotedName: string;
  /** CREATE TABLE without the deferred definitions. */
  create: string;
  /** "ALTER TABLE ... ADD KEY ..., ADD UNIQUE KEY ..." or null when there is none. */
  addIndexes: string | null;
  /** "ALTER TABLE ... ADD CONSTRAINT ... FOREIGN KEY ..." or null. */
  addForeignKeys: string | null;
}

const CREATE_TABLE_HEAD = /^(\s*(?:\/\*[^!][\s\S]*?\*\/\s*|--[^\n]*\n\s*|#[^\n]*\n\s*)*)CREATE\s+TABLE\s+(`(?:[^`]|``)+`)\s*\(/i;

/** Splits the text between the outer parentheses at top-level commas; null when unbalanced. */
export function splitDefinitions(sql: string, openParen: number): { definitions: string[]; closeParen: number } | null {
  const definitions: string[] = [];
  let depth = 0;
  let from = openParen + 1;
  let i = openParen;
  while (i < sql.length) {
    const c = sql[i];
    if (c === "'" || c === '"' || c === '`') {
      const quote = c;
      i += 1;
      while (i < sql.length) {
        const d = sql[i];
        if (d === '\\' && quote !== '`') {
          i += 2;
          continue;
        }
        if (d === quote) {
          if (sql[i + 1] === quote) {
            i += 2;
            continue;
          }
          break;
        }
        i += 1;
      }
      i += 1;
      continue;
    }
    if (c === '(') depth += 1;
    else if (c === ')') {
      depth -= 1;
      if (depth === 0) {
        definitions.push(sql.slice(from, i).trim());
        return { definitions, closeParen: i };
      }
    } else if (c === ',' && depth === 1) {
      definitions.push(sql.slice(from, i).trim());
      from = i + 1;
    }
    i += 1;
  }
  return null;
}

type Kind = 'column' | 'primary' | 'index' | 'foreign' | 'keep';

function classify(definition: string): Kind {
  if (definition.startsWith('`')) return 'column';
  if (/^PRIMARY\s+KEY\b/i.test(definition)) return 'primary';
  if (/^(UNIQUE\s+)?(KEY|INDEX)\b/i.test(definition) || /^UNIQUE\b/i.test(definition)) {
    // A UNIQUE over BLOB/TEXT is a hidden long-hash key whose order the server keeps by
    // definition position: leave it where it was.
    return /\bUSING\s+HASH\b/i.test(definition) ? 'keep' : 'index';
  }
  if (/^(CONSTRAINT\s+(`(?:[^`]|``)+`\s+)?)?FOREIGN\s+KEY\b/i.test(definition)) return 'foreign';
  return 'keep'; // FULLTEXT/SPATIAL (InnoDB builds one FULLTEXT per ALTER), CHECK, PERIOD ...
}

/**
 * Returns the deferral plan for a CREATE TABLE statement, or null when the statement is
 * not one this module defers (it is then executed unchanged).
 */
export function planDeferredIndexes(statement: string): DeferredTable | null {
  const head = CREATE_TABLE_HEAD.exec(statement);
  if (!head) return null;
  const openParen = head[0].length - 1;
  const split = splitDefinitions(statement, openParen);
  if (!split) return null;
  const tail = statement.slice(split.closeParen + 1);
  if (!/\bENGINE\s*=\s*InnoDB\b/i.test(tail) || /\bPARTITION\s+BY\b/i.test(tail) || /\bWITH\s+SYSTEM\s+VERSIONING\b/i.test(tail)) return null;
  const kinds = split.definitions.map(classify);
  if (!kinds.includes('primary')) return null; // InnoDB would cluster on a UNIQUE key instead
  const keep: string[] = [];
  const indexes: string[] = [];
  const foreign: string[] = [];
  split.definitions.forEach((definition, i) => {
    if (kinds[i] === 'index') indexes.push(definition);
    else if (kinds[i] === 'foreign') foreign.push(definition);
    else keep.push(definition);
  });
  if (indexes.length === 0 && foreign.length === 0) return null;
  const quotedName = head[2];
  const create = `${statement.slice(0, openParen)}(\n  ${keep.join(',\n  ')}\n)${tail}`;
  return {
    quotedName,
    create,
    addIndexes: indexes.length > 0 ? `ALTER TABLE ${quotedName} ${indexes.map((d) => `ADD ${d}`).join(', ')}` : null,
    addForeignKeys: foreign.length > 0 ? `ALTER TABLE ${quotedName} ${foreign.map((d) => `ADD ${d}`).join(', ')}` : null,
  };
}

/** The table name inside backticks, unquoted. */
export function unquoteIdentifier(quoted: string): string {
  return quoted.slice(1, -1).replace(/``/g, '`');
}
