// Server-sent events: the `data` of each event of a response body, as text.

/** Yields each event's data (its `data:` lines joined by newlines) until the body ends. */
export async function* sseData(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value.replace(/\r\n?/g, '\n');
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = dataOf(event);
        if (data !== undefined) yield data;
      }
    }
    const data = dataOf(buffer);
    if (data !== undefined) yield data;
  } finally {
    reader.cancel().catch(() => {});
  }
}

function dataOf(event) {
  const lines = event
    .split('\n')
    .filter((line) => line.startsWith('data:'))
    .map((line) => line.slice(5).replace(/^ /, ''));
  return lines.length ? lines.join('\n') : undefined;
}
