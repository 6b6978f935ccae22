// The exact text of a value inside a JSON document: receipts are verified as the node wrote them,
// since JSON.parse turns 1.0 into 1 and the parameters' hash covers their exact JSON.

/**
 * The raw text of the value at `path` (object keys) in the JSON `text`, or undefined when it is
 * absent or `text` is not an object at each step.
 */
export function rawValueAt(text, path) {
  let start = skipSpace(text, 0);
  let end = skipValue(text, start);
  for (const key of path) {
    if (text[start] !== '{') return undefined;
    const found = member(text, start, end, key);
    if (!found) return undefined;
    [start, end] = found;
  }
  return text.slice(start, end);
}

function member(text, start, end, key) {
  let i = skipSpace(text, start + 1);
  while (i < end && text[i] !== '}') {
    const keyEnd = skipString(text, i);
    const name = JSON.parse(text.slice(i, keyEnd));
    i = skipSpace(text, keyEnd);
    if (text[i] !== ':') throw new SyntaxError(`expected ':' at ${i}`);
    const valueStart = skipSpace(text, i + 1);
    const valueEnd = skipValue(text, valueStart);
    if (name === key) return [valueStart, valueEnd];
    i = skipSpace(text, valueEnd);
    if (text[i] === ',') i = skipSpace(text, i + 1);
  }
  return undefined;
}

function skipSpace(text, i) {
  while (i < text.length && ' \t\n\r'.includes(text[i])) i++;
  return i;
}

function skipString(text, i) {
  if (text[i] !== '"') throw new SyntaxError(`expected a string at ${i}`);
  for (i++; i < text.length; i++) {
    if (text[i] === '\\') i++;
    else if (text[i] === '"') return i + 1;
  }
  throw new SyntaxError('unterminated string');
}

function skipValue(text, i) {
  const c = text[i];
  if (c === '"') return skipString(text, i);
  if (c === '{' || c === '[') {
    let depth = 0;
    for (; i < text.length; i++) {
      const d = text[i];
      if (d === '"') i = skipString(text, i) - 1;
      else if (d === '{' || d === '[') depth++;
      else if (d === '}' || d === ']') {
        depth--;
        if (depth === 0) return i + 1;
      }
    }
    throw new SyntaxError('unterminated object or array');
  }
  while (i < text.length && !',}] \t\n\r'.includes(text[i])) i++;
  return i;
}
