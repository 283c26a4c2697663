// Header access for plain inputs: uWebSockets.js hands out lower-case names one at a time, node:http
// a record of lower-case names, tests whatever is handy. Lookups are case-insensitive.

export type HeaderSource = ReadonlyMap<string, string> | Readonly<Record<string, string | readonly string[] | undefined>>;

export function getHeader(headers: HeaderSource, name: string): string | undefined {
  const lower = name.toLowerCase();
  if (headers instanceof Map) {
    const direct = headers.get(lower);
    if (direct !== undefined) return direct;
    for (const [k, v] of headers) if (k.toLowerCase() === lower) return v;
    return undefined;
  }
  const rec = headers as Readonly<Record<string, string | readonly string[] | undefined>>;
  let v = Object.hasOwn(rec, lower) ? rec[lower] : undefined;
  if (v === undefined) {
    for (const k of Object.keys(rec)) if (k.toLowerCase() === lower) { v = rec[k]; break; }
  }
  // A repeated authentication header is ambiguous: treat it as absent rather than pick one.
  if (Array.isArray(v)) return v.length === 1 ? (v[0] as string) : undefined;
  return v as string | undefined;
}
