// A small YAML reader for the deploy/ structure tests: the subset the files in deploy/ are
// written in, no dependency. Anything outside the subset throws with its line number, so a
// file that grows past it fails the test instead of being misread.
//
//   parseYamlDocuments(text)  // every document ('---' separated), as plain JS values
//   parseYaml(text)           // the one document of a file
//
// Supported: block mappings and sequences (a sequence may sit at its key's indent), `- key:`
// mappings in sequences, plain / 'single' / "double" quoted scalars, one-line flow
// collections ([a, b], {k: v}, nested), block scalars (| |- |+ > >-), comments, anchors
// (&name), aliases (*name) and merge keys (<<: *name). Plain scalars: integers and decimals
// become numbers, true/false booleans, null/~ null, the rest strings (YAML 1.2 core schema;
// the files avoid 1.1 forms such as yes/no or 0700 that other readers take differently).
// Not supported: multi-line flow collections, multi-line plain or quoted scalars, tags,
// complex (?) keys, tabs for indentation.

class YamlError extends Error {}

/** A line with comments removed (a `#` at the start or after a space, outside quotes). */
function stripComment(line) {
  let q = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (q !== null) {
      if (c === '\\' && q === '"') i++;
      else if (c === q) q = null;
    } else if (c === '"' || c === "'") {
      // A quote opens a quoted scalar only where a scalar starts.
      if (i === 0 || /[\s[{,:-]/.test(line[i - 1])) q = c;
    } else if (c === '#' && (i === 0 || /\s/.test(line[i - 1]))) {
      return line.slice(0, i).trimEnd();
    }
  }
  return line.trimEnd();
}

const indentOf = (s) => s.length - s.trimStart().length;

/** Index of the first `: ` (or a final `:`) outside quotes and brackets, or -1. */
function keySplit(s) {
  let q = null;
  let depth = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (q !== null) {
      if (c === '\\' && q === '"') i++;
      else if (c === q) q = null;
      continue;
    }
    if ((c === '"' || c === "'") && (i === 0 || /[\s[{,]/.test(s[i - 1]))) q = c;
    else if (c === '[' || c === '{') depth++;
    else if (c === ']' || c === '}') depth--;
    else if (c === ':' && depth === 0 && (i === s.length - 1 || s[i + 1] === ' ')) return i;
  }
  return -1;
}

function plainScalar(s) {
  if (/^-?\d+$/.test(s)) return Number(s);
  if (/^-?\d+\.\d+$/.test(s)) return Number(s);
  if (s === 'true') return true;
  if (s === 'false') return false;
  if (s === 'null' || s === '~' || s === '') return null;
  return s;
}

class Reader {
  constructor(text) {
    this.raw = text.replace(/\r\n/g, '\n').split('\n');
    this.i = 0;
    this.anchors = new Map();
  }

  fail(msg, line = this.i) {
    throw new YamlError(`yaml line ${line + 1}: ${msg}: ${JSON.stringify(this.raw[line] ?? '')}`);
  }

  /** Moves to the next line with content; returns { indent, text } or null at the end. */
  peek() {
    while (this.i < this.raw.length) {
      const line = this.raw[this.i];
      if (/^\s*\t/.test(line)) this.fail('tab in indentation');
      const text = stripComment(line);
      if (text.trim() !== '') return { indent: indentOf(text), text: text.trim() };
      this.i++;
    }
    return null;
  }

  /** A block node whose lines are indented at `indent` exactly. */
  block(indent) {
    const p = this.peek();
    if (p === null || p.indent !== indent) this.fail(`expected a block at indent ${indent}`);
    return p.text === '-' || p.text.startsWith('- ') ? this.sequence(indent) : this.mapping(indent);
  }

  sequence(indent) {
    const out = [];
    for (let p = this.peek(); p !== null && p.indent === indent && (p.text === '-' || p.text.startsWith('- ')); p = this.peek()) {
      const rest = p.text.slice(1).trimStart();
      if (rest === '') {
        this.i++;
        const n = this.peek();
        out.push(n !== null && n.indent > indent ? this.block(n.indent) : null);
      } else if (keySplit(rest) > 0 && !/^[[{"'&*|>]/.test(rest)) {
        // "- key: value": a mapping whose first line starts after the dash.
        const inner = indent + (p.text.length - rest.length);
        this.raw[this.i] = ' '.repeat(inner) + rest;
        out.push(this.mapping(inner));
      } else {
        this.i++;
        out.push(this.inline(rest, indent));
      }
    }
    return out;
  }

  mapping(indent) {
    const out = {};
    const merged = new Set();
    for (let p = this.peek(); p !== null && p.indent === indent && !(p.text === '-' || p.text.startsWith('- ')); p = this.peek()) {
      const at = keySplit(p.text);
      if (at <= 0) this.fail('expected "key: value"');
      let key = p.text.slice(0, at).trim();
      if (/^["']/.test(key)) key = this.quoted(key);
      const rest = p.text.slice(at + 1).trim();
      this.i++;
      let value;
      if (rest === '' || /^&\S+$/.test(rest)) {
        const n = this.peek();
        if (n !== null && n.indent > indent) value = this.block(n.indent);
        else if (n !== null && n.indent === indent && (n.text === '-' || n.text.startsWith('- '))) value = this.sequence(indent);
        else value = null;
        if (rest !== '') this.anchors.set(rest.slice(1), value);
      } else {
        value = this.inline(rest, indent);
      }
      if (key === '<<') {
        for (const src of Array.isArray(value) ? value : [value]) {
          if (src === null || typeof src !== 'object' || Array.isArray(src)) this.fail('<< needs a mapping', this.i - 1);
          for (const [k, v] of Object.entries(src)) if (!Object.hasOwn(out, k)) { out[k] = v; merged.add(k); }
        }
        continue;
      }
      if (Object.hasOwn(out, key) && !merged.has(key)) this.fail(`duplicate key ${key}`, this.i - 1);
      merged.delete(key);
      out[key] = value;
    }
    return out;
  }

  /** A value written on its key's (or dash's) line. */
  inline(s, indent) {
    const anchor = /^&(\S+)\s+(.*)$/.exec(s);
    if (anchor) {
      const v = this.inline(anchor[2], indent);
      this.anchors.set(anchor[1], v);
      return v;
    }
    if (s.startsWith('*')) {
      if (!this.anchors.has(s.slice(1))) this.fail(`unknown alias ${s}`, this.i - 1);
      return this.anchors.get(s.slice(1));
    }
    if (/^[|>][-+]?$/.test(s)) return this.blockScalar(s, indent);
    if (s.startsWith('[') || s.startsWith('{')) {
      const [v, end] = this.flow(s, 0);
      if (s.slice(end).trim() !== '') this.fail('text after a flow collection (multi-line flow is not supported)', this.i - 1);
      return v;
    }
    if (s.startsWith('"') || s.startsWith("'")) return this.quoted(s);
    if (s.startsWith('!') || s.startsWith('? ')) this.fail('tags and complex keys are not supported', this.i - 1);
    return plainScalar(s);
  }

  quoted(s) {
    if (s.startsWith('"')) {
      const m = /^"((?:[^"\\]|\\.)*)"$/.exec(s);
      if (!m) this.fail('bad double-quoted scalar (multi-line is not supported)', this.i - 1);
      return JSON.parse(`"${m[1].replace(/\\'/g, "'")}"`);
    }
    const m = /^'((?:[^']|'')*)'$/.exec(s);
    if (!m) this.fail('bad single-quoted scalar (multi-line is not supported)', this.i - 1);
    return m[1].replace(/''/g, "'");
  }

  /** [value, index after it] of a one-line flow collection starting at s[i]. */
  flow(s, i) {
    const open = s[i];
    const close = open === '[' ? ']' : '}';
    const out = open === '[' ? [] : {};
    i++;
    for (;;) {
      while (s[i] === ' ') i++;
      if (i >= s.length) this.fail('unclosed flow collection (multi-line flow is not supported)', this.i - 1);
      if (s[i] === close) return [out, i + 1];
      let key = null;
      if (open === '{') {
        const m = /^("(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^:,{}[\]]+?)\s*:(?:\s|(?=[,}]))/.exec(s.slice(i));
        if (!m) this.fail('expected "key: value" in a flow mapping', this.i - 1);
        key = /^["']/.test(m[1]) ? this.quoted(m[1]) : m[1].trim();
        i += m[0].length;
        while (s[i] === ' ') i++;
      }
      let v;
      if (s[i] === '[' || s[i] === '{') [v, i] = this.flow(s, i);
      else {
        const m = /^("(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^,{}[\]]*)/.exec(s.slice(i));
        const t = m[1].trim();
        v = /^["']/.test(t) ? this.quoted(t) : t.startsWith('*') ? this.inline(t, 0) : plainScalar(t);
        i += m[0].length;
      }
      if (open === '[') out.push(v);
      else out[key] = v;
      while (s[i] === ' ') i++;
      if (s[i] === ',') i++;
      else if (s[i] !== close) this.fail('expected , or a closing bracket in a flow collection', this.i - 1);
    }
  }

  blockScalar(header, indent) {
    const lines = [];
    let body = -1;
    while (this.i < this.raw.length) {
      const line = this.raw[this.i];
      if (line.trim() === '') {
        lines.push('');
        this.i++;
        continue;
      }
      const ind = indentOf(line);
      if (ind <= indent) break;
      if (body < 0) body = ind;
      if (ind < body) this.fail('block scalar line indented less than its first line');
      lines.push(line.slice(body));
      this.i++;
    }
    // Trailing empty lines belong to the chomping, not the text.
    let end = lines.length;
    while (end > 0 && lines[end - 1] === '') end--;
    const kept = lines.slice(0, end);
    let text;
    if (header[0] === '|') text = kept.join('\n');
    else {
      // Folded: lines joined by spaces, an empty line is a newline (more-indented lines are
      // not kept apart: the files here do not use them).
      text = '';
      for (let k = 0; k < kept.length; k++) {
        if (kept[k] === '') text += '\n';
        else text += (k > 0 && kept[k - 1] !== '' ? ' ' : '') + kept[k];
      }
    }
    if (header.endsWith('-') || kept.length === 0) return text;
    if (header.endsWith('+')) return text + '\n'.repeat(lines.length - end + 1);
    return text + '\n';
  }
}

/** Every document of a '---'-separated YAML text (empty documents are skipped). */
export function parseYamlDocuments(text) {
  const docs = [];
  for (const part of text.replace(/\r\n/g, '\n').split(/^---[ \t]*(?:#.*)?$/m)) {
    const r = new Reader(part);
    const first = r.peek();
    if (first === null) continue;
    if (first.indent !== 0) r.fail('a document must start at column 0');
    const v = r.block(0);
    if (r.peek() !== null) r.fail('unexpected indentation');
    docs.push(v);
  }
  return docs;
}

/** The one document of a YAML text. */
export function parseYaml(text) {
  const docs = parseYamlDocuments(text);
  if (docs.length !== 1) throw new YamlError(`expected one YAML document, found ${docs.length}`);
  return docs[0];
}
